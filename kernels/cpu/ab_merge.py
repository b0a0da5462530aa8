"""AbMerge on the CPU: one fused, multithreaded pass (kernels/reference.py: ab_merge).

For each pixel (y, x) of an (H, W) photo whose luminance is codes[y, x] (lab_l.py):

    a, b    = bilinear(ab)(y, x)                    reference.resize_bilinear (OpenCV INTER_LINEAR)
    fy      = (L + 16) / 116,  fx = fy + a / 500,  fz = fy - b / 200
    X, Y, Z = Xn f^-1(fx),  f^-1(fy),  Zn f^-1(fz)  f^-1(t) = t^3 above 6/29, else 3 (6/29)^2 (t - 4/29)
    B, G, R = XYZ_TO_RGB @ (X, Y, Z), clipped to [0, 1] (linear light)
    out     = the 8-bit sRGB level of each, from a 16384-entry table

fy and Y depend on the code alone, so they come from per-code tables (merge_tables). The sRGB table
rounds at 1/16383 steps of linear light: at most one level off exact rounding, on ~0.5 % of pixels.
ab is upsampled separably: the h rows of ab are resized to the photo's width once (as a / 500 and
-b / 200, with the difference to the next row beside each), then each output row lerps two of them.

Speed: each pixel is a handful of multiply-adds and four table lookups (fy, Y and the sRGB level of
three channels, whose indices are 16-bit so that they gather 16 at a time with AVX-512 or 8 with AVX2).
The per-row loop vectorises only where LLVM knows the arrays it reads and writes do not overlap: the
rows are a prange loop, whose body numba compiles with its arrays marked noalias once its own analysis
finds no aliases. On one core this runs at about 1.7 ns a pixel (bench/test_kernels.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from acc.kernels import reference as ref
from acc.kernels.cpu.taps import linear_taps

SRGB_STEPS = 16383
# uint8 (SRGB_STEPS + 1,): sRGB level of linear light i / SRGB_STEPS, rounded.
SRGB_TABLE = np.rint(ref.linear_to_srgb(np.arange(SRGB_STEPS + 1) / SRGB_STEPS) * 255).astype(np.uint8)
# The same levels as int32: x86 gathers load 4-byte elements, so a byte table would be read one by one.
_SRGB_LEVELS = SRGB_TABLE.astype(np.int32)
# XYZ -> linear RGB with the white point folded in (X = Xn f^-1(fx) ...), rows in B, G, R order, in
# steps of the sRGB table (x SRGB_STEPS), so that a row's dot product is the table position itself.
_M = (ref.XYZ_TO_RGB * ref.WHITE_D65[None, :])[::-1] * SRGB_STEPS
_DELTA = np.float32(ref.DELTA)
_LINEAR_SLOPE = np.float32(3 * ref.DELTA**2)
_FOUR_29 = np.float32(4 / 29)


def merge_tables(l_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-code fy = (L + 16) / 116 and Y = f^-1(fy) (relative luminance), float32, from a code -> L table."""
    fy = (l_table.astype(np.float64) + 16.0) / 116.0
    return fy.astype(np.float32), ref._f_inv(fy).astype(np.float32)


# The same matrix as scalars, so that the per-pixel function below sees them as compile-time constants.
_M00, _M01, _M02, _M10, _M11, _M12, _M20, _M21, _M22 = (np.float32(v) for v in _M.ravel())


@njit(inline="always")
def f_inv(t: float) -> float:
    return t * t * t if t > _DELTA else _LINEAR_SLOPE * (t - _FOUR_29)


_HALF, _TOP = np.float32(0.5), np.float32(SRGB_STEPS + 0.5)


@njit(inline="always")
def table_index(position: float) -> int:
    """Table position (linear light x SRGB_STEPS) + 0.5 -> index into SRGB_TABLE: clipped, then truncated."""
    return np.int32(min(max(position, _HALF), _TOP))


@njit(inline="always")
def srgb_indices(fy: float, lum: float, fa: float, fb: float) -> tuple[int, int, int]:
    """One pixel: fy = (L + 16) / 116, lum = Y, fa = a / 500, fb = -b / 200 -> SRGB_TABLE indices (B, G, R).

    Written once for both devices: the CUDA kernel (kernels/cuda/ab_merge.py) calls it per pixel too.
    """
    cx, cz = f_inv(fy + fa), f_inv(fy + fb)  # X / Xn, Z / Zn;  Y = lum
    return (table_index(_M00 * cx + (_M01 * lum + (_M02 * cz + _HALF))),
            table_index(_M10 * cx + (_M11 * lum + (_M12 * cz + _HALF))),
            table_index(_M20 * cx + (_M21 * lum + (_M22 * cz + _HALF))))  # fmt: skip


@njit(parallel=True, nogil=True, cache=True, fastmath=True)
def ab_merge(codes: np.ndarray, fy_of: np.ndarray, y_of: np.ndarray, ab: np.ndarray, out: np.ndarray) -> None:
    """codes (H, W) uint8/uint16 + per-code fy_of, y_of (merge_tables) + ab (2, h, w) float32 in Lab
    units -> out (H, W, 3) uint8 BGR, C-contiguous."""
    height, width = codes.shape
    h, w = ab.shape[1], ab.shape[2]
    y0s, y1s, wys = linear_taps(height, h, h / height)
    x0s, x1s, wxs = linear_taps(width, w, w / width)
    # The bilinear upsample is separable: each of the h rows of ab is resized to the photo's width
    # once (as a / 500 and -b / 200), with its difference to the next row, so that an output row is
    # row + difference * weight, one multiply-add (h x W floats each).
    a_rows, b_rows = np.empty((h, width), np.float32), np.empty((h, width), np.float32)
    for r in range(h):
        for x in range(width):
            a0, b0 = ab[0, r, x0s[x]], ab[1, r, x0s[x]]
            a_rows[r, x] = (a0 + (ab[0, r, x1s[x]] - a0) * wxs[x]) * np.float32(1 / 500)
            b_rows[r, x] = (b0 + (ab[1, r, x1s[x]] - b0) * wxs[x]) * np.float32(-1 / 200)
    a_steps, b_steps = np.zeros((h, width), np.float32), np.zeros((h, width), np.float32)
    for r in range(h - 1):
        for x in range(width):
            a_steps[r, x] = a_rows[r + 1, x] - a_rows[r, x]
            b_steps[r, x] = b_rows[r + 1, x] - b_rows[r, x]
    flat = out.reshape(height, width * 3)  # interleaved stores vectorise on a flat row, not on [x, c]
    for y in prange(height):
        r, wy = y0s[y], wys[y]  # y1s[y] is r + 1, or r (the last row, whose step is 0) with weight 0
        for x in range(width):
            code = codes[y, x]
            i0, i1, i2 = srgb_indices(fy_of[code], y_of[code], a_rows[r, x] + a_steps[r, x] * wy,
                                      b_rows[r, x] + b_steps[r, x] * wy)  # fmt: skip
            flat[y, 3 * x] = _SRGB_LEVELS[np.uint16(i0)]
            flat[y, 3 * x + 1] = _SRGB_LEVELS[np.uint16(i1)]
            flat[y, 3 * x + 2] = _SRGB_LEVELS[np.uint16(i2)]
