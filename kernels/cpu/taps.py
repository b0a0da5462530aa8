"""Bilinear sampling taps with OpenCV's INTER_LINEAR geometry (kernels/reference.py: resize_bilinear)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def linear_taps(n_out: int, n_src: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output index i: (i0, i1, weight of i1), int64, int64, float32, all of length n_out.

    Source coordinate (i + 0.5) * scale - 0.5 (half-pixel centres), clamped to [0, n_src - 1] (edge
    replication). scale = n_src / n_out for a plain resize; other scales sample a reduced image in the
    coordinates of the full one (lab_l).
    """
    i0 = np.empty(n_out, np.int64)
    i1 = np.empty(n_out, np.int64)
    weight = np.empty(n_out, np.float32)
    for i in range(n_out):
        s = min(max((i + 0.5) * scale - 0.5, 0.0), n_src - 1.0)
        j = int(s)  # floor, s >= 0
        i0[i] = j
        i1[i] = min(j + 1, n_src - 1)
        weight[i] = s - j
    return i0, i1, weight
