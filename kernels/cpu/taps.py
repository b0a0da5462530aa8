"""Bilinear sampling taps with OpenCV's INTER_LINEAR geometry (kernels/reference.py: resize_bilinear).

`tap` is the geometry of one output index, written once: the CPU kernels use it through linear_taps, the
CUDA kernels (kernels/cuda) call the same function per pixel (numba-cuda compiles njit functions called
from a kernel for the device).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always")
def tap(i: int, n_src: int, scale: float) -> tuple[int, int, np.float32]:
    """(i0, i1, weight of i1) for output index i.

    Source coordinate (i + 0.5) * scale - 0.5 (half-pixel centres), in float64, clamped to [0, n_src - 1]
    (edge replication). scale = n_src / n_out for a plain resize; other scales sample a reduced image in
    the coordinates of the full one (lab_l).
    """
    s = min(max((i + 0.5) * scale - 0.5, 0.0), n_src - 1.0)
    j = int(s)  # floor, s >= 0
    return j, min(j + 1, n_src - 1), np.float32(s - j)


@njit(nogil=True, cache=True)
def linear_taps(n_out: int, n_src: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output index i: tap(i, n_src, scale) as arrays (int64, int64, float32), of length n_out."""
    i0 = np.empty(n_out, np.int64)
    i1 = np.empty(n_out, np.int64)
    weight = np.empty(n_out, np.float32)
    for i in range(n_out):
        i0[i], i1[i], weight[i] = tap(i, n_src, scale)
    return i0, i1, weight
