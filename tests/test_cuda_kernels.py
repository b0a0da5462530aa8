"""The CUDA kernels (kernels/cuda/) against the float64 spec (kernels/reference.py) and the CPU kernels.

Run in numba-cuda's simulator here (small images: it is a Python thread per CUDA thread) and on a GPU
with `pytest -m cuda`. Tolerances, as for the CPU kernels (tests/test_cpu_kernels.py):
- LabL: within 1e-3 L units of reference.lab_l everywhere, and within 1e-4 of the CPU kernel (the
  same taps and lerps; only floating-point contraction may differ);
- AbMerge: at most 1 level of 255 per channel of reference.ab_merge anywhere, exact on at least 98 %
  of values, and equal to the CPU kernel on at least 99.9 % of values (at most 1 level elsewhere).
Outputs are poisoned: float outputs start as NaN, uint8 outputs are run twice (pre-filled with 0 and
255) and must agree; guard bytes after the batch must be left alone. Several photos of different sizes
share one launch, with grids of one and of several blocks, so that the grid-stride loops are exercised.
The PTX build for sm_90 runs in a separate process (the simulator and the compiler cannot share one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.kernels import reference as ref
from acc.kernels.cpu.ab_merge import ab_merge as cpu_ab_merge
from acc.kernels.cpu.ab_merge import merge_tables
from acc.kernels.cpu.lab_l import gray_l_table, lab_l as cpu_lab_l
from cuda_support import MODES, kernels, pack

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.jpg"))
L_TOL = 1e-3


@pytest.fixture(params=MODES)
def k(request):
    return kernels(request.param)


def random_gray(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def random_ab(n: int, size: tuple[int, int], seed: int, spread: float = 60.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, spread, (n, 2, *size)).astype(np.float32)


def example_crop(index: int, shape: tuple[int, int]) -> np.ndarray:
    """A crop of a real photograph's gray, taken at its centre (the simulator needs small images)."""
    gray = cv2.imread(str(EXAMPLES[index]), cv2.IMREAD_GRAYSCALE)
    top, left = (gray.shape[0] - shape[0]) // 2, (gray.shape[1] - shape[1]) // 2
    return np.ascontiguousarray(gray[top : top + shape[0], left : left + shape[1]])


def run_lab_l(k, planes: list[np.ndarray], size: tuple[int, int], l_offset: float, l_scale: float,
              blocks: int | None = None) -> np.ndarray:  # fmt: skip
    flat, offsets, heights, widths = pack(planes)
    out = np.full((len(planes), *size), np.nan, np.float32)  # poisoned
    grid, threads = k.target.batch_grid(size[0] * size[1], len(planes))
    k.lab_l.lab_l[(blocks or grid[0], len(planes)), threads](flat, offsets, heights, widths, l_offset, l_scale,
                                                             k.lab_l.L_TABLE, out)  # fmt: skip
    assert np.isfinite(out).all()
    return out


def run_ab_merge(k, planes: list[np.ndarray], ab: np.ndarray, bgr: bool = False, blocks: int | None = None
                 ) -> list[np.ndarray]:  # fmt: skip
    """AbMerge into poisoned outputs (0 and 255): both runs must agree and leave the guard bytes alone."""
    flat, offsets, heights, widths = pack(planes)
    total = sum(p.size for p in planes)
    grid, threads = k.target.batch_grid(max(p.size for p in planes), len(planes))
    results = []
    for sentinel in (0, 255):
        out = np.full(3 * total + 5, sentinel, np.uint8)
        k.ab_merge.ab_merge[(blocks or grid[0], len(planes)), threads](flat, offsets, heights, widths, ab, bgr,
                                                                       3 * offsets, out, *k.ab_merge.TABLES)  # fmt: skip
        assert (out[3 * total :] == sentinel).all(), "wrote past the batch"
        results.append(out[: 3 * total])
    np.testing.assert_array_equal(results[0], results[1])
    return [results[0][3 * o : 3 * (o + p.size)].reshape(*p.shape, 3) for o, p in zip(offsets, planes)]


# --- LabL -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("blocks", [1, 3])
def test_lab_l_is_the_reference_on_a_batch_of_random_images(k, blocks: int) -> None:
    planes = [random_gray(s, seed=i) for i, s in enumerate([(480, 640), (37, 53), (1, 1), (8, 300)])]
    size, l_offset, l_scale = (24, 32), 50.0, 0.01
    got = run_lab_l(k, planes, size, l_offset, l_scale, blocks)
    for gray, plane in zip(planes, got):
        np.testing.assert_allclose(plane, ref.lab_l(gray, size, l_offset, l_scale), atol=L_TOL * l_scale, rtol=0)
        cpu = cpu_lab_l(gray, gray_l_table(8), size, l_offset, l_scale)
        np.testing.assert_allclose(plane, cpu, atol=1e-4 * l_scale, rtol=0)


@pytest.mark.parametrize("index", range(2))
def test_lab_l_is_the_reference_on_real_photos(k, index: int) -> None:
    gray = cv2.imread(str(EXAMPLES[index]), cv2.IMREAD_GRAYSCALE)  # full size: LabL reads 4 samples an output
    (got,) = run_lab_l(k, [gray], (56, 56), 50.0, 1.0)
    np.testing.assert_allclose(got, ref.lab_l(gray, (56, 56)), atol=L_TOL, rtol=0)


# --- AbMerge ----------------------------------------------------------------------------------------------


def assert_within_one_level(got_rgb: np.ndarray, expected_rgb: np.ndarray) -> None:
    diff = np.abs(got_rgb.astype(np.int16) - expected_rgb)
    assert diff.max() <= 1, diff.max()
    assert (diff == 0).mean() >= 0.98, (diff == 0).mean()


def cpu_merge_rgb(gray: np.ndarray, ab: np.ndarray) -> np.ndarray:
    bgr = np.empty((*gray.shape, 3), np.uint8)
    cpu_ab_merge(gray, *merge_tables(gray_l_table(8)), np.ascontiguousarray(ab), bgr)
    return bgr[:, :, ::-1]


def assert_matches_cpu(got_rgb: np.ndarray, cpu_rgb: np.ndarray) -> None:
    diff = np.abs(got_rgb.astype(np.int16) - cpu_rgb)
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, (diff.max(), (diff == 0).mean())


@pytest.mark.parametrize("blocks", [1, 3])
def test_ab_merge_is_the_reference_on_a_batch_of_random_images(k, blocks: int) -> None:
    shapes = [(48, 64), (13, 7), (1, 1), (70, 31)]
    planes = [random_gray(s, seed=10 + i) for i, s in enumerate(shapes)]
    ab = random_ab(len(planes), (56, 56), seed=3)
    for gray, got, ab_n in zip(planes, run_ab_merge(k, planes, ab, blocks=blocks), ab):
        assert_within_one_level(got, ref.ab_merge(ab_n, ref.gray_l_table()[gray]))
        assert_matches_cpu(got, cpu_merge_rgb(gray, ab_n))


def test_ab_merge_takes_any_model_output_size(k) -> None:
    gray = random_gray((40, 50), seed=4)
    ab = random_ab(1, (64, 32), seed=5)
    (got,) = run_ab_merge(k, [gray], ab)
    assert_within_one_level(got, ref.ab_merge(ab[0], ref.gray_l_table()[gray]))


@pytest.mark.parametrize("index", range(2))
def test_ab_merge_is_the_reference_on_real_photos(k, index: int) -> None:
    """Crops of real photos with a smooth, photo-like ab field (a blurred random field, mostly in gamut)."""
    gray = example_crop(index, (72, 96))
    field = cv2.GaussianBlur(random_ab(1, (56, 56), seed=index, spread=40)[0].transpose(1, 2, 0), (0, 0), 3)
    ab = np.ascontiguousarray(field.transpose(2, 0, 1))[None]
    (got,) = run_ab_merge(k, [gray], ab)
    assert_within_one_level(got, ref.ab_merge(ab[0], ref.gray_l_table()[gray]))
    assert_matches_cpu(got, cpu_merge_rgb(gray, ab[0]))


def test_ab_merge_writes_bgr_when_asked(k) -> None:
    gray = random_gray((20, 30), seed=6)
    ab = random_ab(1, (56, 56), seed=7)
    (rgb,) = run_ab_merge(k, [gray], ab)
    (bgr,) = run_ab_merge(k, [gray], ab, bgr=True)
    np.testing.assert_array_equal(bgr, rgb[:, :, ::-1])
    assert (rgb[:, :, 0] != rgb[:, :, 2]).mean() > 0.5  # the test means something: R and B differ


# --- the GPU build ----------------------------------------------------------------------------------------


def test_kernels_compile_to_ptx_for_sm90(tmp_path: Path) -> None:
    """Every kernel through NVVM for Hopper, as on a device (the simulator checks no types)."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")
    result = subprocess.run([sys.executable, "-m", "acc.kernels.cuda.ptx", "--cc", "9.0", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("lab_l", "ab_merge"):
        ptx = (tmp_path / f"{name}.ptx").read_text()
        assert ".target sm_90" in ptx and ".entry" in ptx
        assert ".const" not in ptx and "ld.const" not in ptx  # tables are arguments: global memory through L1
