"""The backend interface: four stages from encoded bytes to encoded bytes (DESIGN.md, The data flow).

    decode:       encoded image -> Frame (the full-size luminance, in the backend's own memory)
    model_input:  Frame -> model input at the model size, (L - l_offset) * l_scale
    infer:        a batch of model inputs -> one ab prediction per image, in Lab units
    render:       Frame + prediction -> encoded output image

Frames, model inputs and predictions are opaque to the runner: it only moves handles between stages,
so a device backend can keep every pixel on its device. A backend owns its memory and releases it in
close(); a closed backend holds nothing.

The runner calls the batch forms (decode_batch, model_input_batch, render_batch), each photo failing
alone: a batch form returns one result or one exception per photo. Host backends keep `batched = False`:
the runner hands them one photo per call from several worker threads at once, and the batch forms
default to looping over the single-photo stages. A device backend that needs whole batches (one kernel
launch, one batched codec call) sets `batched = True` and overrides the batch forms; the runner then
hands it up to batch_size photos per call. infer is called from one thread at a time, unless the backend
sets `infer_threadsafe` (host backends: ONNX Runtime sessions take concurrent runs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from acc.models import ModelSpec
from acc.probe import ImageInfo

Frame = Any
ModelInput = Any
Prediction = Any
T = TypeVar("T")


@dataclass(frozen=True)
class OutputFormat:
    """How results are encoded: JPEG (4:2:0 chroma, quality 1..100) or PNG (keeps an input's alpha)."""

    kind: str = "jpeg"
    quality: int = 95

    KINDS: ClassVar[dict[str, str]] = {"jpeg": ".jpg", "png": ".png"}

    @property
    def suffix(self) -> str:
        return self.KINDS[self.kind]


class Backend(ABC):
    """One device's implementation of the four stages. Use as a context manager, or call close()."""

    name: ClassVar[str]
    batched: ClassVar[bool] = False  # True: decode and render take whole batches (see the module docstring)
    notice: str | None = None  # what a user should know about how it runs here (said once, at the start)
    # Model precisions (ModelSpec.precision) it runs. Device backends take float ONNX files and choose
    # their own precision (fp16 on cuda, the .om on Ascend).
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    # True: infer may be called from several threads at once (the runner then infers batches side by side)
    infer_threadsafe: ClassVar[bool] = False

    def __init__(self, model: ModelSpec, threads: int = 0) -> None:
        self.model = model
        self.threads = threads

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when this backend can run on this machine, else why not (shown by `acc doctor`)."""
        return None

    @abstractmethod
    def decode(self, data: bytes, info: ImageInfo) -> Frame: ...

    @abstractmethod
    def model_input(self, frame: Frame) -> ModelInput: ...

    @abstractmethod
    def infer(self, inputs: Sequence[ModelInput]) -> list[Prediction]: ...

    @abstractmethod
    def render(self, frame: Frame, prediction: Prediction, fmt: OutputFormat) -> bytes: ...

    def decode_batch(self, items: Sequence[tuple[bytes, ImageInfo]]) -> list[Frame | Exception]:
        """One Frame, or the exception that photo raised, per (encoded bytes, header info)."""
        return _each(lambda item: self.decode(*item), items)

    def model_input_batch(self, frames: Sequence[Frame]) -> list[ModelInput | Exception]:
        return _each(self.model_input, frames)

    def render_batch(
        self, frames: Sequence[Frame], predictions: Sequence[Prediction], fmt: OutputFormat
    ) -> list[bytes | Exception]:
        return _each(lambda pair: self.render(*pair, fmt), list(zip(frames, predictions)))

    def host_bytes(self, info: ImageInfo) -> int:
        """Host memory one photo of this size holds at its peak between decode and encoded output (bytes,
        an upper estimate): what the runner's memory budget charges for it, besides its encoded bytes."""
        return info.pixels * 16

    def release(self, frame: Frame) -> None:
        """Give back a frame's memory early (device backends pool it); host frames need nothing."""

    def close(self) -> None:
        """Release everything this backend holds. Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _each(stage: Callable[[Any], T], items: Sequence[Any]) -> list[T | Exception]:
    """Run a single-photo stage over a batch; a photo's exception becomes its result."""
    results: list[T | Exception] = []
    for item in items:
        try:
            results.append(stage(item))
        except Exception as exc:
            results.append(exc)
    return results
