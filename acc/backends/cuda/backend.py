"""The cuda backend: decode, colour kernels, model and encode on an NVIDIA GPU, pixels never leaving it
(DESIGN.md, The data flow). It takes whole batches (batched = True):

    decode_batch       one flat device buffer for the batch's luma planes (memory.LumaBatch), filled by
                       nvImageCodec (codecs.NvDecoder) or by the host decoder (other formats, fallbacks)
    model_input_batch  LabL (kernels/cuda/lab_l.py), one launch -> (P, h, w) float32 on the device
    infer              the model on the GPU (models.py): ONNX Runtime CUDA or PyTorch fp16
    render_batch       AbMerge (kernels/cuda/ab_merge.py), one launch -> interleaved 8-bit pixels on the
                       device, then one batched encode: nvImageCodec's CUDA JPEG encoder or the host's
                       libjpeg-turbo fed by one download (ACC_CUDA_JPEG_ENCODER=auto|gpu|host); PNG on the host

L comes from luma, as on Ascend: a JPEG's Y plane, or for other colour images the gray of the same
luminance (hostimage.decode_luma). Each photo fails alone. A batch that does not fit in device memory is
split in halves.

Streams: each calling thread has its own lane, a non-blocking CUDA stream (it never waits for the legacy
default stream, nor that for it) shared with PyTorch for the model, and its staging memory. Work is queued
and not waited for, except where the host needs its result (encoded bytes, a host copy): each model input
and prediction carries the event recorded after it was written (DeviceRows.ready), and the stream that
reads it next waits for that event on the device. The model sees a padded batch of P = padded(n) rows
(1, 2, 4, ... 64, then multiples of 64; the padding repeats the last photo), so it meets few shapes:
cuDNN tunes each once. No batch allocates device memory (memory.py).

emulate=True runs the same code with numba-cuda's simulator for the kernels (device arrays are numpy
arrays there, streams and events do nothing), nvImageCodec on its CPU backends for the codecs when it is
installed (codecs.py; libjpeg-turbo when not), and ONNX Runtime on the CPU for the model. The simulator
runs every GPU thread as a Python thread, a few tens of thousands of pixels a second: for small photos.
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
from acc.backends.cuda.codecs import Alpha, HostDecoder, HostEncoder, NvDecoder, NvEncoder, Slot, nvimgcodec_reason
from acc.backends.cuda.driver import gpu_reason
from acc.backends.cuda.memory import DevicePool, LumaBatch, Pooled, Staging
from acc.backends.cuda.models import HostModel, gpu_model, ort_cuda_reason, torch_cuda_reason
from acc.kernels.cuda import target
from acc.models import ModelSpec
from acc.probe import ImageInfo

ENCODER_ENV = "ACC_CUDA_JPEG_ENCODER"
ENCODERS = ("auto", "gpu", "host")
LARGEST_PAD = 64  # model batches are padded to powers of two up to this, then to multiples of it
T = TypeVar("T")

# Host memory one photo holds at its peak, bytes per pixel (tracemalloc, 2026-12-02, 1500 x 1000 photos):
# host decode of a JPEG: its luma (1) and an upright copy (1); of other formats: hostimage.decode_luma's
# float64 luminance of colour pixels (102 measured) and the alpha kept for PNG output (1);
# host encode: the downloaded pixels (3) and the encoded file (at most ~3 for PNG of noise).
HOST_BYTES_PER_PIXEL = {"jpeg_decode": 2, "other_decode": 104, "encode": 6}

# What a user of --emulate is told once: the simulator's speed, measured on the development machine
# (2026-12-08, AbMerge on a 120 x 160 photo, 30,000 to 60,000 pixels/s on one core).
EMULATION_NOTICE = ("--emulate: the CUDA kernels run in numba-cuda's simulator, one Python thread per GPU "
                    "thread, about 40,000 pixels a second (a 2.5 MP photo takes about a minute): "
                    "for checking the backend on small photos, not for colorizing an archive")  # fmt: skip


@dataclass
class CudaFrame:
    batch: LumaBatch  # the decode batch's flat device buffer this photo's luma lives in
    slot: Slot
    alpha: Alpha  # host, kept for PNG output
    released: bool = False


@dataclass(frozen=True)
class DeviceRows:
    """A batch's device array (P, ...), one row per photo (model inputs or predictions), with the event
    recorded after it was written and what keeps its memory (a memory.Pooled, or None when the array
    holds it)."""

    array: Any
    ready: Any
    owner: Pooled | None = None


@dataclass(frozen=True)
class Row:
    """Photo `index` of a batch's device array."""

    rows: DeviceRows
    index: int

    @property
    def array(self) -> Any:
        return self.rows.array


@dataclass
class Lane:
    """One calling thread's stream and staging memory."""

    stream: Any
    staging: Staging


def upright_size(info: ImageInfo) -> tuple[int, int]:
    """(height, width) after EXIF orientation: 5..8 transpose the photo."""
    return (info.width, info.height) if info.orientation in (5, 6, 7, 8) else (info.height, info.width)


def padded(n: int) -> int:
    """The model batch for n photos: the next power of two up to LARGEST_PAD, then multiples of it."""
    return 1 << (n - 1).bit_length() if n <= LARGEST_PAD else -(-n // LARGEST_PAD) * LARGEST_PAD


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
        self.notice = EMULATION_NOTICE if emulate else None
        # The simulator keeps the running kernel's thread indices in module state: one launch at a time.
        self._launching = threading.Lock() if emulate else contextlib.nullcontext()
        self._lanes = threading.local()
        self._streams: list[Any] = []  # the CUDA streams this backend created (destroyed by close)
        self._streams_lock = threading.Lock()
        self._l_table = self.cuda.to_device(lab_l.L_TABLE)
        self._merge_tables = tuple(self.cuda.to_device(table) for table in ab_merge.TABLES)
        self.pool = DevicePool(self.cuda)
        self.host_decoder = HostDecoder()
        nv = not nvimgcodec_reason()
        self.decoder = NvDecoder(self.host_decoder, cpu_only=emulate) if nv else self.host_decoder
        self.png_encoder = HostEncoder()
        self.jpeg_encoder = self._jpeg_encoder(jpeg_encoder or os.environ.get(ENCODER_ENV, "auto"))
        self.runner = HostModel(model, self.cuda, threads) if emulate else gpu_model(model, self.cuda, self.pool,
                                                                                     precision)  # fmt: skip

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

    def _jpeg_encoder(self, choice: str) -> HostEncoder | NvEncoder:
        if choice not in ENCODERS:
            raise BackendError(f"{ENCODER_ENV} must be one of {', '.join(ENCODERS)}, got {choice!r}")
        reason = nvimgcodec_reason()
        if choice == "host" or (choice == "auto" and reason):
            return self.png_encoder
        if reason:
            raise BackendError(f"{ENCODER_ENV}=gpu: {reason}")
        return NvEncoder(cpu_only=self.emulated)

    # --- lanes ------------------------------------------------------------------------------------------
    def _lane(self) -> Lane:
        lane = getattr(self._lanes, "lane", None)
        if lane is None:
            lane = self._lanes.lane = Lane(self._new_stream(), Staging(self.cuda))
        return lane

    def _new_stream(self) -> Any:
        """A non-blocking stream: numba's own streams synchronize with the legacy default stream, on which
        PyTorch would run the model, so every stage of every thread would wait for every other."""
        if self.emulated:
            return self.cuda.stream()
        from cuda.bindings import driver

        self.cuda.current_context()  # numba's context is current in this thread
        err, handle = driver.cuStreamCreate(driver.CUstream_flags.CU_STREAM_NON_BLOCKING.value)
        if int(err) != 0:
            raise BackendError(f"cannot create a CUDA stream: CUDA driver error {int(err)}")
        with self._streams_lock:
            self._streams.append(handle)
        return self.cuda.external_stream(int(handle))

    def _event(self, stream: Any) -> Any:
        """An event recorded on `stream` now."""
        event = target.event()
        event.record(stream)
        return event

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
        stream = self._lane().stream
        try:
            outcomes = self.decoder.decode(items, planes, stream)
        except BaseException:
            batch.used(self._event(stream))
            for _ in items:
                batch.release_one()
            raise
        batch.used(self._event(stream))  # what the decoders queued on the planes
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

    def _lab_l_group(self, frames: Sequence[CudaFrame], members: list[int]) -> list[Row]:
        """LabL of the frames into a padded batch: its rows past len(frames) are copies of the last."""
        spec, lane = self.model, self._lane()
        h, w = spec.input_size
        n = len(frames)
        meta = lane.staging.upload([[f.slot.offset for f in frames], [f.slot.height for f in frames],
                                    [f.slot.width for f in frames]], lane.stream)  # fmt: skip
        out = Pooled(self.pool, (padded(n), h, w), np.float32)
        grid, threads = target.batch_grid(h * w, n)
        with self._launching:
            self._lab_l[grid, threads, lane.stream](frames[0].batch.buffer, *meta, float(spec.l_offset),
                                                    float(spec.l_scale), self._l_table, out.array)  # fmt: skip
        for k in range(n, padded(n)):
            out.array[k].copy_to_device(out.array[n - 1], stream=lane.stream)
        ready = self._event(lane.stream)
        frames[0].batch.used(ready)
        inputs = DeviceRows(out.array, ready, out)
        return [Row(inputs, k) for k in range(len(frames))]

    # --- infer ------------------------------------------------------------------------------------------
    def _stack(self, rows: Sequence[Row], count: int, stream: Any) -> tuple[Any, Pooled | None]:
        """The rows as one device array of `count` >= len(rows) rows (the last repeated), ready on `stream`:
        a view when they are consecutive rows of one array that has the room, else a gathered copy."""
        for ready in {id(r.rows.ready): r.rows.ready for r in rows}.values():
            ready.wait(stream)
        first = rows[0]
        array = first.rows.array
        if (all(r.rows is first.rows and r.index == first.index + k for k, r in enumerate(rows))
                and first.index + count <= array.shape[0]):  # fmt: skip
            return array[first.index : first.index + count], None
        out = Pooled(self.pool, (count, *array.shape[1:]), array.dtype)
        for k in range(count):
            row = rows[min(k, len(rows) - 1)]
            out.array[k].copy_to_device(row.rows.array[row.index], stream=stream)
        return out.array, out

    def infer(self, inputs: Sequence[Row]) -> list[Row]:
        if self.runner is None:
            raise RuntimeError("backend is closed")
        if not inputs:
            return []
        stream = self._lane().stream
        x, gathered = self._stack(inputs, padded(len(inputs)), stream)
        ab, owner = self.runner(x, stream)
        ready = self._event(stream)
        for pooled in {id(p): p for p in [gathered, *(r.rows.owner for r in inputs)] if p is not None}.values():
            pooled.used(ready)  # the model read it: its memory waits for that
        predictions = DeviceRows(ab, ready, owner)
        return [Row(predictions, k) for k in range(len(inputs))]

    # --- render -----------------------------------------------------------------------------------------
    def render(self, frame: CudaFrame, prediction: Row, fmt: OutputFormat) -> bytes:
        return _one(self.render_batch([frame], [prediction], fmt))

    def render_batch(self, frames: Sequence[CudaFrame], predictions: Sequence[Row], fmt: OutputFormat
                     ) -> list[bytes | Exception]:  # fmt: skip
        return self._per_group(frames, self._render_group, predictions, fmt)

    def _render_group(self, frames: Sequence[CudaFrame], members: list[int], predictions: Sequence[Row],
                      fmt: OutputFormat) -> list[bytes | Exception]:  # fmt: skip
        encoder = self.png_encoder if fmt.kind == "png" else self.jpeg_encoder
        lane = self._lane()
        stream = lane.stream
        ab, _gathered = self._stack([predictions[i] for i in members], len(members), stream)  # kept to the end
        out_slots, offset = [], 0
        for frame in frames:
            out_slots.append(Slot(offset, frame.slot.height, frame.slot.width))
            offset += 3 * frame.slot.height * frame.slot.width
        pixels = self.pool.take(offset)
        try:
            meta = lane.staging.upload([[f.slot.offset for f in frames], [f.slot.height for f in frames],
                                        [f.slot.width for f in frames], [s.offset for s in out_slots]], stream)  # fmt: skip
            grid, threads = target.batch_grid(max(s.height * s.width for s in out_slots), len(frames))
            with self._launching:
                self._ab_merge[grid, threads, stream](frames[0].batch.buffer, *meta[:3], ab, encoder.bgr, meta[3],
                                                      pixels, *self._merge_tables)  # fmt: skip
            return encoder.encode(pixels, out_slots, [f.alpha for f in frames], fmt, stream)
        finally:
            stream.synchronize()  # the host needs the bytes; the buffers here may then be reused at once
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
        self._lanes = threading.local()  # every thread's lane is dropped
        with self._streams_lock:
            streams, self._streams = self._streams, []
        if streams:
            from cuda.bindings import driver

            for handle in streams:
                driver.cuStreamSynchronize(handle)
                driver.cuStreamDestroy(handle)
