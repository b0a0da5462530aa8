"""The CUDA kernels' memory throughput on a GPU, against the bandwidth bound (bytes moved / ~4 TB/s on an
H100 or H200): needs a GPU, run by tools/device_check.sh.

    pytest bench/test_cuda_kernels.py -m cuda --benchmark-enable --benchmark-json kernels.json

Each round is one launch over a batch of BATCH photos of one size, synchronized. Bytes moved: AbMerge reads
each luma byte and writes 3 output bytes (ab is a few KB and stays in cache); LabL reads at most 4 luma
bytes per model-input value and writes 4. extra_info has the bytes, GB/s and the share of BANDWIDTH.
"""

from __future__ import annotations

import numpy as np
import pytest

from acc.backends.cuda.driver import gpu_reason

BATCH = 16
BANDWIDTH = 4.0e12  # bytes/s: the H200 device-to-device copy rate measured through PyTorch (about 4.3 TB/s)
SIZES = [0.3, 2.5, 12.0]

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(gpu_reason() is not None, reason=f"needs a GPU: {gpu_reason()}")]


@pytest.fixture(scope="module")
def cuda():
    from acc.kernels.cuda.target import numba_cuda

    return numba_cuda(emulate=False)


def batch(cuda, megapixels: float):
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = int(megapixels * 1e6 / height)
    n = height * width
    rng = np.random.default_rng(0)
    luma = cuda.to_device(rng.integers(0, 256, BATCH * n, dtype=np.uint8))
    offsets = cuda.to_device(np.arange(BATCH, dtype=np.int64) * n)
    heights = cuda.to_device(np.full(BATCH, height, np.int32))
    widths = cuda.to_device(np.full(BATCH, width, np.int32))
    return luma, offsets, heights, widths, n


@pytest.mark.parametrize("size", SIZES)
def test_ab_merge_bandwidth(benchmark, cuda, size: float) -> None:
    from acc.kernels.cuda.ab_merge import ab_merge
    from acc.kernels.cuda.target import batch_grid

    luma, offsets, heights, widths, n = batch(cuda, size)
    ab = cuda.to_device(np.random.default_rng(1).normal(0, 30, (BATCH, 2, 56, 56)).astype(np.float32))
    out = cuda.device_array(3 * BATCH * n, np.uint8)
    out_offsets = cuda.to_device(np.arange(BATCH, dtype=np.int64) * 3 * n)
    grid, threads = batch_grid(n, BATCH)

    def run() -> None:
        ab_merge[grid, threads](luma, offsets, heights, widths, ab, False, out_offsets, out)
        cuda.synchronize()

    benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    moved = 4 * BATCH * n
    rate = moved / benchmark.stats.stats.median
    benchmark.extra_info.update(bytes=moved, gb_per_s=rate / 1e9, share_of_bandwidth=rate / BANDWIDTH)


@pytest.mark.parametrize("size", SIZES)
def test_lab_l_bandwidth(benchmark, cuda, size: float) -> None:
    from acc.kernels.cuda.lab_l import lab_l
    from acc.kernels.cuda.target import batch_grid

    luma, offsets, heights, widths, _ = batch(cuda, size)
    out = cuda.device_array((BATCH, 224, 224), np.float32)
    grid, threads = batch_grid(224 * 224, BATCH)

    def run() -> None:
        lab_l[grid, threads](luma, offsets, heights, widths, 50.0, 1.0, out)
        cuda.synchronize()

    benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    moved = BATCH * 224 * 224 * (4 + 4)
    rate = moved / benchmark.stats.stats.median
    benchmark.extra_info.update(bytes=moved, gb_per_s=rate / 1e9, share_of_bandwidth=rate / BANDWIDTH)
