"""YUV 4:2:0 semi-planar (NV12) with JPEG's YCbCr: the pixel layout DVPP's JPEGD writes and JPEGE reads.

JPEG (JFIF) stores full-range BT.601 YCbCr: Y = 0.299 R + 0.587 G + 0.114 B, Cb and Cr centred on 128.
NV12 is a Y plane followed by one plane of interleaved Cb, Cr samples at half resolution, each plane
padded to a width stride and the Y plane to a height stride:

    offset 0:              Y   height_stride rows of width_stride bytes (height rows used)
    offset ws * hs:        CbCr height_stride / 2 rows of width_stride bytes (Cb, Cr, Cb, Cr, ...)

Chroma is the mean of each 2x2 block of full-resolution Cb/Cr; at an odd edge the block holds only the
valid pixels (what libjpeg's edge replication before its 2x2 box filter computes).

float64 numpy: the specification the render's operators and the host paths are checked against.
"""

from __future__ import annotations

import numpy as np

KR, KG, KB = 0.299, 0.587, 0.114  # BT.601 luma weights (JFIF)
CB_SCALE = 0.5 / (1.0 - KB)  # Cb = (B - Y) * CB_SCALE + 128
CR_SCALE = 0.5 / (1.0 - KR)  # Cr = (R - Y) * CR_SCALE + 128


def nv12_size(width_stride: int, height_stride: int) -> int:
    return width_stride * height_stride * 3 // 2


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in 0..255 (float or uint8) -> YCbCr (..., 3) float64, full range."""
    rgb = np.asarray(rgb, dtype=np.float64)
    y = rgb @ np.array([KR, KG, KB])
    cb = (rgb[..., 2] - y) * CB_SCALE + 128.0
    cr = (rgb[..., 0] - y) * CR_SCALE + 128.0
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """YCbCr (..., 3) full range -> RGB (..., 3) float64, unclipped."""
    ycc = np.asarray(ycc, dtype=np.float64)
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    r = y + cr / CR_SCALE
    b = y + cb / CB_SCALE
    g = (y - KR * r - KB * b) / KG
    return np.stack([r, g, b], axis=-1)


def luma(rgb: np.ndarray) -> np.ndarray:
    """8-bit Y (H, W) of an 8-bit RGB image, rounded: what a JPEG encoder stores."""
    return np.clip(np.rint(rgb_to_ycbcr(rgb)[..., 0]), 0, 255).astype(np.uint8)


def subsample(plane: np.ndarray) -> np.ndarray:
    """Mean of each 2x2 block of (H, W); odd edges average the valid pixels only -> (ceil(H/2), ceil(W/2))."""
    plane = np.asarray(plane, dtype=np.float64)
    h, w = plane.shape
    padded = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")  # replicating = averaging the valid ones
    return padded.reshape((h + 1) // 2, 2, (w + 1) // 2, 2).mean(axis=(1, 3))


def rgb_to_nv12_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB (H, W, 3) in 0..255 -> float64 planes Y (H, W), Cb and Cr (ceil(H/2), ceil(W/2)), unrounded."""
    ycc = rgb_to_ycbcr(rgb)
    return ycc[..., 0], subsample(ycc[..., 1]), subsample(ycc[..., 2])


def pack(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, width_stride: int, height_stride: int,
         fill: int = 0) -> np.ndarray:  # fmt: skip
    """uint8 planes -> one NV12 buffer (width_stride * height_stride * 3/2 bytes); padding set to `fill`."""
    h, w = y.shape
    buf = np.full(nv12_size(width_stride, height_stride), fill, np.uint8)
    buf[: width_stride * height_stride].reshape(height_stride, width_stride)[:h, :w] = y
    uv = buf[width_stride * height_stride :].reshape(height_stride // 2, width_stride)
    uv[: cb.shape[0], 0 : 2 * cb.shape[1] : 2] = cb
    uv[: cr.shape[0], 1 : 2 * cr.shape[1] : 2] = cr
    return buf


def unpack(buf: np.ndarray, width: int, height: int, width_stride: int, height_stride: int) -> tuple[
    np.ndarray, np.ndarray, np.ndarray
]:  # fmt: skip
    """One NV12 buffer -> uint8 views Y (height, width), Cb and Cr (ceil(height/2), ceil(width/2))."""
    buf = np.asarray(buf, dtype=np.uint8)
    y = buf[: width_stride * height_stride].reshape(height_stride, width_stride)[:height, :width]
    uv = buf[width_stride * height_stride : nv12_size(width_stride, height_stride)]
    uv = uv.reshape(height_stride // 2, width_stride)[: (height + 1) // 2]
    cw = (width + 1) // 2
    return y, uv[:, 0 : 2 * cw : 2], uv[:, 1 : 2 * cw : 2]


def planes_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """uint8 NV12 planes -> uint8 RGB (H, W, 3), each chroma sample covering its 2x2 block."""
    h, w = y.shape
    up = lambda c: np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:h, :w]  # noqa: E731
    ycc = np.stack([y, up(cb), up(cr)], axis=-1)
    return np.clip(np.rint(ycbcr_to_rgb(ycc)), 0, 255).astype(np.uint8)
