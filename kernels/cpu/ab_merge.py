"""AbMerge on the CPU: one fused, multithreaded pass (kernels/reference.py: ab_merge).

For each pixel (y, x) of an (H, W) photo whose luminance is codes[y, x] (lab_l.py):

    a, b    = bilinear(ab)(y, x)                    reference.resize_bilinear (OpenCV INTER_LINEAR)
    fy      = (L + 16) / 116,  fx = fy + a / 500,  fz = fy - b / 200
    X, Y, Z = Xn f^-1(fx),  f^-1(fy),  Zn f^-1(fz)  f^-1(t) = t^3 above 6/29, else 3 (6/29)^2 (t - 4/29)
    B, G, R = XYZ_TO_RGB @ (X, Y, Z), clipped to [0, 1] (linear light)
    out     = the 8-bit sRGB level of each, from a 16384-entry table

fy and Y depend on the code alone, so they come from per-code tables (merge_tables). The sRGB table
rounds at 1/16383 steps of linear light: at most one level off exact rounding, on ~0.5 % of pixels.
ab is upsampled separably (h rows resized to the photo's width once, then two of them lerped per output
row) and each row works in row-sized scratch buffers: no full-size float array exists.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from acc.kernels import reference as ref
from acc.kernels.cpu.taps import linear_taps

SRGB_STEPS = 16383
# uint8 (SRGB_STEPS + 1,): sRGB level of linear light i / SRGB_STEPS, rounded.
SRGB_TABLE = np.rint(ref.linear_to_srgb(np.arange(SRGB_STEPS + 1) / SRGB_STEPS) * 255).astype(np.uint8)
# XYZ -> linear RGB with the white point folded in (X = Xn f^-1(fx) ...), rows in B, G, R order.
_M = (ref.XYZ_TO_RGB * ref.WHITE_D65[None, :])[::-1].astype(np.float32)
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


@njit(inline="always")
def table_index(v: float) -> int:
    """Linear light, clipped to [0, 1] -> index into SRGB_TABLE."""
    return np.int32(min(max(v, np.float32(0)), np.float32(1)) * np.float32(SRGB_STEPS) + np.float32(0.5))


@njit(inline="always")
def srgb_indices(fy: float, lum: float, fa: float, fb: float) -> tuple[int, int, int]:
    """One pixel: fy = (L + 16) / 116, lum = Y, fa = a / 500, fb = -b / 200 -> SRGB_TABLE indices (B, G, R).

    Written once for both devices: the CUDA kernel (kernels/cuda/ab_merge.py) calls it per pixel too.
    """
    cx, cz = f_inv(fy + fa), f_inv(fy + fb)  # X / Xn, Z / Zn;  Y = lum
    return (table_index(_M00 * cx + _M01 * lum + _M02 * cz),
            table_index(_M10 * cx + _M11 * lum + _M12 * cz),
            table_index(_M20 * cx + _M21 * lum + _M22 * cz))  # fmt: skip


@njit(parallel=True, nogil=True, cache=True, fastmath=True)
def ab_merge(codes: np.ndarray, fy_of: np.ndarray, y_of: np.ndarray, ab: np.ndarray, out: np.ndarray) -> None:
    """codes (H, W) uint8/uint16 + per-code fy_of, y_of (merge_tables) + ab (2, h, w) float32 in Lab
    units -> out (H, W, 3) uint8 BGR."""
    height, width = codes.shape
    h, w = ab.shape[1], ab.shape[2]
    y0s, y1s, wys = linear_taps(height, h, h / height)
    x0s, x1s, wxs = linear_taps(width, w, w / width)
    # The bilinear upsample is separable: each of the h rows of ab is resized to the photo's width
    # once (as a / 500 and -b / 200), then every output row is a lerp of two of them (h x W floats).
    a_rows, b_rows = np.empty((h, width), np.float32), np.empty((h, width), np.float32)
    for r in range(h):
        for x in range(width):
            a0, b0 = ab[0, r, x0s[x]], ab[1, r, x0s[x]]
            a_rows[r, x] = (a0 + (ab[0, r, x1s[x]] - a0) * wxs[x]) * np.float32(1 / 500)
            b_rows[r, x] = (b0 + (ab[1, r, x1s[x]] - b0) * wxs[x]) * np.float32(-1 / 200)
    for y in prange(height):
        # row scratch: per column fy and Y, then the three sRGB table indices
        fys, ys = np.empty(width, np.float32), np.empty(width, np.float32)
        i0, i1, i2 = np.empty(width, np.int32), np.empty(width, np.int32), np.empty(width, np.int32)
        a_top, a_bottom, wy = a_rows[y0s[y]], a_rows[y1s[y]], wys[y]
        b_top, b_bottom = b_rows[y0s[y]], b_rows[y1s[y]]
        for x in range(width):  # table gathers apart, so that the arithmetic below vectorises
            fys[x] = fy_of[codes[y, x]]
            ys[x] = y_of[codes[y, x]]
        for x in range(width):
            fa = a_top[x] + (a_bottom[x] - a_top[x]) * wy
            fb = b_top[x] + (b_bottom[x] - b_top[x]) * wy
            i0[x], i1[x], i2[x] = srgb_indices(fys[x], ys[x], fa, fb)
        for x in range(width):
            out[y, x, 0] = SRGB_TABLE[i0[x]]
            out[y, x, 1] = SRGB_TABLE[i1[x]]
            out[y, x, 2] = SRGB_TABLE[i2[x]]
