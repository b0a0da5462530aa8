"""LabL on the GPU: a batch of 8-bit luma planes -> model inputs (kernels/reference.py: lab_l).

Photo n's input out[n] (h, w) = (bilinear(L_TABLE[luma_n]) - l_offset) * l_scale, sampled at the points
of reference.resize_bilinear as kernels/cpu/lab_l.py's resample_l does (same taps, same float32 lerps,
same float64 offset and scale), so the GPU's model input is the CPU's up to floating-point contraction.
Only the 4 h w luma values the samples touch are read. The L table (l_table: L_TABLE on the device) is an
argument read through the L1 cache: neighbouring threads look up different levels, which constant memory
would serve one address at a time.
"""

from __future__ import annotations

import numpy as np

from acc.kernels.cpu.lab_l import gray_l_table
from acc.kernels.cpu.taps import tap
from acc.kernels.cuda.target import loaded

cuda = loaded()

L_TABLE = np.array(gray_l_table(8))  # float32 (256,): L of each 8-bit gray (or luma) level
SIGNATURE = "(uint8[:], int64[:], int64[:], int64[:], float64, float64, float32[:], float32[:, :, :])"


@cuda.jit
def lab_l(luma, offsets, heights, widths, l_offset, l_scale, l_table, out):  # noqa: ANN001 (numba-typed)
    """luma: flat uint8 planes (offsets, heights, widths per photo) -> out (N, h, w) float32."""
    n = cuda.blockIdx.y
    base, height, width = offsets[n], heights[n], widths[n]
    h, w = out.shape[1], out.shape[2]
    step = cuda.gridDim.x * cuda.blockDim.x
    for i in range(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, h * w, step):
        y = i // w
        x = i - y * w
        y0, y1, wy = tap(y, height, height / h)
        x0, x1, wx = tap(x, width, width / w)
        r0, r1 = base + y0 * width, base + y1 * width
        top = l_table[luma[r0 + x0]] + (l_table[luma[r0 + x1]] - l_table[luma[r0 + x0]]) * wx
        bottom = l_table[luma[r1 + x0]] + (l_table[luma[r1 + x1]] - l_table[luma[r1 + x0]]) * wx
        out[n, y, x] = (top + (bottom - top) * wy - l_offset) * l_scale
