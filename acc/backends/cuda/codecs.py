"""Decoding into, and encoding out of, the cuda backend's device buffers.

Decoders write each photo's upright 8-bit luma into its plane of a LumaBatch (memory.py):

    NvDecoder    nvImageCodec, one batched call, ColorSpec.GRAY (the Y plane: no chroma work), decoding
                 straight into the planes; on a GPU the hardware JPEG decoder first (baseline JPEGs), then
                 hybrid CPU + GPU (progressive ones), then CUDA; EXIF orientation applied as the cpu backend
                 does. It takes 8-bit JPEGs whose first component is luma: other formats, RGB-coded and
                 CMYK/YCCK JPEGs (whose GRAY would be a colour channel, not luma), what it returns no
                 image for, and any photo it decodes to another size than the header's go to the host.
    HostDecoder  hostimage.decode_luma (libjpeg-turbo's luma; OpenCV for other formats, alpha kept for
                 PNG output) on host threads, then one upload per photo. The fallback everywhere.

Encoders turn the interleaved 8-bit pixels AbMerge wrote (3 * offset on, per photo) into files:

    NvEncoder    nvImageCodec's JPEG encoder, one batched call, 4:2:0 at the requested quality (RGB in)
    HostEncoder  one download of the batch's pixels, then libjpeg-turbo 4:2:0 through OpenCV, or PNG (alpha
                 kept), on host threads (BGR in). PNG is always encoded here.

Emulation (cpu_only=True) runs the same nvImageCodec binding on its CPU backends (device id
NVIMGCODEC_DEVICE_CPU_ONLY, BackendKind.CPU_ONLY), which need no GPU or driver: the codec calls, the
batching, the None results, the decoding into caller buffers, EXIF orientation and the threading are
the library's own; only the codec kernels differ (libjpeg-turbo instead of nvJPEG).

nvImageCodec's decoders and encoders must not be shared between threads (its own concurrency test says
so; a shared Decoder crashed, hung or returned wrong images here under 2 and 8 threads): each calling
thread gets its own, with a small pool of CPU threads (CODEC_THREADS) instead of one thread per core each.

Each decoder and encoder says which channel order it takes (bgr), and returns one result per photo: the
photo's alpha plane or None (decoders), its bytes (encoders), or the exception that photo raised.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from acc.backends.base import OutputFormat
from acc.backends.hostimage import decode_luma, encode_bgr
from acc.libmessages import captured
from acc.probe import BadImage, ImageInfo

Alpha = np.ndarray | None
VERBOSITY_ENV = "PYNVIMGCODEC_VERBOSITY"  # read once, when the binding is imported
# CPU threads of each thread's nvImageCodec codec (Huffman decoding of progressive JPEGs on a GPU, all of
# it on the CPU backends): the runner's workers (up to 8) times this stays near the core count.
CODEC_THREADS = max(1, (os.cpu_count() or 2) // 8)


@dataclass(frozen=True)
class Slot:
    """Where one photo's pixels are in a batch buffer: from byte `offset` on, height x width of them (1 byte
    each in a luma batch, 3 in an output batch)."""

    offset: int
    height: int
    width: int


def stream_handle(stream: Any) -> int:
    """A numba stream's cudaStream_t as an integer (ctypes handle or cuda-python CUstream); 0 in the
    simulator, whose streams have no handle."""
    handle = getattr(stream, "handle", None)
    if handle is None:
        return 0
    return int(handle.value if hasattr(handle, "value") else handle)


def host_workers(threads: int) -> int:
    return threads or min(32, os.cpu_count() or 1)


_loaded: ModuleType | None = None
_import_notes: list[str] = []
_import_lock = threading.Lock()


def load_nvimgcodec() -> ModuleType:
    """nvImageCodec's binding, imported once and quietly: with its per-image log off (PYNVIMGCODEC_VERBOSITY=0
    unless set: otherwise each photo it cannot decode prints a line that acc would take for that photo's
    decoder warning), and what its import prints about codec libraries it did not find kept for `acc doctor`
    (import_notes()) instead of reaching the terminal. ImportError when it is not installed."""
    global _loaded
    with _import_lock:
        if _loaded is None:
            os.environ.setdefault(VERBOSITY_ENV, "0")
            with captured(stray=lambda text: None) as messages, messages.exclusive() as watch:
                from nvidia import nvimgcodec
            _import_notes[:] = watch.messages
            _loaded = nvimgcodec
        return _loaded


def import_notes() -> list[str]:
    """What nvImageCodec printed when it was imported (libraries it did not find), in its words."""
    return list(_import_notes)


def nvimgcodec_reason() -> str | None:
    """None when nvImageCodec can be imported here, else why not."""
    try:
        load_nvimgcodec()
    except ImportError as exc:
        return f"nvImageCodec is not installed ({exc.name}; pip install 'acc-colorize[cuda]')"
    except Exception as exc:  # a broken install: missing nvJPEG or CUDA runtime libraries
        return f"nvImageCodec does not load: {type(exc).__name__}: {exc}"
    return None


class PerThread:
    """One object per calling thread, made by `make` on first use; drop() lets go of all of them."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._local = threading.local()

    def get(self) -> Any:
        obj = getattr(self._local, "obj", None)
        if obj is None:
            obj = self._local.obj = self._make()
        return obj

    def drop(self) -> None:
        self._local = threading.local()  # every thread's object goes with the old local


def _upload(luma: np.ndarray, plane: Any, stream: Any) -> None:
    if luma.shape != plane.shape:
        raise BadImage(f"decoded size {luma.shape[1]}x{luma.shape[0]} differs from the header's")
    plane.copy_to_device(np.ascontiguousarray(luma), stream=stream)


class HostDecoder:
    name = "host (libjpeg-turbo)"

    def __init__(self, threads: int = 0) -> None:
        self._pool = ThreadPoolExecutor(host_workers(threads), thread_name_prefix="acc-cuda-decode")

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


def _backends(nv: ModuleType, cpu_only: bool) -> tuple[int, list[Any]]:
    """(device id, backends) for nvImageCodec: its CPU backends alone (emulation), or the GPU's."""
    if cpu_only:
        return nv.NVIMGCODEC_DEVICE_CPU_ONLY, [nv.Backend(nv.BackendKind.CPU_ONLY)]
    kinds = (nv.BackendKind.HW_GPU_ONLY, nv.BackendKind.HYBRID_CPU_GPU, nv.BackendKind.GPU_ONLY)
    return nv.NVIMGCODEC_DEVICE_CURRENT, [nv.Backend(kind) for kind in kinds]


def nv_decodes(info: ImageInfo) -> bool:
    """Whether NvDecoder takes this photo: an 8-bit JPEG of 1 or 3 components whose first is luma (GRAY
    gives the first component: for RGB-coded or CMYK/YCCK JPEGs that is a colour channel, not luma)."""
    return info.format == "jpeg" and info.bits == 8 and info.channels in (1, 3) and not info.rgb_coded


class NvCodec:
    """What NvDecoder and NvEncoder share: the binding, and one nvImageCodec Decoder or Encoder (`kind`) per
    calling thread, on the GPU's backends or (cpu_only) on the CPU's."""

    def __init__(self, kind: str, cpu_only: bool) -> None:
        nv = self._nv = load_nvimgcodec()
        device, backends = _backends(nv, cpu_only)
        make = getattr(nv, kind)
        self._codecs = PerThread(lambda: make(device_id=device, max_num_cpu_threads=CODEC_THREADS, backends=backends))

    def close(self) -> None:
        self._codecs.drop()


class NvDecoder(NvCodec):
    def __init__(self, host: HostDecoder, cpu_only: bool = False) -> None:
        super().__init__("Decoder", cpu_only)
        self.name = ("nvImageCodec on its CPU backends (emulation)" if cpu_only else
                     "GPU (nvImageCodec: hardware JPEG decoder, then hybrid CPU + GPU, then CUDA)")  # fmt: skip
        self._params = self._nv.DecodeParams(color_spec=self._nv.ColorSpec.GRAY, apply_exif_orientation=True)
        self._host = host

    def decode(self, items: Sequence[tuple[bytes, ImageInfo]], planes: Sequence[Any], stream: Any) -> list[Alpha | Exception]:
        mine = [i for i, (_, info) in enumerate(items) if nv_decodes(info)]
        done = self._decode_into([items[i][0] for i in mine], [planes[i] for i in mine], stream)
        decoded = {i for i, ok in zip(mine, done) if ok}
        results: list[Alpha | Exception] = [None] * len(items)
        rest = [i for i in range(len(items)) if i not in decoded]
        if rest:  # one call: the host decoder's threads decode the fallbacks side by side
            for i, result in zip(rest, self._host.decode([items[i] for i in rest], [planes[i] for i in rest], stream)):
                results[i] = result
        return results

    def _decode_into(self, datas: list[bytes], planes: list[Any], stream: Any) -> list[bool]:
        """Decode into the planes; per photo, whether its plane now holds it. A photo larger than its plane
        makes nvImageCodec refuse the whole call: then each is tried alone, so only that one is left out.
        One that decodes to another shape than its plane's (EXIF read otherwise than acc's probe reads it)
        is left out too: written into a plane of the wrong shape it would be a garbled photo."""
        if not datas:
            return []
        nv, handle = self._nv, stream_handle(stream)
        images = [nv.as_image(p.reshape(*p.shape, 1), handle) for p in planes]
        try:
            decoded = self._codecs.get().decode([nv.CodeStream(d) for d in datas], images=images, params=self._params,
                                     cuda_stream=handle)  # fmt: skip
        except ValueError:  # "Existing buffer is too small to fit new image"
            if len(datas) == 1:
                return [False]
            return [ok for d, p in zip(datas, planes) for ok in self._decode_into([d], [p], stream)]
        return [image is not None and tuple(image.shape[:2]) == tuple(p.shape) for image, p in zip(decoded, planes)]


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


class NvEncoder(NvCodec):
    bgr = False

    def __init__(self, cpu_only: bool = False) -> None:
        super().__init__("Encoder", cpu_only)
        self.name = ("nvImageCodec JPEG encoder on its CPU backends, 4:2:0 (emulation)" if cpu_only else
                     "GPU (nvImageCodec CUDA JPEG encoder, 4:2:0)")  # fmt: skip

    def encode(self, pixels: Any, slots: Sequence[Slot], alphas: Sequence[Alpha], fmt: OutputFormat,
               stream: Any) -> list[bytes | Exception]:  # fmt: skip
        nv, handle = self._nv, stream_handle(stream)
        params = nv.EncodeParams(quality_type=nv.QualityType.QUALITY, quality_value=float(fmt.quality),
                                 chroma_subsampling=nv.ChromaSubsampling.CSS_420)  # fmt: skip
        images = [nv.as_image(pixels[s.offset : s.offset + 3 * s.height * s.width].reshape(s.height, s.width, 3),
                              handle) for s in slots]  # fmt: skip
        streams = self._codecs.get().encode(images, "jpeg", params=params, cuda_stream=handle)
        stream.synchronize()
        return [bytes(memoryview(c)) if c is not None else RuntimeError("nvImageCodec could not encode this photo")
                for c in streams]  # fmt: skip
