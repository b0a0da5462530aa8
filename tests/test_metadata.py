"""Metadata carried from source to output (acc/metadata/), read back with ExifTool, an independent reader,
on photos made here: every input format, both output formats, rotated, damaged, large, every backend."""

from __future__ import annotations

import hashlib
import io
import re
import tracemalloc
from pathlib import Path

import exiv2
import numpy as np
import pytest
from PIL import Image

import acc
from acc.metadata.exiv import image_bytes, open_image
from acc.metadata.source import read_source
from acc.probe import probe
from acc.workingspace import srgb_profile_bytes
from conftest import TEST_MODEL, color_photo, encode, gradient_photo
from metadata_support import (icc_segment, iccp_chunk, inflation_bomb, jpeg_with_segment, png_chunk, read_tags,
                              with_png_chunks, write_tags)

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def run(inputs: list[Path], out: Path, model_dir: Path, **settings) -> dict[str, acc.Outcome]:
    outcomes: dict[str, acc.Outcome] = {}
    acc.colorize_files([str(p) for p in inputs], out, model=TEST_MODEL, model_dir=str(model_dir), threads=1,
                       on_outcome=lambda o: outcomes.__setitem__(Path(o.display).name, o), **settings)  # fmt: skip
    return outcomes


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's four photos: a gray JPEG with EXIF Artist, Copyright and ImageDescription at 1200 dpi;
    a colour JPEG with an sRGB ICC profile at 300 dpi; a PNG with tEXt Title and Copyright at 600 dpi;
    a TIFF with an ImageDescription (and the other descriptive tags) at 800 dpi. Made once: tests only read it."""
    src = tmp_path_factory.mktemp("archive")
    gray = src / "gray.jpg"
    gray.write_bytes(encode(gradient_photo(96, 128, seed=1), ".jpg"))
    write_tags(gray, "-IFD0:Artist=Jane Doe", "-IFD0:Copyright=(c) 1911 City Archive",
               "-IFD0:ImageDescription=Easter parade, Fifth Avenue", "-ExifIFD:DateTimeOriginal=1911:04:16 10:00:00",
               "-IFD0:XResolution=1200", "-IFD0:YResolution=1200", "-IFD0:ResolutionUnit=inches",
               "-IPTC:ObjectName=Easter 1911", "-IPTC:Keywords=parade", "-XMP-dc:Source=Box 12, folder 3")  # fmt: skip
    colour = src / "colour.jpg"
    colour.write_bytes(jpeg_with_segment(encode(color_photo(80, 120, seed=2), ".jpg"), 0xE2,
                                         icc_segment(srgb_profile_bytes())))  # fmt: skip
    write_tags(colour, "-JFIF:XResolution=300", "-JFIF:YResolution=300", "-JFIF:ResolutionUnit=inches")
    png = src / "text.png"
    png.write_bytes(with_png_chunks(encode(gradient_photo(64, 80, seed=3), ".png"),
                                    png_chunk(b"tEXt", b"Title\x00Harbour at dawn"),
                                    png_chunk(b"tEXt", b"Copyright\x00CC BY 4.0, Harbour Museum"),
                                    png_chunk(b"tEXt", b"Catalogue number\x00HM-1926-0042"),
                                    png_chunk(b"pHYs", (23622).to_bytes(4, "big") * 2 + b"\x01")))  # fmt: skip
    tiff = src / "scan.tif"
    Image.fromarray(gradient_photo(72, 88, seed=4)).save(tiff, dpi=(800, 800), tiffinfo={
        270: "Fishing fleet, 1895", 315: "A. Photographer", 33432: "Public domain", 306: "1895:06:01 12:00:00",
        271: "Epson", 272: "Perfection V850", 305: "VueScan 9"})  # fmt: skip
    return src


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("backend", ["cpu", "opencv", "ascend"])
def test_the_four_photos_keep_captions_rights_dates_and_resolution(tmp_path: Path, archive: Path, model_dir: Path,
                                                                   fmt: str, backend: str) -> None:  # fmt: skip
    out = tmp_path / "out"
    outcomes = run(sorted(archive.iterdir()), out, model_dir, format=fmt, backend=backend, emulate=True)
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(
        ["colour.jpg", "gray.jpg", "scan.tif", "text.png"], "ok")
    assert all(not o.warnings for o in outcomes.values()), {n: o.warnings for n, o in outcomes.items()}
    ext = ".jpg" if fmt == "jpeg" else ".png"
    tags = read_tags(*(out / (stem + ext) for stem in ("gray", "colour", "text", "scan")))
    gray, colour, text, scan = (tags[stem + ext] for stem in ("gray", "colour", "text", "scan"))

    assert gray["IFD0:Artist"] == "Jane Doe" and gray["IFD0:Copyright"] == "(c) 1911 City Archive"
    assert gray["IFD0:ImageDescription"] == "Easter parade, Fifth Avenue"
    assert gray["ExifIFD:DateTimeOriginal"] == "1911:04:16 10:00:00"
    assert gray["XMP-dc:Source"] == "Box 12, folder 3"
    assert gray["IPTC:ObjectName"] == "Easter 1911" and gray["IPTC:Keywords"] == "parade"
    assert scan["IFD0:ImageDescription"] == "Fishing fleet, 1895" and scan["IFD0:Artist"] == "A. Photographer"
    assert scan["IFD0:Copyright"] == "Public domain" and scan["IFD0:ModifyDate"] == "1895:06:01 12:00:00"
    assert (scan["IFD0:Make"], scan["IFD0:Model"], scan["IFD0:Software"]) == ("Epson", "Perfection V850", "VueScan 9")
    if fmt == "png":
        assert text["PNG:Title"] == "Harbour at dawn" and text["PNG:Copyright"] == "CC BY 4.0, Harbour Museum"
        assert text["PNG:CatalogueNumber"] == "HM-1926-0042"
    else:  # PNG text in a JPEG: EXIF and XMP where they have a field, a comment for the rest
        assert text["XMP-dc:Title"] == "Harbour at dawn" and text["XMP-dc:Rights"] == "CC BY 4.0, Harbour Museum"
        assert text["IFD0:Copyright"] == "CC BY 4.0, Harbour Museum"
        assert text["File:Comment"] == "Catalogue number: HM-1926-0042"
    for name, dpi in (("gray", 1200), ("colour", 300), ("text", 600), ("scan", 800)):
        entry = tags[name + ext]
        if fmt == "jpeg":
            assert (entry["JFIF:XResolution"], entry["JFIF:YResolution"], entry["JFIF:ResolutionUnit"]) == (dpi, dpi, 1)
            assert entry["ICC_Profile:ProfileDescription"] == "sRGB built-in"
        else:
            assert entry["PNG-pHYs:PixelsPerUnitX"] == round(dpi / 0.0254) and entry["PNG-pHYs:PixelUnits"] == 1
            assert entry["PNG:SRGBRendering"] == 0 and "ICC_Profile:ProfileDescription" not in entry
        if name != "colour":  # the colour JPEG had its resolution in JFIF alone
            assert (entry["IFD0:XResolution"], entry["IFD0:ResolutionUnit"], entry["IFD0:Orientation"]) == (dpi, 2, 1)
        source = archive / {"gray": "gray.jpg", "colour": "colour.jpg", "text": "text.png", "scan": "scan.tif"}[name]
        assert entry["XMP-iptcExt:DigitalSourceType"] == TRAINED
        assert entry["XMP-xmp:CreatorTool"] == f"acc {acc.__version__} (model {TEST_MODEL}, backend {backend})"
        assert entry["XMP-xmpMM:DerivedFrom"] == {"FilePath": source.name}
        assert entry["XMP-xmpMM:History"][-1]["Action"] == "derived"
        assert sha256(source) in entry["XMP-xmpMM:History"][-1]["Parameters"]
        assert "Warning" not in entry and "ExifTool:Warning" not in entry, entry


def test_a_rotated_photo_says_orientation_1_with_its_new_size_and_no_old_thumbnail(tmp_path: Path,
                                                                                   model_dir: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "rotated.jpg"
    photo.write_bytes(encode(gradient_photo(60, 100, seed=5), ".jpg"))
    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(encode(gradient_photo(12, 20, seed=6), ".jpg"))
    write_tags(photo, "-IFD0:Orientation#=6", "-ExifIFD:ExifImageWidth=100", "-ExifIFD:ExifImageHeight=60",
               "-XMP-tiff:Orientation#=6", "-XMP-exif:PixelXDimension=100", f"-ThumbnailImage<={thumb}",
               "-IFD0:Artist=Turned")  # fmt: skip
    assert read_tags(photo)["rotated.jpg"]["IFD1:ThumbnailLength"] > 0
    for fmt, ext in (("jpeg", ".jpg"), ("png", ".png")):
        assert run([photo], tmp_path / fmt, model_dir, format=fmt)["rotated.jpg"].status == "ok"
        tags = read_tags(tmp_path / fmt / ("rotated" + ext))["rotated" + ext]
        width, height = (tags["File:ImageWidth"], tags["File:ImageHeight"]) if fmt == "jpeg" else (
            tags["PNG:ImageWidth"], tags["PNG:ImageHeight"])  # fmt: skip
        assert (width, height) == (60, 100)  # turned upright
        assert tags["IFD0:Orientation"] == 1 and tags["XMP-tiff:Orientation"] == 1
        assert (tags["ExifIFD:ExifImageWidth"], tags["ExifIFD:ExifImageHeight"]) == (60, 100)
        assert "XMP-exif:PixelXDimension" not in tags  # a size that no longer holds is dropped
        assert not any(key.startswith("IFD1:") for key in tags)  # the gray thumbnail is gone
        assert tags["IFD0:Artist"] == "Turned"


def test_maker_notes_are_dropped_never_corrupted(tmp_path: Path, model_dir: Path) -> None:
    image = open_image(encode(gradient_photo(40, 50, seed=7), ".jpg"))
    exif = exiv2.ExifData()
    exif["Exif.Image.Make"] = "Acme"
    exif["Exif.Photo.MakerNote"] = exiv2.DataValue(b"ACME maker note, offsets into the old file: 0x0100 0x0200")
    image.setExifData(exif)
    image.writeMetadata()
    photo = tmp_path / "camera.jpg"
    photo.write_bytes(image_bytes(image))
    assert read_tags(photo)["camera.jpg"]["ExifIFD:MakerNoteUnknownText"].startswith("ACME maker note")
    assert run([photo], tmp_path / "out", model_dir)["camera.jpg"].status == "ok"
    tags = read_tags(tmp_path / "out" / "camera.jpg")["camera.jpg"]
    assert tags["IFD0:Make"] == "Acme" and not any("MakerNote" in key for key in tags)


# --- damaged metadata never costs a photo -----------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """Photos whose metadata is damaged, hostile or too large; each with the warning it must give."""
    src = tmp_path / "hostile"
    src.mkdir()
    jpeg = encode(gradient_photo(48, 64, seed=8), ".jpg")
    exif = open_image(jpeg)
    data = exiv2.ExifData()
    data["Exif.Image.Artist"] = "Damaged"
    exif.setExifData(data)
    exif.writeMetadata()
    good_exif = image_bytes(exif)
    at = good_exif.find(b"Exif\x00\x00") + 6
    count = at + 8  # IFD0's entry count
    (src / "bad-exif.jpg").write_bytes(good_exif[:count] + b"\xff\x7f" + good_exif[count + 2 :])
    (src / "not-xml.jpg").write_bytes(jpeg_with_segment(jpeg, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta <<<"))
    (src / "big-app.jpg").write_bytes(jpeg_with_segment(jpeg, 0xE1, b"JUNK\x00" + b"\xa5" * 65528))
    (src / "not-icc.jpg").write_bytes(jpeg_with_segment(good_exif, 0xE2, icc_segment(b"not a profile" * 20)))
    header_only = (300).to_bytes(4, "big") + b"\x00" * 32 + b"acsp" + b"\x00" * 88 + b"\xff" * 172  # no tag table
    (src / "bad-icc.jpg").write_bytes(jpeg_with_segment(jpeg, 0xE2, icc_segment(header_only)))
    png = encode(gradient_photo(48, 64, seed=9), ".png")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + inflation_bomb(4 << 30))  # 4 GiB of text, 4 MB on disk
    (src / "bomb.png").write_bytes(with_png_chunks(png, bomb, png_chunk(b"tEXt", b"Title\x00Still here")))
    broken = bytearray(png_chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00"))
    broken[-1] ^= 0xFF
    (src / "bad-crc.png").write_bytes(with_png_chunks(png, bytes(broken)))
    (src / "bad-icc.png").write_bytes(with_png_chunks(png, iccp_chunk(b"\x00" * 64)))
    return src


EXPECTED_WARNINGS = {
    "bad-exif.jpg": "EXIF not carried (exiv2: Directory Image with 32767 entries considered invalid; not read)",
    "not-xml.jpg": "XMP not carried (not valid XMP: its XML does not parse)",
    "not-icc.jpg": "ICC profile not used (exiv2: Not a valid ICC Profile); pixels taken as sRGB",
    "bad-icc.jpg": "ICC profile not used (LittleCMS refused it",
    "bad-icc.png": "ICC profile not used (LittleCMS refused it",
    "bomb.png": "PNG text 'Comment' not carried (inflates to more than 1 MiB)",
    "bad-crc.png": "EXIF not carried (chunk checksum mismatch)",
}


def test_damaged_metadata_is_named_and_the_photo_colorized(tmp_path: Path, hostile: Path, model_dir: Path) -> None:
    outcomes = run(sorted(hostile.iterdir()), tmp_path / "out", model_dir, format="png")
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(
        [p.name for p in hostile.iterdir()], "ok")  # fmt: skip
    for name, warning in EXPECTED_WARNINGS.items():
        # acc's warning first; a decoder may add its own (libpng: "iCCP: too short", "zTXt: truncated")
        assert outcomes[name].warnings[0].startswith(warning), outcomes[name]
        assert all(w.startswith("PNG: ") for w in outcomes[name].warnings[1:]), outcomes[name]
    assert outcomes["big-app.jpg"].warnings == ()
    tags = read_tags(tmp_path / "out" / "bomb.png", tmp_path / "out" / "not-icc.png")
    assert tags["bomb.png"]["PNG:Title"] == "Still here"
    assert tags["not-icc.png"]["IFD0:Artist"] == "Damaged"  # a bad profile costs nothing else
    journal = (tmp_path / "out" / ".acc-journal.jsonl").read_text()
    assert "inflates to more than 1 MiB" in journal  # recorded with the photo, as decoder warnings are


def test_strict_fails_photos_with_damaged_metadata(tmp_path: Path, hostile: Path, model_dir: Path) -> None:
    outcomes = run(sorted(hostile.iterdir()), tmp_path / "out", model_dir, strict=True)
    for name, warning in EXPECTED_WARNINGS.items():
        assert outcomes[name].status == "failed" and outcomes[name].reason.startswith(warning), outcomes[name]
        assert outcomes[name].reason.endswith("(--strict)")
    assert outcomes["big-app.jpg"].status == "ok"


def test_an_inflation_bomb_is_read_within_a_small_bound(hostile: Path) -> None:
    data = (hostile / "bomb.png").read_bytes()
    info = probe(data)
    tracemalloc.start()
    try:
        meta = read_source(data, info)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [t.keyword for t in meta.text] == ["Title"]
    assert peak < 3 << 20  # the 1 MiB cap and a piece: neither the 4 MB chunk nor its 4 GiB of text


def test_large_xmp_goes_whole_into_png_and_a_jpeg_keeps_its_provenance(tmp_path: Path, model_dir: Path) -> None:
    words = " ".join(f"word{i}" for i in range(30_000))  # about 260 KB of description
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
              f'<rdf:li xml:lang="x-default">{words}</rdf:li></rdf:Alt></dc:description></rdf:Description>'
              '</rdf:RDF></x:xmpmeta>')  # fmt: skip
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "large.png"
    photo.write_bytes(with_png_chunks(encode(gradient_photo(40, 48, seed=10), ".png"),
                                      png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet.encode())))
    png = run([photo], tmp_path / "png", model_dir, format="png")["large.png"]
    assert png.status == "ok" and png.warnings == ()
    assert read_tags(tmp_path / "png" / "large.png")["large.png"]["XMP-dc:Description"] == words
    jpeg = run([photo], tmp_path / "jpeg", model_dir)["large.png"]
    assert jpeg.status == "ok" and len(jpeg.warnings) == 1
    assert re.fullmatch(r"XMP not carried \(2\d\d KB: more than a JPEG segment's 64 KB; PNG output keeps it\)",
                        jpeg.warnings[0])  # fmt: skip
    tags = read_tags(tmp_path / "jpeg" / "large.jpg")["large.jpg"]
    assert "XMP-dc:Description" not in tags and tags["XMP-iptcExt:DigitalSourceType"] == TRAINED
    assert "ExifTool:Warning" not in tags


def test_a_jpeg_exif_over_64_kb_loses_the_tags_that_do_not_fit_and_says_which(tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "huge.tif"
    Image.fromarray(gradient_photo(40, 48, seed=11)).save(photo, tiffinfo={270: "x" * 70_000, 315: "Kept"})
    outcome = run([photo], tmp_path / "out", model_dir)["huge.tif"]
    assert outcome.status == "ok"
    assert outcome.warnings == ("EXIF tag Exif.Image.ImageDescription not carried (the JPEG's 64 KB EXIF segment is "
                                "full)",)  # fmt: skip
    tags = read_tags(tmp_path / "out" / "huge.jpg")["huge.jpg"]
    assert tags["IFD0:Artist"] == "Kept" and "IFD0:ImageDescription" not in tags


# --- settings: strip, no provenance, the journal -------------------------------------------------------------


def test_strip_and_no_provenance(tmp_path: Path, archive: Path, model_dir: Path) -> None:
    gray = archive / "gray.jpg"
    run([gray], tmp_path / "strip", model_dir, metadata="strip")
    run([gray], tmp_path / "bare", model_dir, metadata="strip", provenance=False)
    run([gray], tmp_path / "unlabelled", model_dir, provenance=False)
    strip = read_tags(tmp_path / "strip" / "gray.jpg")["gray.jpg"]
    bare = read_tags(tmp_path / "bare" / "gray.jpg")["gray.jpg"]
    unlabelled = read_tags(tmp_path / "unlabelled" / "gray.jpg")["gray.jpg"]
    assert not any(k.startswith(("IFD0:", "ExifIFD:", "IPTC:", "XMP-dc:")) for k in strip)
    assert strip["XMP-iptcExt:DigitalSourceType"] == TRAINED and strip["JFIF:ResolutionUnit"] == 0
    assert not any(k.startswith(("IFD0:", "XMP", "IPTC:")) for k in bare)
    assert bare["ICC_Profile:ProfileDescription"] == "sRGB built-in"  # outputs always say they are sRGB
    assert unlabelled["IFD0:Artist"] == "Jane Doe" and "XMP-iptcExt:DigitalSourceType" not in unlabelled
    assert "XMP-xmp:CreatorTool" not in unlabelled


def test_metadata_settings_are_part_of_what_makes_an_output_done(tmp_path: Path, archive: Path,
                                                                 model_dir: Path) -> None:  # fmt: skip
    photo = [archive / "gray.jpg"]
    assert run(photo, tmp_path / "out", model_dir)["gray.jpg"].status == "ok"
    assert run(photo, tmp_path / "out", model_dir, metadata="copy", provenance=True)["gray.jpg"].status == "skipped"
    for changed in ({"metadata": "strip"}, {"provenance": False}):
        assert run(photo, tmp_path / "out", model_dir, **changed)["gray.jpg"].status != "skipped", changed


def test_colorize_bytes_carries_metadata_as_the_cli_does(tmp_path: Path, archive: Path, model_dir: Path) -> None:
    source = archive / "scan.tif"
    run([source], tmp_path / "out", model_dir)
    with acc.Colorizer(model=TEST_MODEL, model_dir=str(model_dir), threads=1) as c:
        data = c.colorize_bytes(source.read_bytes(), name="scan.tif")
        unnamed = c.colorize_bytes(source.read_bytes())
    assert data == (tmp_path / "out" / "scan.jpg").read_bytes()
    tags = read_tags(_saved(tmp_path / "api.jpg", unnamed))["api.jpg"]
    assert tags["IFD0:ImageDescription"] == "Fishing fleet, 1895" and "XMP-xmpMM:DerivedFrom" not in tags
    assert sha256(source) in tags["XMP-xmpMM:History"][-1]["Parameters"]


def _saved(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_webp_and_bmp_sources(tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    exif = Image.Exif()
    exif[0x013B] = "Web Artist"
    Image.fromarray(color_photo(40, 48, seed=12)).save(src / "web.webp", lossless=True, exif=exif.tobytes())
    buf = io.BytesIO()
    Image.fromarray(gradient_photo(40, 48, seed=13)).save(buf, "BMP", dpi=(150, 150))
    (src / "old.bmp").write_bytes(buf.getvalue())
    outcomes = run(sorted(src.iterdir()), tmp_path / "out", model_dir)
    assert all(o.status == "ok" and not o.warnings for o in outcomes.values()), outcomes
    tags = read_tags(tmp_path / "out" / "web.jpg", tmp_path / "out" / "old.jpg")
    assert tags["web.jpg"]["IFD0:Artist"] == "Web Artist"
    assert tags["old.jpg"]["JFIF:XResolution"] == 150 and tags["old.jpg"]["IFD0:XResolution"] == 150


def test_gray_scan_outputs_keep_l_whatever_metadata_is_carried(tmp_path: Path, archive: Path,
                                                               model_dir: Path) -> None:  # fmt: skip
    """Metadata is wrapped around the encoded bytes: the pixels are the same with and without it."""
    photo = [archive / "scan.tif"]
    run(photo, tmp_path / "copy", model_dir, format="png")
    run(photo, tmp_path / "bare", model_dir, format="png", metadata="strip", provenance=False)
    copy = np.asarray(Image.open(tmp_path / "copy" / "scan.png"))
    bare = np.asarray(Image.open(tmp_path / "bare" / "scan.png"))
    np.testing.assert_array_equal(copy, bare)


def test_a_png_keeps_its_orientation_tag_since_its_pixels_are_kept_as_stored(tmp_path: Path, model_dir: Path) -> None:
    """acc turns JPEGs upright (their decoders apply EXIF orientation); other formats' pixels are used as
    stored, so their orientation tag still holds for the output and is carried, not reset to 1."""
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "sideways.png"
    photo.write_bytes(encode(gradient_photo(30, 70, seed=14), ".png"))
    write_tags(photo, "-IFD0:Orientation#=6", "-IFD0:Artist=Sideways")
    for fmt, ext in (("jpeg", ".jpg"), ("png", ".png")):
        assert run([photo], tmp_path / fmt, model_dir, format=fmt)["sideways.png"].status == "ok"
        tags = read_tags(tmp_path / fmt / ("sideways" + ext))["sideways" + ext]
        size = (tags["File:ImageWidth"], tags["File:ImageHeight"]) if fmt == "jpeg" else (
            tags["PNG:ImageWidth"], tags["PNG:ImageHeight"])  # fmt: skip
        assert size == (70, 30) and tags["IFD0:Orientation"] == 6 and tags["IFD0:Artist"] == "Sideways"
