"""Photos with an embedded ICC profile are converted to sRGB with LittleCMS before L is taken
(acc/workingspace.py), on every backend; photos without one, or with an sRGB one, keep the fast path.
The profiles are made here (tests/iccmake.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import acc
from acc.kernels import reference
from acc.probe import probe
from acc.workingspace import srgb_profile_bytes, to_working_space
from conftest import TEST_MODEL, encode, gradient_photo
from iccmake import ADOBE_RGB_COLUMNS, ADOBE_RGB_GAMMA, dot_gain_y, gamma_y, gray_profile, rgb_profile
from metadata_support import iccp_chunk, icc_segment, jpeg_with_segment, with_png_chunks

DOT_GAIN_20 = gray_profile("Dot Gain 20%", dot_gain_y(0.2))
GRAY_GAMMA_22 = gray_profile("Gray Gamma 2.2", gamma_y(2.2))
ADOBE_RGB = rgb_profile("Adobe RGB (1998) made in the tests", ADOBE_RGB_GAMMA, ADOBE_RGB_COLUMNS)


def srgb_gray_to_y(gray: np.ndarray) -> np.ndarray:
    return reference.srgb_to_linear(gray / 255.0)


def encode_in_curve(y: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """8-bit device values whose tone curve (value -> Y, sampled evenly) gives luminance y."""
    values = np.interp(y, curve, np.linspace(0.0, 1.0, len(curve)))
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def output_l(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[:, :, 0]


def colorize(photos: dict[str, bytes], tmp_path: Path, model_dir: Path, backend: str) -> dict[str, np.ndarray]:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name, data in photos.items():
        (src / name).write_bytes(data)
    outcomes = []
    acc.colorize_files([src], out, model=TEST_MODEL, model_dir=str(model_dir), backend=backend, emulate=True,
                       threads=1, format="png", on_outcome=outcomes.append)  # fmt: skip
    assert [o.status for o in outcomes] == ["ok"] * len(photos) and not any(o.warnings for o in outcomes), outcomes
    return {name: output_l(out / (Path(name).stem + ".png")) for name in photos}


@pytest.mark.parametrize("backend", ["cpu", "opencv", "ascend"])
@pytest.mark.parametrize("profile,curve", [(DOT_GAIN_20, dot_gain_y(0.2)), (GRAY_GAMMA_22, gamma_y(2.2))],
                         ids=["dot-gain-20", "gray-gamma-2.2"])  # fmt: skip
def test_a_gray_scan_with_a_profile_colorizes_like_its_srgb_twin(tmp_path: Path, model_dir: Path, backend: str,
                                                                 profile: bytes, curve: np.ndarray) -> None:
    srgb = gradient_photo(96, 128, seed=21)
    twin = encode_in_curve(srgb_gray_to_y(srgb), curve)  # the same print, scanned into the other profile
    png = encode(twin, ".png")
    ls = colorize({"srgb.png": encode(srgb, ".png"), "profiled.png": with_png_chunks(png, iccp_chunk(profile)),
                   "profiled-jpeg.jpg": jpeg_with_segment(encode(twin, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), 0xE2,
                                                     icc_segment(profile)),
                   "unlabelled.png": png}, tmp_path, model_dir, backend)  # fmt: skip
    converted = np.abs(ls["profiled.png"] - ls["srgb.png"]).mean()
    assert converted < 1.0 and np.abs(ls["profiled-jpeg.jpg"] - ls["srgb.png"]).mean() < 1.0
    # Without its profile the same numbers mean another print: what the conversion is there to prevent
    # (Gray Gamma 2.2 is near sRGB but for the shadows; Dot Gain 20 % is far from it).
    assert np.abs(ls["unlabelled.png"] - ls["srgb.png"]).mean() > max(2 * converted, 0.4)


def test_a_colour_photo_in_adobe_rgb_keeps_the_lightness_of_its_srgb_twin(tmp_path: Path, model_dir: Path) -> None:
    hue, value = np.meshgrid(np.linspace(0, 179, 120), np.linspace(60, 255, 80))
    hsv = np.dstack([hue, np.full_like(hue, 200), value]).astype(np.uint8)
    srgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)  # saturated colours of every hue, where the spaces differ most
    linear = reference.srgb_to_linear(srgb / 255.0)
    # sRGB linear -> XYZ (D65) -> Adobe RGB linear (D65 matrices; the profile's are the same, adapted to D50)
    srgb_to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    adobe_to_xyz = np.array([[0.5767, 0.1856, 0.1882], [0.2973, 0.6274, 0.0753], [0.0270, 0.0707, 0.9911]])
    adobe_linear = np.clip(linear @ (np.linalg.inv(adobe_to_xyz) @ srgb_to_xyz).T, 0, 1)
    adobe = np.clip(np.rint(adobe_linear ** (1 / ADOBE_RGB_GAMMA) * 255), 0, 255).astype(np.uint8)
    ls = colorize({"srgb.png": encode(srgb[:, :, ::-1], ".png"),
                   "adobe.png": with_png_chunks(encode(adobe[:, :, ::-1], ".png"), iccp_chunk(ADOBE_RGB)),
                   "unlabelled.png": encode(adobe[:, :, ::-1], ".png")}, tmp_path, model_dir, "cpu")  # fmt: skip
    assert np.abs(ls["adobe.png"] - ls["srgb.png"]).mean() < 1.0
    assert np.abs(ls["unlabelled.png"] - ls["srgb.png"]).mean() > 1.5


def test_an_srgb_profile_keeps_the_fast_path_and_the_same_pixels(tmp_path: Path, model_dir: Path) -> None:
    jpeg = encode(gradient_photo(64, 80, seed=23), ".jpg")
    with_srgb = jpeg_with_segment(jpeg, 0xE2, icc_segment(srgb_profile_bytes()))
    assert to_working_space(with_srgb, probe(with_srgb), srgb_profile_bytes()) is None
    ls = colorize({"plain.jpg": jpeg, "srgb.jpg": with_srgb}, tmp_path, model_dir, "cpu")
    np.testing.assert_array_equal(ls["plain.jpg"], ls["srgb.jpg"])


def test_deep_gray_and_alpha_survive_the_conversion() -> None:
    y = np.linspace(0.002, 1.0, 40 * 60).reshape(40, 60)  # a smooth ramp: more levels than 8 bits hold
    deep = np.clip(np.rint(np.interp(y, dot_gain_y(0.2), np.linspace(0, 1, 256)) * 65535), 0, 65535).astype(np.uint16)
    data = with_png_chunks(encode(deep, ".png"), iccp_chunk(DOT_GAIN_20))
    png, info = to_working_space(data, probe(data), DOT_GAIN_20)
    out = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.ndim == 2 and (info.format, info.bits, info.channels) == ("png", 16, 1)
    expected = reference.linear_to_srgb(y) * 65535
    assert np.abs(out - expected).mean() < 257  # within a level of 255
    assert len(np.unique(out)) > 256  # 16-bit gradations kept, not rounded to 8 bits
    alpha = np.linspace(0, 255, 40 * 60).reshape(40, 60).astype(np.uint8)
    bgra = np.dstack([cv2.cvtColor((deep >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR), alpha])
    rgb_data = with_png_chunks(encode(bgra, ".png"), iccp_chunk(ADOBE_RGB))
    png, info = to_working_space(rgb_data, probe(rgb_data), ADOBE_RGB)
    out = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == (40, 60, 4) and info.channels == 4
    np.testing.assert_array_equal(out[:, :, 3], alpha)


def test_a_rotated_profiled_jpeg_is_turned_upright_once(tmp_path: Path, model_dir: Path) -> None:
    from metadata_support import write_tags

    srgb = gradient_photo(50, 90, seed=25)
    twin = encode_in_curve(srgb_gray_to_y(srgb), gamma_y(2.2))
    photo = tmp_path / "turned.jpg"
    photo.write_bytes(jpeg_with_segment(encode(twin, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 100), 0xE2,
                                        icc_segment(GRAY_GAMMA_22)))  # fmt: skip
    write_tags(photo, "-IFD0:Orientation#=6")
    ls = colorize({"turned.jpg": photo.read_bytes(), "upright.png": encode(np.rot90(srgb, -1), ".png")}, tmp_path,
                  model_dir, "cpu")  # fmt: skip
    assert ls["turned.jpg"].shape == (90, 50)
    assert np.abs(ls["turned.jpg"] - ls["upright.png"]).mean() < 1.0
