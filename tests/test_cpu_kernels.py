"""The numba kernels of the cpu backend (kernels/cpu/) against the float64 spec (kernels/reference.py).

Tolerances (DESIGN.md, Contracts):
- lab_l (model input): within 1e-3 L units of reference.lab_l (float32 arithmetic), everywhere;
- rgb_l_codes (exact L of colour pixels): within 2e-3 L units of reference.image_l (codes are steps of
  100 / 65535 = 1.5e-3);
- ab_merge: at most 1 level of 255 per channel anywhere, and exact on at least 98 % of values (the
  sRGB table rounds linear light at 1/16383 steps).
Random images and the real photographs in examples/. Outputs are poisoned: float outputs start as NaN;
uint8 outputs are run twice, pre-filled with 0 and with 255, so an unwritten value differs.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.kernels import reference as ref
from acc.kernels.cpu.ab_merge import SRGB_TABLE, ab_merge, merge_tables
from acc.kernels.cpu.lab_l import EXACT_L_TABLE, gray_l_table, lab_l, linear_table, resample_l, rgb_l_codes
from acc.kernels.cpu.taps import linear_taps

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.jpg"))
L_TOL, EXACT_L_TOL = 1e-3, 2e-3


def example_gray(index: int) -> np.ndarray:
    return cv2.imread(str(EXAMPLES[index]), cv2.IMREAD_GRAYSCALE)


def random_gray(shape: tuple[int, int], seed: int, dtype: type = np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)


def random_ab(size: tuple[int, int], seed: int, spread: float = 60.0) -> np.ndarray:
    """ab (2, h, w) float32 with saturated and out-of-gamut values (|ab| up to ~2.5 spread)."""
    return np.random.default_rng(seed).normal(0.0, spread, (2, *size)).astype(np.float32)


def test_examples_are_there() -> None:
    assert len(EXAMPLES) >= 3  # the real-image checks below need them


# --- geometry and tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_out, n_in", [(224, 3000), (224, 225), (224, 224), (224, 100), (4000, 56), (17, 56), (1, 7)])
def test_taps_sample_where_opencv_does(n_out: int, n_in: int) -> None:
    """A ramp resized by cv2 INTER_LINEAR is the ramp sampled at the taps (float32 resize)."""
    ramp = np.arange(n_in, dtype=np.float32)[None, :].repeat(2, axis=0)
    expected = cv2.resize(ramp, (n_out, 2), interpolation=cv2.INTER_LINEAR)[0]
    i0, i1, w = linear_taps(n_out, n_in, n_in / n_out)
    assert np.all((0 <= i0) & (i0 <= i1) & (i1 < n_in)) and np.all((0 <= w) & (w < 1))
    np.testing.assert_allclose(i0 + (i1 - i0) * w, expected, atol=1e-3)


def test_gray_tables_are_the_reference() -> None:
    np.testing.assert_allclose(gray_l_table(8), ref.gray_l_table(), atol=1e-4)
    np.testing.assert_allclose(gray_l_table(16)[::257], ref.gray_l_table(), atol=1e-4)  # 257 * g = g / 255 of 65535
    np.testing.assert_allclose(linear_table(8), ref.srgb_to_linear(np.arange(256) / 255), atol=1e-7)
    assert EXACT_L_TABLE[0] == 0 and EXACT_L_TABLE[-1] == np.float32(100)


# --- LabL -------------------------------------------------------------------------------------------------


def model_input(codes: np.ndarray, table: np.ndarray, size: tuple[int, int], l_offset: float, l_scale: float
                ) -> np.ndarray:  # fmt: skip
    out = np.full(size, np.nan, np.float32)  # poisoned
    resample_l(codes, table, l_offset, l_scale, out)
    assert np.isfinite(out).all()
    return out


@pytest.mark.parametrize("shape", [(3000, 4000), (480, 640), (224, 224), (100, 75), (1, 1)])
@pytest.mark.parametrize("l_offset, l_scale", [(50.0, 1.0), (50.0, 0.01)])
def test_lab_l_is_the_reference_on_random_images(shape: tuple[int, int], l_offset: float, l_scale: float) -> None:
    gray = random_gray(shape, seed=shape[0])
    got = model_input(gray, gray_l_table(8), (224, 224), l_offset, l_scale)
    expected = ref.lab_l(gray, (224, 224), l_offset, l_scale)
    np.testing.assert_allclose(got, expected, atol=L_TOL * l_scale, rtol=0)
    np.testing.assert_array_equal(got, lab_l(gray, gray_l_table(8), (224, 224), l_offset, l_scale))


@pytest.mark.parametrize("index", range(3))
def test_lab_l_is_the_reference_on_real_photos(index: int) -> None:
    gray = example_gray(index)
    got = model_input(gray, gray_l_table(8), (224, 224), 50.0, 1.0)
    np.testing.assert_allclose(got, ref.lab_l(gray, (224, 224)), atol=L_TOL, rtol=0)


def test_lab_l_of_16_bit_gray_and_of_a_non_square_model_size() -> None:
    gray = random_gray((300, 500), seed=5, dtype=np.uint16)
    got = model_input(gray, gray_l_table(16), (128, 256), 40.0, 0.5)
    expected = (ref.resize_bilinear(ref.gray_to_l(gray / 65535.0), (128, 256)) - 40.0) * 0.5
    np.testing.assert_allclose(got, expected, atol=L_TOL, rtol=0)


def exact_l(bgr: np.ndarray) -> np.ndarray:
    codes = np.full(bgr.shape[:2], 65535, np.uint16)  # poisoned: L = 100, far from any pixel's below
    rgb_l_codes(bgr, linear_table(8 if bgr.dtype == np.uint8 else 16), codes)
    return EXACT_L_TABLE[codes]


def test_exact_l_is_the_reference_on_random_colours() -> None:
    bgr = random_gray((200, 300, 3), seed=7)
    bgr[0, :3] = [[0, 0, 0], [255, 255, 255], [0, 0, 255]]  # black, white, pure red
    expected = ref.image_l(bgr[:, :, ::-1])
    np.testing.assert_allclose(exact_l(bgr), expected, atol=EXACT_L_TOL, rtol=0)


def test_exact_l_of_16_bit_colour() -> None:
    bgr = random_gray((64, 96, 3), seed=8, dtype=np.uint16)
    expected = ref.rgb_to_lab(bgr[:, :, ::-1] / 65535.0)[..., 0]
    np.testing.assert_allclose(exact_l(bgr), expected, atol=EXACT_L_TOL, rtol=0)


@pytest.mark.parametrize("index", range(2))
def test_exact_l_is_the_reference_on_real_photos_tinted(index: int) -> None:
    """The examples are gray: tint them (sepia-like and cold) so that chroma is real."""
    gray = example_gray(index).astype(np.int16)
    bgr = np.clip(np.dstack([gray - 30, gray, gray + 40]), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(exact_l(bgr), ref.image_l(bgr[:, :, ::-1]), atol=EXACT_L_TOL, rtol=0)


# --- AbMerge ----------------------------------------------------------------------------------------------


def merged(codes: np.ndarray, l_table: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """ab_merge run twice into poisoned buffers (0 and 255): both must agree, so every value was written."""
    fy, y = merge_tables(l_table)
    outs = []
    for sentinel in (0, 255):
        out = np.full((*codes.shape, 3), sentinel, np.uint8)
        ab_merge(codes, fy, y, ab, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    return outs[0]


def assert_within_one_level(got_bgr: np.ndarray, expected_rgb: np.ndarray) -> None:
    diff = np.abs(got_bgr.astype(np.int16) - expected_rgb[:, :, ::-1])
    assert diff.max() <= 1, diff.max()
    assert (diff == 0).mean() >= 0.98, (diff == 0).mean()


@pytest.mark.parametrize(
    "shape, ab_size",
    [((480, 640), (56, 56)), ((1001, 333), (56, 56)), ((56, 56), (56, 56)), ((30, 20), (56, 56)),
     ((97, 211), (64, 32))],  # fmt: skip
)
def test_ab_merge_is_the_reference_on_random_images(shape: tuple[int, int], ab_size: tuple[int, int]) -> None:
    codes = random_gray(shape, seed=shape[1])
    ab = random_ab(ab_size, seed=shape[0])
    expected = ref.ab_merge(ab, ref.gray_l_table()[codes])
    assert_within_one_level(merged(codes, gray_l_table(8), ab), expected)


def test_ab_merge_of_exact_l_codes() -> None:
    codes = random_gray((200, 300), seed=11, dtype=np.uint16)
    ab = random_ab((56, 56), seed=12)
    expected = ref.ab_merge(ab, EXACT_L_TABLE.astype(np.float64)[codes])
    assert_within_one_level(merged(codes, EXACT_L_TABLE, ab), expected)


@pytest.mark.parametrize("index", range(2))
def test_ab_merge_is_the_reference_on_real_photos(index: int) -> None:
    """A real photo's L with a smooth, photo-like ab field (a blurred random field, mostly in gamut)."""
    gray = example_gray(index)
    field = cv2.GaussianBlur(random_ab((56, 56), seed=index, spread=40).transpose(1, 2, 0), (0, 0), 3)
    ab = np.ascontiguousarray(field.transpose(2, 0, 1))
    expected = ref.ab_merge(ab, ref.gray_l_table()[gray])
    assert_within_one_level(merged(gray, gray_l_table(8), ab), expected)


def test_srgb_table_rounds_linear_light() -> None:
    steps = np.arange(len(SRGB_TABLE)) / (len(SRGB_TABLE) - 1)
    np.testing.assert_array_equal(SRGB_TABLE, np.rint(ref.linear_to_srgb(steps) * 255))


# --- how they are compiled --------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [ab_merge, rgb_l_codes, resample_l, linear_taps])
def test_kernels_release_the_gil_and_are_cached_on_disk(kernel) -> None:
    assert kernel.targetoptions.get("nogil") is True
    assert type(kernel._cache).__name__ == "FunctionCache"  # cache=True: compiled once, then loaded
