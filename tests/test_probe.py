"""Bad inputs, each made here: the header probe's verdict and what a run reports for them.

Reasons a user sees: empty file, truncated, not an image, unsupported, too large (over the pixel cap,
refused from the header before any decoder allocates the image).
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.backends.opencv import OpenCVBackend
from acc.cli import main
from acc.inputs import InputSet
from acc.outdir import OutputDir
from acc.pipeline import Outcome, RunOptions, Runner
from acc.probe import DEFAULT_MAX_PIXELS, BadImage, probe
from conftest import TEST_MODEL, color_photo, encode, gradient_photo

# --- making bad files ----------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A well-formed PNG header declaring width x height 8-bit gray, with a few rows of data: tiny on disk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is patched to declare width x height."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def jpeg_cut_in_scan(jpeg: bytes) -> bytes:
    """A JPEG cut in the middle of its entropy-coded scan data."""
    sos = jpeg.index(b"\xff\xda")
    (length,) = struct.unpack(">H", jpeg[sos + 2 : sos + 4])
    scan_start, scan_end = sos + 2 + length, jpeg.rindex(b"\xff\xd9")
    assert scan_end - scan_start > 100
    return jpeg[: (scan_start + scan_end) // 2]


def png_cut_in_idat(png: bytes) -> bytes:
    idat = png.index(b"IDAT")
    (length,) = struct.unpack(">I", png[idat - 4 : idat])
    return png[: idat + 4 + length // 2]


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"\x10\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def tiff_header(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


GRAY = gradient_photo(61, 97, seed=5)
JPEG = encode(GRAY, ".jpg")
PNG = encode(color_photo(61, 97, seed=6), ".png")


# --- the probe ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext,params,fmt,progressive",
    [
        (".jpg", [], "jpeg", False),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "jpeg", True),
        (".png", [], "png", False),
        (".bmp", [], "bmp", False),
        (".tiff", [], "tiff", False),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80], "webp", False),  # lossy: VP8
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], "webp", False),  # lossless: VP8L
    ],
)
@pytest.mark.parametrize("colour", [False, True])
def test_probe_reads_format_and_size(ext, params, fmt, progressive, colour) -> None:
    img = color_photo(61, 97, seed=7) if colour else GRAY
    data = encode(img, ext, *params)
    info = probe(data)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (info.format, info.width, info.height) == (fmt, decoded.shape[1], decoded.shape[0])
    assert info.progressive is progressive
    assert info.pixels == 61 * 97


def test_probe_reads_headers_without_pixels() -> None:
    def size(data: bytes) -> tuple[str, int, int]:
        info = probe(data)
        return info.format, info.width, info.height

    assert size(webp_vp8x(300, 200)) == ("webp", 300, 200)
    assert size(bmp_header(40, -30)) == ("bmp", 40, 30)  # negative height: a top-down BMP
    assert size(tiff_header(33, 44)) == ("tiff", 33, 44)
    big_endian = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 2)
    big_endian += struct.pack(">HHIHH", 256, 3, 1, 70, 0) + struct.pack(">HHIHH", 257, 3, 1, 50, 0)
    assert size(big_endian + b"\x00" * 4) == ("tiff", 70, 50)


def test_probe_reads_exif_orientation() -> None:
    from test_opencv_backend import exif_jpeg

    for orientation in (1, 3, 6, 8):
        assert probe(exif_jpeg(JPEG, orientation)).orientation == orientation
    assert probe(exif_jpeg(JPEG, 42)).orientation == 1  # out of range: ignored


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty file"),
        (b"Dear archive,\nthese are the scans of 1921.\n", "not an image"),
        (b"GIF89a" + b"\x10\x00\x10\x00" + b"\x00" * 40, "unsupported format: GIF"),
        (b"GIF87a" + b"\x10\x00\x10\x00" + b"\x00" * 40, "unsupported format: GIF"),
        (b"%PDF-1.4\n" + b"\x00" * 40, "unsupported format: PDF"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, "unsupported format: HEIF/AVIF"),
        (JPEG[:20], "truncated JPEG"),  # cut inside the header
        (jpeg_cut_in_scan(JPEG), "truncated JPEG"),
        (PNG[:24], "truncated PNG"),
        (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 0, 0, 0, 0)), "invalid PNG header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated JPEG"),
    ],
    ids=["empty", "text", "gif89", "gif87", "pdf", "heif", "jpeg-header-cut", "jpeg-scan-cut", "png-header-cut",
         "png-zero-size", "jpeg-no-frame"],  # fmt: skip
)
def test_probe_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(BadImage) as err:
        probe(data)
    assert str(err.value).startswith(reason)
    assert "\n" not in str(err.value)


def test_truncated_progressive_jpeg_is_refused() -> None:
    prog = encode(GRAY, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    with pytest.raises(BadImage, match="truncated JPEG"):
        probe(prog[: len(prog) * 2 // 3])


@pytest.mark.parametrize(
    "data",
    [
        png_bomb(50_000, 50_000),
        jpeg_with_size(JPEG, 60_000, 60_000),
        webp_vp8x(16_384, 16_384),
        bmp_header(30_000, -30_000),
        tiff_header(40_000, 40_000),
    ],
    ids=["png", "jpeg", "webp", "bmp", "tiff"],
)
def test_pixel_bomb_is_refused_from_the_header(data: bytes) -> None:
    assert len(data) < 8_000  # a small file declaring a huge image
    tracemalloc.start()
    try:
        with pytest.raises(BadImage, match=r"^too large: \d+x\d+ = [\d.]+ MP exceeds the 100 MP cap"):
            probe(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # nothing near the image's size was allocated


def test_pixel_cap_is_configurable_and_inclusive() -> None:
    pixels = 61 * 97
    assert probe(JPEG, max_pixels=pixels).pixels == pixels
    with pytest.raises(BadImage, match="too large"):
        probe(JPEG, max_pixels=pixels - 1)
    assert DEFAULT_MAX_PIXELS == 100_000_000
    assert probe(png_bomb(10_000, 10_000)).pixels == 100_000_000  # exactly the default cap: allowed


# --- what a run reports --------------------------------------------------------------------------------


class SpyBackend(OpenCVBackend):
    """The baseline, recording the header size of every image it was asked to decode."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decoded: list[tuple[int, int]] = []

    def decode(self, data, info):
        self.decoded.append((info.width, info.height))
        return super().decode(data, info)


def run(spec, inputs: list[str], out: Path, **options) -> tuple[dict[str, Outcome], SpyBackend]:
    outcomes: list[Outcome] = []
    with SpyBackend(spec) as backend, OutputDir(out) as outdir:
        Runner(backend, outdir, RunOptions(**options), outcomes.append).run(InputSet(inputs, out))
    return {Path(o.display).name: o for o in outcomes}, backend


BAD_FILES = {
    "empty.jpg": (b"", "empty file"),
    "cut_scan.jpg": (jpeg_cut_in_scan(JPEG), "truncated JPEG"),
    "cut_idat.png": (png_cut_in_idat(PNG), "corrupt or truncated PNG data"),
    "cut_bmp.bmp": (encode(GRAY, ".bmp")[:2000], "corrupt or truncated BMP data"),
    "cut_tiff.tif": (encode(GRAY, ".tiff")[:1500], "truncated TIFF"),
    "cut_webp.webp": (encode(GRAY, ".webp")[:300], "corrupt or truncated WEBP data"),
    "notes.jpg": (b"not a photo, just text\n" * 10, "not an image"),
    "animation.png": (b"GIF89a\x10\x00\x10\x00" + b"\x00" * 64, "unsupported format: GIF"),
    "bomb_png.png": (png_bomb(50_000, 50_000), "too large: 50000x50000"),
    "bomb_jpeg.jpg": (jpeg_with_size(JPEG, 60_000, 60_000), "too large: 60000x60000"),
}


def test_run_reports_each_bad_input_and_never_decodes_a_bomb(tmp_path: Path, test_spec) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name, (data, _) in BAD_FILES.items():
        (src / name).write_bytes(data)
    (src / "good.jpg").write_bytes(JPEG)
    outcomes, backend = run(test_spec, [str(src)], tmp_path / "out")
    assert set(outcomes) == {*BAD_FILES, "good.jpg"}
    for name, (_, reason) in BAD_FILES.items():
        assert outcomes[name].status == "failed", name
        assert outcomes[name].reason.startswith(reason), (name, outcomes[name].reason)
        assert not (tmp_path / "out" / Path(name).with_suffix(".jpg")).exists()
    assert outcomes["good.jpg"].status == "ok"
    assert all(w * h <= 61 * 97 for w, h in backend.decoded)  # the bombs never reached a decoder


def test_explicit_gif_is_named_unsupported(tmp_path: Path, test_spec) -> None:
    gif = tmp_path / "old.gif"
    gif.write_bytes(b"GIF89a\x10\x00\x10\x00" + b"\x00" * 64)
    outcomes, _ = run(test_spec, [str(gif)], tmp_path / "out")
    assert outcomes["old.gif"].reason == "unsupported format: GIF"


def test_max_pixels_option(tmp_path: Path, test_spec) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(JPEG)
    small, _ = run(test_spec, [str(src)], tmp_path / "a", max_pixels=5_000)
    assert small["photo.jpg"].status == "failed"
    assert small["photo.jpg"].reason.startswith("too large: 97x61")
    enough, _ = run(test_spec, [str(src)], tmp_path / "b", max_pixels=61 * 97)
    assert enough["photo.jpg"].status == "ok"


def test_max_pixels_flag_and_config(tmp_path: Path, acc_env: dict, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(JPEG)
    args = ["colorize", str(src), "--model", TEST_MODEL, "--backend", "opencv"]
    assert main([*args, "-o", str(tmp_path / "a"), "--max-pixels", "5000"]) == 1
    err = capsys.readouterr().err
    assert f"acc: failed: {src}: too large: 97x61" in err
    assert main([*args, "-o", str(tmp_path / "b"), "--max-pixels", "6000"]) == 0
    config = tmp_path / "acc.yaml"
    config.write_text("max_pixels: 5000\n")
    assert main([*args, "-o", str(tmp_path / "c"), "--config", str(config)]) == 1
    assert "too large" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "d"), "--max-pixels", "0"]) == 2
    assert "max_pixels" in capsys.readouterr().err
