"""The OpenCV baseline against an independent, step-by-step computation of the seed's pipeline.

The expected image is computed here with cv2 and onnxruntime directly, in the seed's order: imread,
/255, BGR2Lab, resize the Lab image to 224x224 (bilinear), L-50, the model, resize ab (bilinear) to the
photo's size, concatenate with the original L, Lab2BGR, clip, x255, astype(uint8). Outputs are PNG so
the comparison is lossless: the baseline must produce exactly these bytes' pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from acc.cli import main
from conftest import TEST_MODEL, color_photo, encode, gradient_photo, make_model_dir

MODEL_SIZE = 224


def seed_pipeline(bgr01: np.ndarray, model_path: Path) -> np.ndarray:
    """The seed's steps on a float32 BGR image in [0, 1] -> uint8 BGR."""
    h, w = bgr01.shape[:2]
    lab = cv2.cvtColor(bgr01, cv2.COLOR_BGR2Lab)
    small = cv2.resize(lab, (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_LINEAR)
    x = (small[:, :, 0] - 50.0).astype(np.float32)[None, None]
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    ab = session.run(["ab"], {"L": x})[0][0]  # (2, 56, 56)
    ab_full = cv2.resize(np.ascontiguousarray(ab.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.concatenate([lab[:, :, :1], ab_full], axis=2)
    bgr = cv2.cvtColor(out, cv2.COLOR_Lab2BGR)
    return (np.clip(bgr, 0, 1) * 255).astype(np.uint8)


def exif_jpeg(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation) after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00*" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _read(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    assert img is not None, path
    return img


# name -> (file name, bytes); each is checked against the seed steps on how cv2 reads it.
def _inputs() -> dict[str, tuple[str, bytes]]:
    gray = gradient_photo(97, 131, seed=11)  # odd sizes on purpose
    colour = color_photo(70, 90, seed=12)
    bgra = np.dstack([color_photo(50, 66, seed=13), np.tile(np.arange(66, dtype=np.uint8) * 3, (50, 1))])
    gray16 = (gradient_photo(45, 77, seed=14).astype(np.uint16) * 257 + np.arange(77, dtype=np.uint16)[None, :])
    colour16 = (color_photo(40, 52, seed=15).astype(np.uint16) * 256 + 77)
    return {
        "jpeg_gray": ("gray_jpeg.jpg", encode(gray, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90)),
        "jpeg_progressive": ("prog.jpg", encode(gray, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
        "jpeg_colour": ("colour_jpeg.jpg", encode(colour, ".jpg")),
        "jpeg_exif6": ("rotated.jpg", exif_jpeg(encode(gradient_photo(40, 64, seed=16), ".jpg"), 6)),
        "png_gray": ("gray.png", encode(gray, ".png")),
        "png_colour": ("colour.png", encode(colour, ".png")),
        "png_alpha": ("alpha.png", encode(bgra, ".png")),
        "png16_gray": ("gray16.png", encode(gray16, ".png")),
        "png16_colour": ("colour16.png", encode(colour16, ".png")),
        "bmp": ("photo_bmp.bmp", encode(gray, ".bmp")),
        "tiff": ("photo_tiff.tif", encode(colour, ".tiff")),
        "webp": ("photo_webp.webp", encode(colour, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101)),  # lossless
    }


INPUTS = _inputs()


@pytest.fixture(scope="module")
def colorized(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every input colorized once, to PNG and to JPEG, by `acc colorize --backend opencv`."""
    root = tmp_path_factory.mktemp("baseline")
    models = make_model_dir(root / "models")
    src = root / "in"
    src.mkdir()
    for file_name, data in INPUTS.values():
        (src / file_name).write_bytes(data)
    common = ["--backend", "opencv", "--model", TEST_MODEL, "--model-dir", str(models), "--batch-size", "3"]
    assert main(["colorize", str(src), "-o", str(root / "png"), "--format", "png", *common]) == 0
    assert main(["colorize", str(src), "-o", str(root / "jpeg"), "--format", "jpeg", *common]) == 0
    return {"src": src, "png": root / "png", "jpeg": root / "jpeg", "model": models / "linear.onnx"}


def _out(colorized: dict, name: str, kind: str = "png") -> Path:
    return colorized[kind] / Path(INPUTS[name][0]).with_suffix(".png" if kind == "png" else ".jpg")


@pytest.mark.parametrize(
    "name", ["jpeg_gray", "jpeg_progressive", "jpeg_colour", "jpeg_exif6", "png_gray", "png_colour", "bmp", "tiff", "webp"]
)
def test_baseline_equals_seed_steps(colorized: dict, name: str) -> None:
    """8-bit inputs: the seed reads with cv2.imread (IMREAD_COLOR) and divides by 255."""
    src = colorized["src"] / INPUTS[name][0]
    expected = seed_pipeline(_read(src).astype(np.float32) / 255.0, colorized["model"])
    out = _read(_out(colorized, name), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint8 and out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", ["png16_gray", "png16_colour"])
def test_16_bit_input_is_scaled_by_65535(colorized: dict, name: str) -> None:
    src = colorized["src"] / INPUTS[name][0]
    raw = _read(src, cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    bgr = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR) if raw.ndim == 2 else raw
    expected = seed_pipeline(bgr.astype(np.float32) / 65535.0, colorized["model"])
    out = _read(_out(colorized, name), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    # Sensible, not saturated: the output's L follows the 16-bit input's L (see test_colour_photo_keeps_l).
    l_in = cv2.cvtColor(bgr.astype(np.float32) / 65535.0, cv2.COLOR_BGR2Lab)[:, :, 0]
    l_out = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)[:, :, 0]
    assert np.median(np.abs(l_out - l_in)) < 0.6


def test_alpha_is_kept_in_png_and_dropped_in_jpeg(colorized: dict) -> None:
    src = colorized["src"] / INPUTS["png_alpha"][0]
    raw = _read(src, cv2.IMREAD_UNCHANGED)
    assert raw.shape[2] == 4
    out = _read(_out(colorized, "png_alpha"), cv2.IMREAD_UNCHANGED)
    assert out.shape == raw.shape
    np.testing.assert_array_equal(out[:, :, 3], raw[:, :, 3])
    expected = seed_pipeline(raw[:, :, :3].astype(np.float32) / 255.0, colorized["model"])
    np.testing.assert_array_equal(out[:, :, :3], expected)
    jpeg = _read(_out(colorized, "png_alpha", "jpeg"), cv2.IMREAD_UNCHANGED)
    assert jpeg.shape == (*raw.shape[:2], 3)


def test_exif_orientation_is_honoured(colorized: dict) -> None:
    """Orientation 6 (rotate 90 degrees clockwise to display): the output is upright, so W x H."""
    data = INPUTS["jpeg_exif6"][1]
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    upright = cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE)
    assert stored.shape[:2] == (40, 64)
    out = _read(_out(colorized, "jpeg_exif6"))
    assert out.shape[:2] == (64, 40)
    np.testing.assert_array_equal(out, seed_pipeline(upright.astype(np.float32) / 255.0, colorized["model"]))


@pytest.mark.parametrize("name", ["jpeg_colour", "png_colour", "tiff", "webp"])
def test_colour_photo_keeps_l_and_gets_new_colours(colorized: dict, name: str) -> None:
    """L is kept; the colours are the model's, not the photo's own.

    Tolerance: the output is 8-bit and truncated (x255, astype), which lowers each channel by less than
    one level, at most ~0.55 L on these photos: every pixel whose colour is inside the sRGB gamut (no
    channel clipped at 0 or 255) keeps its L within 0.75. Out-of-gamut pixels (the bright disc with the
    model's ab) are clipped by Lab2BGR, which moves L: they only count in the median, held under 0.5.
    """
    src = colorized["src"] / INPUTS[name][0]
    lab_in = cv2.cvtColor(_read(src).astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    out = _read(_out(colorized, name))
    lab_out = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    dl = np.abs(lab_out[:, :, 0] - lab_in[:, :, 0])
    in_gamut = ~((out == 0) | (out == 255)).any(axis=2)
    assert in_gamut.mean() > 0.5
    assert dl[in_gamut].max() < 0.75
    assert np.median(dl) < 0.5
    # The test model's ab depends on L alone: a = 0.6 x + 8, b = -0.4 x + 20 (x = L - 50, pooled).
    x = cv2.resize(lab_in[:, :, 0], (56, 56)) - 50
    expected_mean_ab = np.array([0.6 * x.mean() + 8, -0.4 * x.mean() + 20])
    got_ab = lab_out[:, :, 1:].reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(got_ab, expected_mean_ab, atol=1.5)


def test_gray_output_jpeg_is_full_size_colour(colorized: dict) -> None:
    for name in ("jpeg_gray", "png_gray", "bmp"):
        src = _read(colorized["src"] / INPUTS[name][0], cv2.IMREAD_UNCHANGED)
        out = _read(_out(colorized, name, "jpeg"), cv2.IMREAD_UNCHANGED)
        assert out.shape == (*src.shape[:2], 3)
        lab = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
        assert np.abs(lab[:, :, 1:]).mean() > 3  # colour, not gray


def test_jpeg_output_is_420_at_the_requested_quality(tmp_path: Path, acc_env: dict) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(encode(gradient_photo(64, 80), ".png"))
    sizes = {}
    for quality in (30, 95):
        out = tmp_path / f"q{quality}"
        args = ["colorize", str(src), "-o", str(out), "--backend", "opencv", "--model", TEST_MODEL]
        assert main([*args, "--quality", str(quality)]) == 0
        data = (out / "in.jpg").read_bytes()
        sizes[quality] = len(data)
        # SOF0: Y sampled 2x2, Cb and Cr 1x1 = 4:2:0.
        sof = data.index(b"\xff\xc0")
        components = data[sof + 9]
        assert components == 3
        factors = [data[sof + 10 + 3 * i + 1] for i in range(3)]
        assert factors == [0x22, 0x11, 0x11]
    assert sizes[30] < sizes[95]
