"""Shared by the CUDA tests: the kernels in numba-cuda's simulator or on a GPU, and flat batch buffers.

One process runs numba-cuda in one mode (acc/kernels/cuda/target.py). A plain `pytest` runs the
simulator side of every test; `pytest -m cuda` (tools/device_check.sh, on a machine with a GPU) selects
the GPU side, which is skipped elsewhere and never counted as passing here.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from acc.backends.cuda.driver import gpu_reason

SIMULATOR = "simulator"
GPU = "gpu"
MODES = [SIMULATOR, pytest.param(GPU, marks=pytest.mark.cuda)]


def numba_cuda_or_skip(mode: str):
    """numba.cuda in `mode`, or skip the test saying why it cannot run in this process."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")
    from acc.kernels.cuda.target import CudaUnavailable, numba_cuda

    if mode == GPU and gpu_reason():
        pytest.skip(f"needs an NVIDIA GPU: {gpu_reason()}")
    try:
        return numba_cuda(emulate=mode == SIMULATOR)
    except CudaUnavailable as exc:
        pytest.skip(f"{exc} (run `pytest -m cuda` apart on a GPU machine)")


def kernels(mode: str) -> SimpleNamespace:
    """The kernel modules, compiled for `mode`."""
    cuda = numba_cuda_or_skip(mode)
    from acc.kernels.cuda import ab_merge, lab_l, target

    return SimpleNamespace(cuda=cuda, lab_l=lab_l, ab_merge=ab_merge, target=target)


def pack(planes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Luma planes -> (flat uint8 buffer, offsets int64, heights int32, widths int32), as the backend lays
    out a batch; 7 guard bytes of 77 after the last plane catch reads and writes past the end."""
    sizes = [p.size for p in planes]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([p.ravel() for p in planes] + [np.full(7, 77, np.uint8)]).astype(np.uint8)
    heights = np.array([p.shape[0] for p in planes], np.int32)
    widths = np.array([p.shape[1] for p in planes], np.int32)
    return flat, offsets, heights, widths
