"""The cpu backend's kernels and the codecs under every host backend, per photo size.

    pytest bench/test_kernels.py --benchmark-enable --benchmark-group-by=func
    pytest bench/test_kernels.py -k "ab_merge and one" --benchmark-enable --benchmark-json=k.json  # ns a pixel

The codec floor (libjpeg-turbo luma decode + 4:2:0 encode) is what no CPU pipeline can go below.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np
import pytest
import simplejpeg

from acc.backends.hostimage import encode_bgr
from acc.kernels.cpu.ab_merge import ab_merge, merge_tables
from acc.kernels.cpu.lab_l import gray_l_table, lab_l, linear_table, rgb_l_codes
from conftest import FORMAT, SIZES


@pytest.fixture(scope="module")
def planes(photos) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """size -> (luma codes (H, W), BGR (H, W, 3)) of the corpus photo."""
    out = {}
    for size, (data, _) in photos.items():
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        out[size] = (np.ascontiguousarray(bgr[:, :, 1]), bgr)
    return out


@pytest.mark.parametrize("threads", ["one core", "all cores"])
@pytest.mark.parametrize("size", SIZES)
def test_ab_merge(benchmark, planes, size: float, threads: str) -> None:
    """The render kernel (ab upsample, merge, Lab -> sRGB) on the corpus photo's luma; extra_info has
    its median time per output pixel (ns_per_pixel)."""
    codes = planes[size][0]
    fy, y = merge_tables(gray_l_table(8))
    ab = np.random.default_rng(0).normal(0, 30, (2, 56, 56)).astype(np.float32)
    out = np.empty((*codes.shape, 3), np.uint8)
    numba.set_num_threads(1 if threads == "one core" else numba.config.NUMBA_NUM_THREADS)
    try:
        benchmark(ab_merge, codes, fy, y, ab, out)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    benchmark.extra_info["ns_per_pixel"] = benchmark.stats.stats.median / codes.size * 1e9


@pytest.mark.parametrize("size", SIZES)
def test_lab_l(benchmark, planes, size: float) -> None:
    benchmark(lab_l, planes[size][0], gray_l_table(8), (224, 224), 50.0, 1.0)


@pytest.mark.parametrize("size", SIZES)
def test_exact_l_codes(benchmark, planes, size: float) -> None:
    bgr = planes[size][1]
    out = np.empty(bgr.shape[:2], np.uint16)
    benchmark(rgb_l_codes, bgr, linear_table(8), out)


@pytest.mark.parametrize("size", SIZES)
def test_floor_luma_decode(benchmark, photos, size: float) -> None:
    benchmark(simplejpeg.decode_jpeg, photos[size][0], colorspace="GRAY")


@pytest.mark.parametrize("size", SIZES)
def test_floor_encode_420(benchmark, planes, size: float) -> None:
    benchmark(encode_bgr, planes[size][1], None, FORMAT)
