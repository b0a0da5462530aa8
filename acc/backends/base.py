"""The backend interface: four stages from encoded bytes to encoded bytes (DESIGN.md, The data flow).

    decode:       encoded image -> Frame (the full-size luminance, in the backend's own memory)
    model_input:  Frame -> model input at the model size, (L - l_offset) * l_scale
    infer:        a batch of model inputs -> one ab prediction per image, in Lab units
    render:       Frame + prediction -> encoded output image

Frames, model inputs and predictions are opaque to the runner: it only moves handles between stages,
so a device backend can keep every pixel on its device. decode, model_input and render are called
from worker threads concurrently; infer from one thread at a time. A backend owns its memory and
releases it in close(); a closed backend holds nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from acc.models import ModelSpec
from acc.probe import ImageInfo

Frame = Any
ModelInput = Any
Prediction = Any


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

    def release(self, frame: Frame) -> None:
        """Give back a frame's memory early (device backends pool it); host frames need nothing."""

    def close(self) -> None:
        """Release everything this backend holds. Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
