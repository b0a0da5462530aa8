"""The cuda backend: decode, colour kernels, model and encode on an NVIDIA GPU, pixels never leaving it
(DESIGN.md, The data flow). It takes whole batches (batched = True):

    decode_batch       one flat device buffer for the batch's luma planes (memory.LumaBatch), filled by
                       nvImageCodec (codecs.GpuDecoder) or by the host decoder (other formats, fallbacks)
    model_input_batch  LabL (kernels/cuda/lab_l.py), one launch -> (N, h, w) float32 on the device
    infer              the model on the GPU (models.py): ONNX Runtime CUDA or PyTorch fp16
    render_batch       AbMerge (kernels/cuda/ab_merge.py), one launch -> interleaved 8-bit pixels on the
                       device, then one batched encode: nvImageCodec's CUDA JPEG encoder or the host's
                       libjpeg-turbo fed by one download (ACC_CUDA_JPEG_ENCODER=auto|gpu|host); PNG on the host

L comes from luma, as on Ascend: a JPEG's Y plane, or for other colour images the gray of the same
luminance (hostimage.decode_luma). Each photo fails alone. Each calling thread has its own CUDA stream,
and every call synchronizes its stream before returning, so the handles it returns are ready for any
other thread. A batch that does not fit in device memory is split in halves.

emulate=True runs the same code with numba-cuda's simulator for the kernels (device arrays are numpy
arrays there) and host stand-ins for the codecs and the model: libjpeg-turbo and ONNX Runtime on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from acc.backends import BackendError
from acc.backends.base import Backend, OutputFormat
from acc.backends.cuda.codecs import Alpha, GpuDecoder, GpuEncoder, HostDecoder, HostEncoder, Slot, nvimgcodec_reason
from acc.backends.cuda.driver import gpu_reason
from acc.backends.cuda.memory import DevicePool, LumaBatch
from acc.backends.cuda.models import HostModel, OrtCudaModel, TorchModel, ort_cuda_reason, torch_cuda_reason
from acc.kernels.cuda import target
from acc.models import ModelError, ModelSpec
from acc.probe import ImageInfo

ENCODER_ENV = "ACC_CUDA_JPEG_ENCODER"
ENCODERS = ("auto", "gpu", "host")
T = TypeVar("T")

# Host memory one photo holds at its peak, bytes per pixel (tracemalloc, 2026-12-02, 1500 x 1000 photos):
# host decode of a JPEG: its luma (1) and an upright copy (1); of other formats: hostimage.decode_luma's
# float64 luminance of colour pixels (102 measured) and the alpha kept for PNG output (1);
# host encode: the downloaded pixels (3) and the encoded file (at most ~3 for PNG of noise).
HOST_BYTES_PER_PIXEL = {"jpeg_decode": 2, "other_decode": 104, "encode": 6}


@dataclass
class CudaFrame:
    batch: LumaBatch  # the decode batch's flat device buffer this photo's luma lives in
    slot: Slot
    alpha: Alpha  # host, kept for PNG output
    released: bool = False


@dataclass(frozen=True)
class Row:
    """Photo `index` of a batch's device array (model inputs or predictions)."""

    array: Any
    index: int


def upright_size(info: ImageInfo) -> tuple[int, int]:
    """(height, width) after EXIF orientation: 5..8 transpose the photo."""
    return (info.width, info.height) if info.orientation in (5, 6, 7, 8) else (info.height, info.width)


def _groups(frames: Sequence[CudaFrame]) -> list[list[int]]:
    """Indices of the frames, grouped by the decode batch they live in (first appearance order)."""
    groups: dict[int, list[int]] = {}
    for i, frame in enumerate(frames):
        groups.setdefault(id(frame.batch), []).append(i)
    return list(groups.values())


def _one(results: list[T | Exception]) -> T:
    (result,) = results
    if isinstance(result, Exception):
        raise result
    return result


class CudaBackend(Backend):
    name = "cuda"
    batched = True

    def __init__(self, model: ModelSpec, threads: int = 0, *, emulate: bool = False, jpeg_encoder: str | None = None,
                 precision: str = "fp16") -> None:  # fmt: skip
        super().__init__(model, threads)
        try:
            self.cuda = target.numba_cuda(emulate)
        except target.CudaUnavailable as exc:
            raise BackendError(str(exc)) from None
        from acc.kernels.cuda import ab_merge, lab_l  # compiled for the mode just chosen

        self._lab_l, self._ab_merge = lab_l.lab_l, ab_merge.ab_merge
        self.emulated = emulate
        # The simulator keeps the running kernel's thread indices in module state: one launch at a time.
        self._launching = threading.Lock() if emulate else contextlib.nullcontext()
        self._streams = threading.local()
        self.pool = DevicePool(self.cuda)
        self.host_decoder = HostDecoder()
        self.decoder = self.host_decoder if emulate or nvimgcodec_reason() else GpuDecoder(self.host_decoder)
        self.png_encoder = HostEncoder()
        self.jpeg_encoder = self._jpeg_encoder(jpeg_encoder or os.environ.get(ENCODER_ENV, "auto"))
        self.runner = self._model_runner(precision)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not target.installed():
            return f"numba-cuda is not installed ({target.INSTALL})"
        reason = gpu_reason()
        if reason:
            return f"{reason} (--emulate runs it on the CPU)"
        if ort_cuda_reason() and torch_cuda_reason():
            return f"no engine for the model on the GPU: {ort_cuda_reason()}; {torch_cuda_reason()}"
        return None

    def _jpeg_encoder(self, choice: str) -> HostEncoder | GpuEncoder:
        if choice not in ENCODERS:
            raise BackendError(f"{ENCODER_ENV} must be one of {', '.join(ENCODERS)}, got {choice!r}")
        if choice == "host" or (choice == "auto" and (self.emulated or nvimgcodec_reason())):
            return self.png_encoder
        if self.emulated:
            raise BackendError(f"{ENCODER_ENV}=gpu: nvImageCodec's encoder needs a GPU, not the emulator")
        if nvimgcodec_reason():
            raise BackendError(f"{ENCODER_ENV}=gpu: {nvimgcodec_reason()}")
        return GpuEncoder()

    def _model_runner(self, precision: str) -> HostModel | OrtCudaModel | TorchModel:
        if self.emulated:
            return HostModel(self.model, self.cuda, self.threads)
        if not ort_cuda_reason():
            return OrtCudaModel(self.model, self.cuda)
        if not torch_cuda_reason():
            return TorchModel(self.model, self.cuda, precision)
        raise ModelError(f"no engine for the model on the GPU: {ort_cuda_reason()}; {torch_cuda_reason()}")

    def _stream(self) -> Any:
        stream = getattr(self._streams, "stream", None)
        if stream is None:
            stream = self._streams.stream = self.cuda.stream()
        return stream

    def _upload(self, values: list[int], dtype: type, stream: Any) -> Any:
        return self.cuda.to_device(np.array(values, dtype), stream=stream)

    # --- decode -----------------------------------------------------------------------------------------
    def decode(self, data: bytes, info: ImageInfo) -> CudaFrame:
        return _one(self.decode_batch([(data, info)]))

    def decode_batch(self, items: Sequence[tuple[bytes, ImageInfo]]) -> list[CudaFrame | Exception]:
        if not items:
            return []
        try:
            return self._decode_together(items)
        except MemoryError as exc:
            if len(items) == 1:
                return [exc]
            half = len(items) // 2  # the halves may fit where the whole did not
            return self.decode_batch(items[:half]) + self.decode_batch(items[half:])

    def _decode_together(self, items: Sequence[tuple[bytes, ImageInfo]]) -> list[CudaFrame | Exception]:
        slots, offset = [], 0
        for _, info in items:
            height, width = upright_size(info)
            slots.append(Slot(offset, height, width))
            offset += height * width
        batch = LumaBatch(self.pool, offset, len(items))
        planes = [batch.plane(s.offset, s.height, s.width) for s in slots]
        try:
            outcomes = self.decoder.decode(items, planes, self._stream())
        except BaseException:
            for _ in items:
                batch.release_one()
            raise
        results: list[CudaFrame | Exception] = []
        for slot, outcome in zip(slots, outcomes):
            if isinstance(outcome, Exception):
                batch.release_one()
                results.append(outcome)
            else:
                results.append(CudaFrame(batch, slot, outcome))
        return results

    # --- model_input ------------------------------------------------------------------------------------
    def model_input(self, frame: CudaFrame) -> Row:
        return _one(self.model_input_batch([frame]))

    def model_input_batch(self, frames: Sequence[CudaFrame]) -> list[Row | Exception]:
        return self._per_group(frames, self._lab_l_group)

    def _per_group(self, frames: Sequence[CudaFrame], work: Any, *args: Any) -> list[Any]:
        """work(members' frames, members' indices, *args) per decode batch; a failing group fails its photos."""
        results: list[Any] = [None] * len(frames)
        for members in _groups(frames):
            try:
                for i, result in zip(members, work([frames[i] for i in members], members, *args)):
                    results[i] = result
            except Exception as exc:
                for i in members:
                    results[i] = exc
        return results

    def _slots(self, frames: Sequence[CudaFrame], stream: Any) -> tuple[Any, Any, Any]:
        return (self._upload([f.slot.offset for f in frames], np.int64, stream),
                self._upload([f.slot.height for f in frames], np.int32, stream),
                self._upload([f.slot.width for f in frames], np.int32, stream))  # fmt: skip

    def _lab_l_group(self, frames: Sequence[CudaFrame], members: list[int]) -> list[Row]:
        spec, stream = self.model, self._stream()
        h, w = spec.input_size
        out = self.cuda.device_array((len(frames), h, w), np.float32, stream=stream)
        grid, threads = target.batch_grid(h * w, len(frames))
        with self._launching:
            self._lab_l[grid, threads, stream](frames[0].batch.buffer, *self._slots(frames, stream),
                                               float(spec.l_offset), float(spec.l_scale), out)  # fmt: skip
        stream.synchronize()
        return [Row(out, k) for k in range(len(frames))]

    # --- infer ------------------------------------------------------------------------------------------
    def _stack(self, rows: Sequence[Row], stream: Any) -> Any:
        """The rows as one device array (N, ...): a view when they are consecutive rows of one array."""
        first = rows[0]
        if all(r.array is first.array and r.index == first.index + k for k, r in enumerate(rows)):
            return first.array[first.index : first.index + len(rows)]
        out = self.cuda.device_array((len(rows), *first.array.shape[1:]), first.array.dtype, stream=stream)
        for k, row in enumerate(rows):
            out[k].copy_to_device(row.array[row.index], stream=stream)
        return out

    def infer(self, inputs: Sequence[Row]) -> list[Row]:
        if self.runner is None:
            raise RuntimeError("backend is closed")
        if not inputs:
            return []
        stream = self._stream()
        ab = self.runner(self._stack(inputs, stream), stream)
        return [Row(ab, k) for k in range(len(inputs))]

    # --- render -----------------------------------------------------------------------------------------
    def render(self, frame: CudaFrame, prediction: Row, fmt: OutputFormat) -> bytes:
        return _one(self.render_batch([frame], [prediction], fmt))

    def render_batch(self, frames: Sequence[CudaFrame], predictions: Sequence[Row], fmt: OutputFormat
                     ) -> list[bytes | Exception]:  # fmt: skip
        return self._per_group(frames, self._render_group, predictions, fmt)

    def _render_group(self, frames: Sequence[CudaFrame], members: list[int], predictions: Sequence[Row],
                      fmt: OutputFormat) -> list[bytes | Exception]:  # fmt: skip
        encoder = self.png_encoder if fmt.kind == "png" else self.jpeg_encoder
        stream = self._stream()
        ab = self._stack([predictions[i] for i in members], stream)
        out_slots, offset = [], 0
        for frame in frames:
            out_slots.append(Slot(offset, frame.slot.height, frame.slot.width))
            offset += 3 * frame.slot.height * frame.slot.width
        pixels = self.pool.take(offset)
        try:
            grid, threads = target.batch_grid(max(s.height * s.width for s in out_slots), len(frames))
            out_offsets = self._upload([s.offset for s in out_slots], np.int64, stream)
            with self._launching:
                self._ab_merge[grid, threads, stream](frames[0].batch.buffer, *self._slots(frames, stream), ab,
                                                      encoder.bgr, out_offsets, pixels)  # fmt: skip
            return encoder.encode(pixels, out_slots, [f.alpha for f in frames], fmt, stream)
        finally:
            stream.synchronize()
            self.pool.give(pixels)

    # --- memory -----------------------------------------------------------------------------------------
    def host_bytes(self, info: ImageInfo) -> int:
        decode = HOST_BYTES_PER_PIXEL["jpeg_decode" if info.format == "jpeg" else "other_decode"]
        return info.pixels * max(decode, HOST_BYTES_PER_PIXEL["encode"])

    def release(self, frame: CudaFrame) -> None:
        if not frame.released:
            frame.released = True
            frame.batch.release_one()

    def close(self) -> None:
        for codec in {self.decoder, self.host_decoder, self.png_encoder, self.jpeg_encoder}:
            codec.close()
        self.pool.close()
        self.runner = None
        self._streams = threading.local()  # every thread's stream is dropped
