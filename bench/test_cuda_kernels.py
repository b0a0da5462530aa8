"""The CUDA kernels' memory throughput on a GPU, against the bandwidth bound (bytes moved / the card's
device-to-device copy rate, BANDWIDTH): needs a GPU, run by tools/device_check.sh.

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
# bytes/s, read plus written, of a large device-to-device copy through PyTorch on the machines lent here
# (the device tool's notes: H100 80GB HBM3 about 3.0 TB/s, 2026-11-13; H200 about 4.3 TB/s, 2026-10-28);
# the datasheets' peaks are 3.35 and 4.8 TB/s.
BANDWIDTH = {"H100": 3.0e12, "H200": 4.3e12}
SIZES = [0.3, 2.5, 12.0]

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(gpu_reason() is not None, reason=f"needs a GPU: {gpu_reason()}")]


@pytest.fixture(scope="module")
def cuda():
    from acc.kernels.cuda.target import numba_cuda

    return numba_cuda(emulate=False)


def bandwidth() -> float:
    """The copy rate of the card at hand (by its name), the H100's when it is neither."""
    from acc.backends.cuda.driver import driver_info

    name = driver_info().gpus[0].name
    return next((rate for card, rate in BANDWIDTH.items() if card in name), BANDWIDTH["H100"])


def batch(cuda, megapixels: float):
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = int(megapixels * 1e6 / height)
    n = height * width
    rng = np.random.default_rng(0)
    luma = cuda.to_device(rng.integers(0, 256, BATCH * n, dtype=np.uint8))
    offsets = cuda.to_device(np.arange(BATCH, dtype=np.int64) * n)
    heights = cuda.to_device(np.full(BATCH, height, np.int64))
    widths = cuda.to_device(np.full(BATCH, width, np.int64))
    return luma, offsets, heights, widths, n


@pytest.mark.parametrize("size", SIZES)
def test_ab_merge_bandwidth(benchmark, cuda, size: float) -> None:
    from acc.kernels.cuda.ab_merge import TABLES, ab_merge
    from acc.kernels.cuda.target import batch_grid

    luma, offsets, heights, widths, n = batch(cuda, size)
    ab = cuda.to_device(np.random.default_rng(1).normal(0, 30, (BATCH, 2, 56, 56)).astype(np.float32))
    out = cuda.device_array(3 * BATCH * n, np.uint8)
    out_offsets = cuda.to_device(np.arange(BATCH, dtype=np.int64) * 3 * n)
    grid, threads = batch_grid(n, BATCH)
    tables = [cuda.to_device(t) for t in TABLES]

    def run() -> None:
        ab_merge[grid, threads](luma, offsets, heights, widths, ab, False, out_offsets, out, *tables)
        cuda.synchronize()

    benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    moved = 4 * BATCH * n
    rate = moved / benchmark.stats.stats.median
    benchmark.extra_info.update(bytes=moved, gb_per_s=rate / 1e9, share_of_bandwidth=rate / bandwidth())


@pytest.mark.parametrize("size", SIZES)
def test_lab_l_bandwidth(benchmark, cuda, size: float) -> None:
    from acc.kernels.cuda.lab_l import L_TABLE, lab_l
    from acc.kernels.cuda.target import batch_grid

    luma, offsets, heights, widths, _ = batch(cuda, size)
    out = cuda.device_array((BATCH, 224, 224), np.float32)
    grid, threads = batch_grid(224 * 224, BATCH)
    table = cuda.to_device(L_TABLE)

    def run() -> None:
        lab_l[grid, threads](luma, offsets, heights, widths, 50.0, 1.0, table, out)
        cuda.synchronize()

    benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    moved = BATCH * 224 * 224 * (4 + 4)
    rate = moved / benchmark.stats.stats.median
    benchmark.extra_info.update(bytes=moved, gb_per_s=rate / 1e9, share_of_bandwidth=rate / bandwidth())
