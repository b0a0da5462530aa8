"""AbMerge on the GPU: ab + a batch of 8-bit luma planes -> interleaved 8-bit sRGB (kernels/reference.py:
ab_merge), written for the JPEG encoder.

Per pixel, the maths of kernels/cpu/ab_merge.py: ab sampled bilinearly at the pixel (same taps, the same
lerps: along x first, a / 500 and -b / 200, then along y), fy and Y of the luma level from per-level
tables, srgb_indices (Lab -> XYZ -> linear RGB, clipped), the 16384-entry sRGB table. The only
difference is the order of work: the CPU resizes ab rows once per photo, the GPU lerps per pixel (ab is
small and stays in cache), which rounds identically.

The tables (TABLES, on the device) are arguments read through the L1 cache, not constant memory: a warp's
pixels look up different entries, which constant memory serves one address at a time, and L1 one cache
line at a time (neighbouring pixels' entries share lines). Shared memory would need each block to fill it
and wait at a barrier: 18 KB a block, about the L2 traffic of the block's own pixels.
"""

from __future__ import annotations

import numpy as np

from acc.kernels.cpu.ab_merge import SRGB_TABLE, merge_tables, srgb_indices
from acc.kernels.cpu.taps import tap
from acc.kernels.cuda.lab_l import L_TABLE
from acc.kernels.cuda.target import loaded

cuda = loaded()

FY_TABLE, Y_TABLE = merge_tables(L_TABLE)  # float32 (256,) each: fy = (L + 16) / 116 and Y per level
TABLES = (FY_TABLE, Y_TABLE, SRGB_TABLE)  # the kernel's last three arguments
SIGNATURE = ("(uint8[:], int64[:], int64[:], int64[:], float32[:, :, :, :], boolean, int64[:], uint8[:], "
             "float32[:], float32[:], uint8[:])")  # fmt: skip


@cuda.jit
def ab_merge(luma, offsets, heights, widths, ab, bgr, out_offsets, out, fy_table, y_table, srgb_table):  # noqa: ANN001
    """luma: flat uint8 planes + ab (N, 2, h, w) float32 in Lab units -> out: flat uint8, photo n's
    pixels interleaved from out_offsets[n] on, in R, G, B order (B, G, R when bgr)."""
    n = cuda.blockIdx.y
    base, height, width = offsets[n], heights[n], widths[n]
    h, w = ab.shape[2], ab.shape[3]
    first, last = (0, 2) if bgr else (2, 0)  # where B and R go
    step = cuda.gridDim.x * cuda.blockDim.x
    for i in range(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, height * width, step):
        y = i // width
        x = i - y * width
        y0, y1, wy = tap(y, h, h / height)
        x0, x1, wx = tap(x, w, w / width)
        a_top = (ab[n, 0, y0, x0] + (ab[n, 0, y0, x1] - ab[n, 0, y0, x0]) * wx) * np.float32(1 / 500)
        a_bottom = (ab[n, 0, y1, x0] + (ab[n, 0, y1, x1] - ab[n, 0, y1, x0]) * wx) * np.float32(1 / 500)
        b_top = (ab[n, 1, y0, x0] + (ab[n, 1, y0, x1] - ab[n, 1, y0, x0]) * wx) * np.float32(-1 / 200)
        b_bottom = (ab[n, 1, y1, x0] + (ab[n, 1, y1, x1] - ab[n, 1, y1, x0]) * wx) * np.float32(-1 / 200)
        level = luma[base + i]
        i_b, i_g, i_r = srgb_indices(fy_table[level], y_table[level], a_top + (a_bottom - a_top) * wy,
                                     b_top + (b_bottom - b_top) * wy)  # fmt: skip
        o = out_offsets[n] + 3 * i
        out[o + first] = srgb_table[i_b]
        out[o + 1] = srgb_table[i_g]
        out[o + last] = srgb_table[i_r]
