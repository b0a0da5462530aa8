"""LabL on the CPU: a photo's luminance -> the model input (kernels/reference.py: lab_l, image_l).

A photo's luminance is held as integer codes (H, W) and a float32 table code -> L (0..100):

    gray_l_table(8)   8-bit gray, or JPEG luma Y' as a stand-in for L: L(g) of reference.gray_to_l
    gray_l_table(16)  16-bit gray: the same function over 65536 codes
    EXACT_L_TABLE     codes from rgb_l_codes: L of colour pixels, quantized to 100 / 65535

lab_l samples table[code] bilinearly at the model size, at the reference's (and the OpenCV
baseline's) sampling points, so L is only ever computed for the 4 h w pixels the samples touch: no
full-size L, and nothing read of the photo but those pixels. Like the reference, and the seed, it does
not anti-alias.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit, prange

from acc.kernels import reference as ref
from acc.kernels.cpu.taps import linear_taps

EXACT_L_STEPS = 65535.0 / 100.0  # rgb_l_codes: code = round(L * EXACT_L_STEPS)
EXACT_L_TABLE = (np.arange(65536) / EXACT_L_STEPS).astype(np.float32)


@cache
def gray_l_table(bits: int) -> np.ndarray:
    """float32 (2**bits,): L of each gray level of a `bits`-deep image (read-only)."""
    table = ref.gray_to_l(np.arange(2**bits) / (2**bits - 1)).astype(np.float32)
    table.flags.writeable = False
    return table


@cache
def linear_table(bits: int) -> np.ndarray:
    """float32 (2**bits,): linear light of each sRGB level of a `bits`-deep image (read-only)."""
    table = ref.srgb_to_linear(np.arange(2**bits) / (2**bits - 1)).astype(np.float32)
    table.flags.writeable = False
    return table


# Y row of reference.RGB_TO_XYZ (white Y = 1), in B, G, R order.
_YB, _YG, _YR = (np.float32(c) for c in ref.RGB_TO_XYZ[1][::-1])
# L = 116 f(Y) - 16 at Y = i / L_OF_Y_STEPS, linearly interpolated by rgb_l_codes: the curve is smooth
# enough that the error stays below 1e-3 L, and a cube root per pixel would cost 20x the rest.
L_OF_Y_STEPS = 4096
_L_OF_Y = (116.0 * ref._f(np.arange(L_OF_Y_STEPS + 1) / L_OF_Y_STEPS) - 16.0).astype(np.float32)


@njit(parallel=True, nogil=True, cache=True)
def rgb_l_codes(bgr: np.ndarray, linear: np.ndarray, out: np.ndarray) -> None:
    """Exact L of colour pixels: bgr (H, W, 3) uint8/uint16 -> out (H, W) uint16 codes (EXACT_L_TABLE).

    Y = linear luminance (the Y row of RGB_TO_XYZ over linear[level]), L = 116 f(Y) - 16, as
    reference.image_l. `linear` is linear_table(8 or 16), for the samples' depth.
    """
    height, width = out.shape
    for y in prange(height):
        for x in range(width):
            lum = _YB * linear[bgr[y, x, 0]] + _YG * linear[bgr[y, x, 1]] + _YR * linear[bgr[y, x, 2]]
            t = min(max(lum, np.float32(0)), np.float32(1)) * np.float32(L_OF_Y_STEPS)
            i = min(int(t), L_OF_Y_STEPS - 1)
            lightness = _L_OF_Y[i] + (_L_OF_Y[i + 1] - _L_OF_Y[i]) * (t - np.float32(i))
            out[y, x] = np.uint16(lightness * np.float32(EXACT_L_STEPS) + np.float32(0.5))


@njit(nogil=True, cache=True)
def resample_l(codes: np.ndarray, table: np.ndarray, l_offset: float, l_scale: float, out: np.ndarray) -> None:
    """out (h, w) float32 = (bilinear(table[codes]) - l_offset) * l_scale; codes (H, W) uint8/uint16.

    The bilinear resize of reference.resize_bilinear (OpenCV INTER_LINEAR geometry), of L = table[code].
    """
    height, width = out.shape
    y0s, y1s, wys = linear_taps(height, codes.shape[0], codes.shape[0] / height)
    x0s, x1s, wxs = linear_taps(width, codes.shape[1], codes.shape[1] / width)
    for y in range(height):
        r0, r1, wy = codes[y0s[y]], codes[y1s[y]], wys[y]
        for x in range(width):
            x0, x1, wx = x0s[x], x1s[x], wxs[x]
            top = table[r0[x0]] + (table[r0[x1]] - table[r0[x0]]) * wx
            bottom = table[r1[x0]] + (table[r1[x1]] - table[r1[x0]]) * wx
            out[y, x] = (top + (bottom - top) * wy - l_offset) * l_scale


def lab_l(
    codes: np.ndarray, table: np.ndarray, size: tuple[int, int], l_offset: float, l_scale: float
) -> np.ndarray:
    """LabL: luminance codes (H, W) + their L table -> model input (h, w) float32 = (L - l_offset) * l_scale."""
    out = np.empty(size, np.float32)
    resample_l(codes, table, l_offset, l_scale, out)
    return out
