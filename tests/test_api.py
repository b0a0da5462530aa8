"""The Python API (acc/__init__.py): Colorizer, colorize_files, models(), backends(), the errors, and
the saturation setting that every backend applies through the model contract."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import acc
from acc.cli import main
from conftest import TEST_MODEL, color_photo, encode, gradient_photo, write_photos


@pytest.fixture
def colorizer(model_dir: Path):
    with acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), threads=1) as c:
        yield c


def cli_output(tmp_path: Path, photo: Path, *flags: str) -> bytes:
    out = tmp_path / "cli-out"
    assert main(["colorize", str(photo), "-o", str(out), "--model", TEST_MODEL, "--threads", "1", "--overwrite",
                 *flags]) == 0  # fmt: skip
    return next(p for p in out.iterdir() if not p.name.startswith(".")).read_bytes()


def test_public_names() -> None:
    assert isinstance(acc.__version__, str) and acc.__version__
    for name in acc.__all__:
        assert hasattr(acc, name), name
    assert issubclass(acc.CorruptImage, acc.BadImage) and issubclass(acc.BadImage, acc.AccError)
    assert issubclass(acc.BadImage, ValueError)


# --- Colorizer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,flags", [("jpeg", ("--quality", "90")), ("png", ("--format", "png"))])
def test_colorize_bytes_equals_the_cli_output(tmp_path: Path, acc_env: dict, colorizer, fmt: str, flags) -> None:
    photo = tmp_path / "in" / "photo.jpg"
    photo.parent.mkdir()
    photo.write_bytes(encode(gradient_photo(90, 120), ".jpg"))
    quality = 90 if fmt == "jpeg" else 95
    expected = cli_output(tmp_path, photo, *flags)
    assert colorizer.colorize_bytes(photo.read_bytes(), format=fmt, quality=quality, name="photo.jpg") == expected


def test_colorize_equals_the_cli_on_the_same_pixels(tmp_path: Path, acc_env: dict, colorizer) -> None:
    gray = gradient_photo(70, 90, seed=4)
    photo = tmp_path / "in" / "gray.png"
    photo.parent.mkdir()
    photo.write_bytes(encode(gray, ".png"))
    expected = cv2.imdecode(np.frombuffer(cli_output(tmp_path, photo, "--format", "png"), np.uint8), cv2.IMREAD_COLOR)
    result = colorizer.colorize(gray)
    assert result.shape == (70, 90, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected[:, :, ::-1])  # RGB out
    assert np.abs(result.astype(int)[:, :, 0] - result[:, :, 2]).max() > 5  # colour, not gray


def test_colour_and_deep_inputs_keep_their_lightness(colorizer) -> None:
    def lightness(rgb: np.ndarray) -> np.ndarray:  # L* 0..100
        return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[:, :, 0]

    rgb = color_photo(60, 80, seed=5)[:, :, ::-1].copy()
    result = colorizer.colorize(rgb)
    # New colours on the photo's own L: only 8-bit rounding and the sRGB gamut's clipping move it.
    assert np.abs(lightness(result) - lightness(rgb)).mean() < 1.5
    gray8 = gradient_photo(40, 50)
    deep = gray8.astype(np.uint16) * 257  # the same levels in 16 bits
    as_float = gray8 / 255.0
    for same in (deep, as_float, gray8[:, :, None]):
        assert np.abs(colorizer.colorize(same).astype(int) - colorizer.colorize(gray8)).max() <= 1


def test_colorize_many_matches_one_by_one(colorizer) -> None:
    photos = [gradient_photo(30 + 7 * i, 40 + 5 * i, seed=i) for i in range(6)]  # more than one batch
    many = colorizer.colorize_many(photos)
    assert len(many) == 6
    for photo, result in zip(photos, many):
        np.testing.assert_array_equal(result, colorizer.colorize(photo))


def test_threads_may_share_a_colorizer(colorizer) -> None:
    data = [encode(gradient_photo(60, 80, seed=i), ".jpg") for i in range(8)]
    expected = [colorizer.colorize_bytes(d) for d in data]
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = colorizer.colorize_bytes(data[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(8)] == expected


def truncated_jpeg() -> bytes:
    data = encode(gradient_photo(), ".jpg")
    return data[: len(data) // 2]


def bad_crc_png() -> bytes:
    data = bytearray(encode(gradient_photo(), ".png"))
    data[29] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    "data,error,message",
    [
        (b"", acc.EmptyImage, "empty file"),
        (b"GIF89a" + bytes(20), acc.UnsupportedImage, "unsupported format: GIF"),
        (b"\x00\x01\x02 not an image at all", acc.NotAnImage, "not an image"),
        (truncated_jpeg(), acc.TruncatedImage, "truncated JPEG"),
        (bad_crc_png(), acc.CorruptImage, "corrupt or truncated PNG data"),
    ],
    ids=["empty", "gif", "noise", "truncated", "bad-crc"],
)
def test_bad_bytes_raise_one_class_per_reason(colorizer, data: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        colorizer.colorize_bytes(data)


def test_bad_arrays_and_settings_are_refused(model_dir: Path, colorizer) -> None:
    for bad in (np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10), np.int32), np.full((8, 8), 1.5),
                np.zeros((0, 5), np.uint8), [[1, 2], [3, 4]]):  # fmt: skip
        with pytest.raises(acc.UnsupportedImage):
            colorizer.colorize(bad)
    with acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), max_pixels=1000) as small:
        with pytest.raises(acc.ImageTooLarge, match="exceeds the"):
            small.colorize(gradient_photo(40, 30))
    with pytest.raises(acc.ModelError, match="unknown model"):
        acc.Colorizer(model="no-such-model", model_dir=str(model_dir))
    with pytest.raises(acc.BackendError, match="unknown backend"):
        acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), backend="abacus")
    with pytest.raises(acc.ConfigError, match="saturation"):
        acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), saturation=-1)
    with pytest.raises(acc.ConfigError, match="unknown key 'colour'"):
        acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), colour="sepia")
    with pytest.raises(acc.ConfigError, match="format"):
        colorizer.colorize_bytes(encode(gradient_photo(), ".jpg"), format="gif")


def test_a_closed_colorizer_says_so(model_dir: Path) -> None:
    c = acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir))
    c.close()
    c.close()
    with pytest.raises(RuntimeError, match="closed"):
        c.colorize(gradient_photo())


# --- colorize_files -------------------------------------------------------------------------------------


def test_colorize_files_runs_resumes_and_reports_each_photo(tmp_path: Path, model_dir: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    paths = write_photos(src, 5)
    paths[2].write_bytes(b"broken")
    seen: list[acc.Outcome] = []
    summary = acc.colorize_files([src], out, on_outcome=seen.append, model=TEST_MODEL, model_dir=str(model_dir))
    assert (summary.ok, summary.failed) == (4, 1)
    assert [Path(o.display).name for o in seen] == [p.name for p in paths]
    assert seen[2].status == "failed" and seen[2].reason == "not an image (unrecognised file format)"
    summary = acc.colorize_files([str(src)], str(out), model=TEST_MODEL, model_dir=model_dir)
    assert (summary.ok, summary.skipped, summary.failed) == (0, 4, 1)


def test_colorize_files_refuses_bad_runs_before_any_work(tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in"
    write_photos(src, 2)
    with pytest.raises(acc.OutputIsInput):
        acc.colorize_files([src], src, model=TEST_MODEL, model_dir=str(model_dir))
    with pytest.raises(acc.ConfigError, match="batch_size"):
        acc.colorize_files([src], tmp_path / "out", batch_size=0)
    with pytest.raises(acc.ModelError):
        acc.colorize_files([src], tmp_path / "out", model="nope", model_dir=str(model_dir))
    assert not (tmp_path / "out").exists()


# --- models() and backends() ----------------------------------------------------------------------------


def test_models_says_what_is_installed_and_verified(tmp_path: Path, model_dir: Path) -> None:
    infos = {info.name: info for info in acc.models(model_dir)}
    assert infos[TEST_MODEL].status == "verified" and infos[TEST_MODEL].where == "user"
    assert infos["acc-tiny"].where == "bundled" and infos["acc-tiny"].status == "verified"
    assert infos["eccv16"].where == "fetchable" and infos["eccv16"].path is None
    (model_dir / "linear.onnx").write_bytes(b"tampered")
    assert acc.models(model_dir)[[i.name for i in acc.models(model_dir)].index(TEST_MODEL)].status.startswith(
        "FAILS: ")  # fmt: skip


def test_backends_says_what_runs_here_and_why_not() -> None:
    infos = {info.name: info for info in acc.backends()}
    assert infos["cpu"].available and infos["opencv"].available and infos["cpu"].reason is None
    assert not infos["ascend"].available and "CANN" in infos["ascend"].reason
    emulated = {info.name: info for info in acc.backends(emulate=True)}
    assert emulated["ascend"].available and emulated["ascend"].emulated


# --- saturation: a scale of the model's chroma, for every backend ---------------------------------------


@pytest.mark.parametrize("backend", ["cpu", "opencv", "ascend"])
def test_saturation_scales_chroma_on_every_backend(model_dir: Path, backend: str) -> None:
    gray = gradient_photo(64, 80, seed=9)

    def ab(saturation: float) -> np.ndarray:
        with acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), backend=backend, saturation=saturation,
                           emulate=True, threads=1) as c:  # fmt: skip
            rgb = c.colorize(gray)
        return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[:, :, 1:]

    base, gray_ab, double = ab(1.0), ab(0.0), ab(2.0)
    assert np.abs(base).mean() > 5
    assert np.abs(gray_ab).max() < 1.5  # no colour at all, up to 8-bit rounding
    moderate = np.all(np.abs(base) < 20, axis=2) & np.all(np.abs(base) > 4, axis=2)  # far from the gamut's edge
    ratio = double[moderate] / base[moderate]
    assert moderate.sum() > 100 and np.median(ratio) == pytest.approx(2.0, abs=0.1)


def test_saturation_is_part_of_what_makes_an_output_done(tmp_path: Path, model_dir: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 2)
    settings = {"model": TEST_MODEL, "model_dir": str(model_dir), "overwrite": False}
    assert acc.colorize_files([src], out, **settings).ok == 2
    assert acc.colorize_files([src], out, **settings, saturation=1.0).skipped == 2
    # Other colours wanted: the outputs of the first run are not what this run would write.
    summary = acc.colorize_files([src], out, **settings, saturation=1.4)
    assert summary.failed == 2 and summary.skipped == 0
    assert acc.colorize_files([src], out, **{**settings, "overwrite": True}, saturation=1.4).ok == 2
    assert acc.colorize_files([src], out, **settings, saturation=1.4).skipped == 2
