"""The per-photo CPU fallbacks: decoding what JPEGD refuses, resizing what VPC cannot take, encoding what
JPEGE cannot (PNG output, sizes outside 32..8192), and a JPEG's declared size.

Decoding is acc/backends/hostimage.py's decode_luma: one 8-bit plane standing where JPEGD's Y plane
stands, which the operators take as a gray value.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import simplejpeg

from acc.backends.base import OutputFormat
from acc.backends.hostimage import decode_luma, encode_bgr
from acc.kernels.ascend import nv12

__all__ = ["decode_luma", "encode_planes", "luma_nv12", "resize_luma", "set_jpeg_size"]

NEUTRAL = 128  # chroma of a gray picture (what JPEGD writes for a gray JPEG)


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
