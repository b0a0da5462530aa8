"""The fast CPU backend: luminance decoded once, colour maths in fused numba kernels (kernels/cpu/).

    decode       JPEG: libjpeg-turbo (simplejpeg) straight to luma, no chroma work; EXIF orientation
                 applied here, since simplejpeg ignores it. Other formats, and JPEGs simplejpeg refuses:
                 OpenCV (hostimage), any depth; alpha kept for PNG output.
    model_input  bilinear samples at the model size of L from a per-code table (kernels/cpu/lab_l.py),
                 as the baseline samples; (L - l_offset) * l_scale as the registry declares
    infer        ONNX Runtime (acc/inference.py)
    render       one fused pass: ab upsample, merge with L, Lab -> sRGB (kernels/cpu/ab_merge.py), then
                 libjpeg-turbo 4:2:0 encode through OpenCV, as the baseline (simplejpeg 1.9's encoder
                 gives the same bytes with and without fastdct and 4 dB less luma PSNR at q95, for
                 the same size and speed), or PNG

L of a colour photo: by default the JPEG's luma Y' stands in for the photo's gray value (L = table[Y']),
which skips decoding chroma. Y' weighs gamma-encoded R, G, B; L weighs linear ones: they agree on
neutral pixels and differ on saturated ones (tests/test_cpu_backend.py measures it). exact_l=True
decodes colour and computes L from RGB, as the OpenCV baseline does. Gray photos are exact either way,
and so are colour images in other formats (their RGB is decoded anyway).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import import_module

import numba
import numpy as np
import simplejpeg

from acc.backends.base import OutputFormat
from acc.backends.host import HostInferenceBackend
from acc.backends.hostimage import apply_orientation, decode_unchanged, encode_bgr, split_alpha
from acc.kernels.cpu.ab_merge import ab_merge, merge_tables
from acc.kernels.cpu.lab_l import EXACT_L_TABLE, gray_l_table, lab_l, linear_table, rgb_l_codes
from acc.models import ModelSpec
from acc.probe import ImageInfo


# Below this size a photo's kernels run on the calling thread alone: waking a second thread costs more
# than it saves (0.3 MP: 1.6 ms on one thread, 22 ms on two on a busy 2-core machine).
PARALLEL_MIN_PIXELS = 4_000_000


def _kernel_threads(shape: tuple[int, ...]) -> None:
    """Set the numba threads of this thread's next kernel call for a photo of `shape` (thread-local)."""
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if shape[0] * shape[1] >= PARALLEL_MIN_PIXELS else 1)


@dataclass(frozen=True)
class LumaTables:
    """A code -> L table and the per-code values the render kernel needs (merge_tables)."""

    l: np.ndarray
    fy: np.ndarray
    y: np.ndarray


@cache
def luma_tables(bits: int | None) -> LumaTables:
    """Tables for gray levels `bits` deep, or (None) for the exact L codes of rgb_l_codes."""
    table = EXACT_L_TABLE if bits is None else gray_l_table(bits)
    return LumaTables(table, *merge_tables(table))


@dataclass
class LumaFrame:
    codes: np.ndarray  # (H, W) uint8 or uint16: the photo's luminance, upright
    tables: LumaTables
    alpha: np.ndarray | None  # (H, W) uint8, kept for PNG output


def _luma_frame(pixels: np.ndarray, alpha: np.ndarray | None, peak: float) -> LumaFrame:
    """Decoded pixels (gray or BGR, 8/16-bit or float in [0, 1]) -> codes and their tables."""
    if peak == 1.0:  # float samples: 16-bit codes lose nothing an 8-bit output could show
        pixels = np.clip(pixels * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    bits = 8 if pixels.dtype == np.uint8 else 16
    if pixels.ndim == 2:
        return LumaFrame(np.ascontiguousarray(pixels), luma_tables(bits), alpha)
    codes = np.empty(pixels.shape[:2], np.uint16)
    _kernel_threads(codes.shape)
    rgb_l_codes(np.ascontiguousarray(pixels), linear_table(bits), codes)
    return LumaFrame(codes, luma_tables(None), alpha)


class CPUBackend(HostInferenceBackend):
    name = "cpu"

    def __init__(self, model: ModelSpec, threads: int = 0, exact_l: bool = False) -> None:
        super().__init__(model, threads)
        self.exact_l = exact_l
        # Per worker thread, its last output buffer: reused for the next photo of that size, which
        # spares allocating and page-faulting 36 MB per 12 MP photo (the encoder copies the pixels out).
        self._buffers = threading.local()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        # The runner renders on several threads at once: numba needs a thread-safe layer for that.
        for layer in ("numba.np.ufunc.omppool", "numba.np.ufunc.tbbpool"):
            try:
                import_module(layer)
                return None
            except ImportError:
                continue
        return "numba has no thread-safe threading layer here (needs OpenMP (libgomp) or TBB)"

    def decode(self, data: bytes, info: ImageInfo) -> LumaFrame:
        if info.format == "jpeg":
            try:
                return self._decode_jpeg(data, info)
            except ValueError:  # CMYK, 12-bit, or damage libjpeg-turbo only warns about: OpenCV decides
                pass
        # IMREAD_UNCHANGED ignores EXIF orientation (the baseline's IMREAD_COLOR applies it)
        return _luma_frame(*split_alpha(apply_orientation(decode_unchanged(data, info), info.orientation)))

    def _decode_jpeg(self, data: bytes, info: ImageInfo) -> LumaFrame:
        if self.exact_l and simplejpeg.decode_jpeg_header(data)[2] != "Gray":
            pixels = simplejpeg.decode_jpeg(data, colorspace="BGR")
        else:
            pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
        return _luma_frame(apply_orientation(pixels, info.orientation), None, 255.0)

    def host_bytes(self, info: ImageInfo) -> int:
        """Decoded samples (luma alone for JPEG, unless exact_l decodes colour), twice where orientation
        or float conversion copies them, then 2-byte codes, the 3-byte render buffer and the encoded
        output. A 99 MP gray JPEG measured 4.4 bytes a pixel at peak; this charges 8."""
        luma_only = info.format == "jpeg" and not (self.exact_l and info.channels > 1)
        decoded = 1 if luma_only else info.channels * -(-info.bits // 8)
        return info.pixels * (2 * decoded + 6)

    def model_input(self, frame: LumaFrame) -> np.ndarray:
        spec = self.model
        return lab_l(frame.codes, frame.tables.l, spec.input_size, spec.l_offset, spec.l_scale)

    def render(self, frame: LumaFrame, prediction: np.ndarray, fmt: OutputFormat) -> bytes:
        bgr = getattr(self._buffers, "bgr", None)
        if bgr is None or bgr.shape[:2] != frame.codes.shape:
            bgr = self._buffers.bgr = np.empty((*frame.codes.shape, 3), np.uint8)
        ab = np.ascontiguousarray(prediction, dtype=np.float32)
        _kernel_threads(bgr.shape)
        ab_merge(frame.codes, frame.tables.fy, frame.tables.y, ab, bgr)
        return encode_bgr(bgr, frame.alpha, fmt)

    def close(self) -> None:
        super().close()
        self._buffers = threading.local()  # the old one, and every thread's buffer, are dropped
