"""The per-photo CPU fallbacks: decoding what JPEGD refuses, resizing what VPC cannot take, encoding what
JPEGE cannot (PNG output, sizes outside 32..8192), and a JPEG's declared size.

Decoding reuses acc/backends/hostimage.py (every format, 16-bit samples, alpha, EXIF orientation);
the result is one 8-bit plane standing where JPEGD's Y plane stands, and the operators take it as a
gray value: for a JPEG, the Y it stores (libjpeg-turbo's gray decode; L from luma, as JPEGD gives);
for other colour images, whose RGB is decoded anyway, the gray value of the same relative luminance,
sRGB(Y_linear), so that L is the contract's L from RGB up to 8-bit rounding (as the cpu backend's).
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import simplejpeg

from acc.backends.base import OutputFormat
from acc.backends.hostimage import apply_orientation, decode_unchanged, encode_bgr, split_alpha
from acc.kernels import reference
from acc.kernels.ascend import nv12
from acc.probe import BadImage, ImageInfo

NEUTRAL = 128  # chroma of a gray picture (what JPEGD writes for a gray JPEG)


def decode_luma(data: bytes, info: ImageInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """(upright 8-bit luma (H, W), 8-bit alpha or None)."""
    if info.format == "jpeg":
        try:
            y = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
        except ValueError:
            y = None  # a JPEG libjpeg-turbo's fast path refuses (CMYK, ...): OpenCV below
        if y is not None:
            if y.shape != (info.height, info.width):
                raise BadImage(f"decoded size {y.shape[1]}x{y.shape[0]} differs from the header's")
            return apply_orientation(y, info.orientation), None
    pixels, alpha, peak = split_alpha(decode_unchanged(data, info))
    if info.format == "jpeg":
        pixels = apply_orientation(pixels, info.orientation)
    if peak != 255.0:
        pixels = np.clip(np.rint(pixels * (255.0 / peak)), 0, 255).astype(np.uint8)
    return (pixels if pixels.ndim == 2 else luminance_gray(pixels[:, :, ::-1])), alpha


def luminance_gray(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB -> the 8-bit gray value with the same relative luminance (hence the same L*)."""
    y = reference.srgb_to_linear(rgb / 255.0) @ reference.RGB_TO_XYZ[1]
    return np.clip(np.rint(reference.linear_to_srgb(y) * 255.0), 0, 255).astype(np.uint8)


def luma_nv12(y: np.ndarray, width_stride: int, height_stride: int) -> bytes:
    """A luma plane as an NV12 picture with neutral chroma, laid out with the given strides."""
    h, w = y.shape
    chroma = np.full(((h + 1) // 2, (w + 1) // 2), NEUTRAL, np.uint8)
    return nv12.pack(y, chroma, chroma, width_stride, height_stride).tobytes()


def resize_luma(y: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (OpenCV geometry, as VPC's interpolation 1) to size = (h, w)."""
    h, w = size
    return cv2.resize(y, (w, h), interpolation=cv2.INTER_LINEAR)


def encode_planes(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, width: int, height: int,
                  alpha: np.ndarray | None, fmt: OutputFormat) -> bytes:  # fmt: skip
    """NV12 planes of an even-sized picture covering the photo (width x height) -> JPEG or PNG bytes."""
    if fmt.kind == "jpeg":
        jpeg = simplejpeg.encode_jpeg_yuv_planes(*(np.ascontiguousarray(p) for p in (y, cb, cr)), fmt.quality)
        return set_jpeg_size(jpeg, width, height)
    half = ((height + 1) // 2, (width + 1) // 2)
    rgb = nv12.planes_to_rgb(y[:height, :width], cb[: half[0], : half[1]], cr[: half[0], : half[1]])
    return encode_bgr(np.ascontiguousarray(rgb[:, :, ::-1]), alpha, fmt)


def set_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header declaring width x height, at most one pixel less each way.

    JPEGE and the YUV encoders take even sizes only; an odd-sized photo is encoded one column or row
    larger and declared at its own size. Decoders crop to the declared size, and the coded data is the
    same either way: 4:2:0 MCUs are 16 pixels, so both sizes need the same number of them.
    """
    pos = 2
    while pos + 9 <= len(jpeg):
        marker, length = jpeg[pos + 1], struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            old_h, old_w = struct.unpack(">HH", jpeg[pos + 5 : pos + 9])
            if not (0 <= old_w - width <= 1 and 0 <= old_h - height <= 1):
                raise ValueError(f"cannot declare {width}x{height} for a {old_w}x{old_h} JPEG")
            return jpeg[: pos + 5] + struct.pack(">HH", height, width) + jpeg[pos + 9 :]
        pos += 2 + length
    raise ValueError("no JPEG frame header")
