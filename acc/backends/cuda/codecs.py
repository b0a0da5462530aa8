"""Decoding into, and encoding out of, the cuda backend's device buffers.

Decoders write each photo's upright 8-bit luma into its plane of a LumaBatch (memory.py):

    GpuDecoder   nvImageCodec, one batched call, ColorSpec.GRAY (the Y plane: no chroma work), decoding
                 straight into the planes; the hardware JPEG decoder first (baseline JPEGs), then hybrid
                 CPU + GPU (progressive ones), then CUDA; EXIF orientation applied as the cpu backend does.
                 Other formats, and JPEGs it returns no image for (CMYK, damage), go to the host decoder.
    HostDecoder  hostimage.decode_luma (libjpeg-turbo's luma; OpenCV for other formats, alpha kept for
                 PNG output) on host threads, then one upload per photo. Emulation's decoder, and the
                 fallback everywhere.

Encoders turn the interleaved 8-bit pixels AbMerge wrote (3 * offset on, per photo) into files:

    GpuEncoder   nvImageCodec's CUDA JPEG encoder, one batched call, 4:2:0 at the requested quality (RGB in)
    HostEncoder  one download of the batch's pixels, then libjpeg-turbo 4:2:0 through OpenCV, or PNG (alpha
                 kept), on host threads (BGR in). PNG is always encoded here.

Each decoder and encoder says which channel order it takes (bgr), and returns one result per photo: the
photo's alpha plane or None (decoders), its bytes (encoders), or the exception that photo raised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from acc.backends.base import OutputFormat
from acc.backends.hostimage import decode_luma, encode_bgr
from acc.probe import BadImage, ImageInfo

Alpha = np.ndarray | None


@dataclass(frozen=True)
class Slot:
    """Where one photo's pixels are in a batch buffer: from byte `offset` on, height x width of them (1 byte
    each in a luma batch, 3 in an output batch)."""

    offset: int
    height: int
    width: int


def stream_handle(stream: Any) -> int:
    """A numba stream's cudaStream_t as an integer (ctypes handle or cuda-python CUstream)."""
    handle = stream.handle
    return int(handle.value if hasattr(handle, "value") else handle)


def host_workers(threads: int) -> int:
    return threads or min(32, os.cpu_count() or 1)


def _upload(luma: np.ndarray, plane: Any, stream: Any) -> None:
    if luma.shape != plane.shape:
        raise BadImage(f"decoded size {luma.shape[1]}x{luma.shape[0]} differs from the header's")
    plane.copy_to_device(np.ascontiguousarray(luma), stream=stream)


class HostDecoder:
    name = "host (libjpeg-turbo)"

    def __init__(self, threads: int = 0) -> None:
        self._pool = ThreadPoolExecutor(host_workers(threads), thread_name_prefix="acc-cuda-decode")

    def decode_one(self, data: bytes, info: ImageInfo, plane: Any, stream: Any) -> Alpha:
        luma, alpha = decode_luma(data, info)
        _upload(luma, plane, stream)
        stream.synchronize()  # the host plane is freed when this returns
        return alpha

    def decode(self, items: Sequence[tuple[bytes, ImageInfo]], planes: Sequence[Any], stream: Any) -> list[Alpha | Exception]:
        futures = [self._pool.submit(decode_luma, data, info) for data, info in items]
        results: list[Alpha | Exception] = []
        for future, plane in zip(futures, planes):
            try:
                luma, alpha = future.result()
                _upload(luma, plane, stream)
                results.append(alpha)
            except Exception as exc:
                results.append(exc)
        stream.synchronize()  # the host planes are freed when this returns
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class GpuDecoder:
    name = "GPU (nvImageCodec: hardware JPEG decoder, then hybrid CPU + GPU, then CUDA)"

    def __init__(self, host: HostDecoder, threads: int = 0) -> None:
        from nvidia import nvimgcodec

        self._nv = nvimgcodec
        kinds = (nvimgcodec.BackendKind.HW_GPU_ONLY, nvimgcodec.BackendKind.HYBRID_CPU_GPU,
                 nvimgcodec.BackendKind.GPU_ONLY)  # fmt: skip
        self._decoder = nvimgcodec.Decoder(max_num_cpu_threads=threads,
                                           backends=[nvimgcodec.Backend(kind) for kind in kinds])  # fmt: skip
        self._params = nvimgcodec.DecodeParams(color_spec=nvimgcodec.ColorSpec.GRAY, apply_exif_orientation=True)
        self._host = host

    def decode(self, items: Sequence[tuple[bytes, ImageInfo]], planes: Sequence[Any], stream: Any) -> list[Alpha | Exception]:
        results: list[Alpha | Exception | None] = [None] * len(items)
        jpegs = [i for i, (_, info) in enumerate(items) if info.format == "jpeg"]
        decoded: list[Any] = []
        if jpegs:
            nv = self._nv
            images = [nv.as_image(planes[i].reshape(*planes[i].shape, 1), stream_handle(stream)) for i in jpegs]
            decoded = self._decoder.decode([nv.CodeStream(items[i][0]) for i in jpegs], images=images,
                                           params=self._params, cuda_stream=stream_handle(stream))  # fmt: skip
        done = {i for i, image in zip(jpegs, decoded) if image is not None}
        for i in range(len(items)):
            if i not in done:  # other formats, and what nvImageCodec could not decode
                try:
                    results[i] = self._host.decode_one(*items[i], planes[i], stream)
                except Exception as exc:
                    results[i] = exc
        stream.synchronize()
        return results

    def close(self) -> None:
        self._decoder = None


class HostEncoder:
    name = "host (libjpeg-turbo 4:2:0)"
    bgr = True

    def __init__(self, threads: int = 0) -> None:
        self._pool = ThreadPoolExecutor(host_workers(threads), thread_name_prefix="acc-cuda-encode")

    def encode(self, pixels: Any, slots: Sequence[Slot], alphas: Sequence[Alpha], fmt: OutputFormat,
               stream: Any) -> list[bytes | Exception]:  # fmt: skip
        end = max(s.offset + 3 * s.height * s.width for s in slots)
        host = pixels[:end].copy_to_host(stream=stream)
        stream.synchronize()

        def one(slot: Slot, alpha: Alpha) -> bytes:
            bgr = host[slot.offset : slot.offset + 3 * slot.height * slot.width]
            return encode_bgr(bgr.reshape(slot.height, slot.width, 3), alpha, fmt)

        futures = [self._pool.submit(one, slot, alpha) for slot, alpha in zip(slots, alphas)]
        results: list[bytes | Exception] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:
                results.append(exc)
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class GpuEncoder:
    name = "GPU (nvImageCodec CUDA JPEG encoder, 4:2:0)"
    bgr = False

    def __init__(self) -> None:
        from nvidia import nvimgcodec

        self._nv = nvimgcodec
        self._encoder = nvimgcodec.Encoder()

    def encode(self, pixels: Any, slots: Sequence[Slot], alphas: Sequence[Alpha], fmt: OutputFormat,
               stream: Any) -> list[bytes | Exception]:  # fmt: skip
        nv = self._nv
        params = nv.EncodeParams(quality_type=nv.QualityType.QUALITY, quality_value=float(fmt.quality),
                                 chroma_subsampling=nv.ChromaSubsampling.CSS_420)  # fmt: skip
        images = [nv.as_image(pixels[s.offset : s.offset + 3 * s.height * s.width].reshape(s.height, s.width, 3),
                              stream_handle(stream)) for s in slots]  # fmt: skip
        streams = self._encoder.encode(images, "jpeg", params=params, cuda_stream=stream_handle(stream))
        stream.synchronize()
        return [bytes(memoryview(c)) if c is not None else RuntimeError("nvImageCodec could not encode this photo")
                for c in streams]  # fmt: skip

    def close(self) -> None:
        self._encoder = None


def nvimgcodec_reason() -> str | None:
    """None when nvImageCodec can be imported here, else why not."""
    try:
        from nvidia import nvimgcodec  # noqa: F401
    except ImportError as exc:
        return f"nvImageCodec is not installed ({exc.name}; pip install 'acc-colorize[cuda]')"
    except Exception as exc:  # a broken install: missing nvJPEG or CUDA runtime libraries
        return f"nvImageCodec does not load: {type(exc).__name__}: {exc}"
    return None
