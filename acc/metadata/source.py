"""What a photo says about itself, read from its encoded bytes: EXIF, XMP, IPTC-IIM, ICC profile, PNG
text and resolution (SourceMetadata).

JPEG, TIFF and WebP are read by exiv2; PNG's chunks are walked here (acc/metadata/containers.py, so
that compressed text is inflated with a cap) and its EXIF, XMP and IPTC handed to exiv2 in a small
carrier PNG of their own; BMP holds a resolution at most. Nothing here fails a photo: what cannot be
read is left out and named in a warning in acc's words ("EXIF not carried (...)"), each kind on its
own, so a damaged EXIF costs neither the XMP nor the photo. Reading holds at most the photo's bytes
and a capped copy of each compressed chunk.
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass, field

import exiv2

from acc.metadata import containers
from acc.metadata.containers import ContainerError, PngText, Resolution
from acc.metadata.exiv import listen, open_image
from acc.probe import ImageInfo

# PNG text keywords whose text is a metadata block of its own (ImageMagick's hex "raw profiles", XMP).
_PNG_BLOCKS = ("XML:com.adobe.xmp", "Raw profile type exif", "Raw profile type APP1", "Raw profile type iptc",
               "Raw profile type xmp")  # fmt: skip


@dataclass
class SourceMetadata:
    """What was read. exif/xmp/iptc are exiv2 containers (empty when the photo had none)."""

    exif: exiv2.ExifData = field(default_factory=exiv2.ExifData)
    xmp: exiv2.XmpData = field(default_factory=exiv2.XmpData)
    iptc: exiv2.IptcData = field(default_factory=exiv2.IptcData)
    icc: bytes | None = None  # the embedded ICC profile
    comment: str = ""  # JPEG COM, PNG Description (as exiv2 gives it)
    text: list[PngText] = field(default_factory=list)  # PNG text chunks other than metadata blocks
    resolution: Resolution | None = None
    warnings: list[str] = field(default_factory=list)


def read_source(data: bytes, info: ImageInfo, everything: bool = True) -> SourceMetadata:
    """Read a photo's metadata (everything=False: its ICC profile alone)."""
    meta = SourceMetadata()
    with listen() as heard:
        if info.format == "png":
            carrier = _walk_png(data, meta, everything)
            if carrier and everything:
                _read_exiv2(carrier, meta, everything, "PNG")
        elif info.format == "bmp":
            meta.resolution = containers.bmp_density(data) if everything else None
        else:
            _read_exiv2(data, meta, everything, info.format.upper())
            if info.format == "jpeg" and everything and meta.resolution is None:
                meta.resolution = containers.jfif_density(data)
    meta.warnings += _attribute(heard, meta)
    return meta


def _read_exiv2(data: bytes, meta: SourceMetadata, everything: bool, fmt: str) -> None:
    try:
        image = open_image(data)
    except exiv2.Exiv2Error as exc:
        if fmt == "JPEG" and "ICC" in str(exc):  # exiv2 refuses all of a JPEG's metadata for a bad profile
            meta.warnings.append(f"ICC profile not used (exiv2: {_exiv2_reason(exc)}); pixels taken as sRGB")
            return _read_exiv2(containers.without_icc_segments(data), meta, everything, "JPEG without profile")
        meta.warnings.append(f"{fmt.split()[0]} metadata not carried (exiv2: {_exiv2_reason(exc)})")
        return
    if meta.icc is None and image.iccProfileDefined():
        meta.icc = bytes(image.iccProfile().data())
    if not everything:
        return
    for datum in image.exifData():
        meta.exif.add(datum)
    for datum in image.xmpData():
        meta.xmp.add(datum)
    for datum in image.iptcData():
        meta.iptc.add(datum)
    if image.xmpPacket() and meta.xmp.empty():
        meta.warnings.append("XMP not carried (not valid XMP: its XML does not parse)")
    meta.comment = meta.comment or image.comment()
    meta.resolution = meta.resolution or exif_resolution(meta.exif)


def exif_resolution(exif: exiv2.ExifData) -> Resolution | None:
    """X/YResolution with ResolutionUnit (2 inch, the default; 3 cm); None when absent or not positive."""
    try:
        x = _rational(exif, "Exif.Image.XResolution")
        y = _rational(exif, "Exif.Image.YResolution") or x
        unit = int(exif["Exif.Image.ResolutionUnit"].toInt64()) if "Exif.Image.ResolutionUnit" in exif else 2
    except (ValueError, ZeroDivisionError, exiv2.Exiv2Error):
        return None
    if not x or not y or unit not in (2, 3):
        return None
    return Resolution(x, y) if unit == 2 else Resolution.per_cm(x, y)


def _rational(exif: exiv2.ExifData, key: str) -> float | None:
    if key not in exif:
        return None
    num, den = exif[key].toRational()
    return num / den if den and num > 0 else None


def _walk_png(data: bytes, meta: SourceMetadata, everything: bool) -> bytes | None:
    """Take PNG's own chunks (text, pHYs, iCCP) into `meta`; return a carrier PNG holding its EXIF, XMP
    and IPTC blocks uncompressed for exiv2, or None when it has none."""
    blocks: list[bytes] = []
    view = memoryview(data)  # chunks are read in place: nothing of the photo is copied whole
    for kind, start, end in containers.png_chunks(data):
        if kind not in (b"iCCP", b"eXIf", b"pHYs", b"tEXt", b"zTXt", b"iTXt") or (not everything and kind != b"iCCP"):
            continue
        body = view[start:end]
        what = {b"iCCP": "ICC profile", b"eXIf": "EXIF", b"pHYs": "resolution"}.get(kind, "PNG text")
        try:
            if zlib.crc32(view[start - 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
                raise ContainerError("chunk checksum mismatch")
            if kind == b"iCCP":
                meta.icc = meta.icc or containers.png_icc(body)
            elif kind == b"eXIf":
                blocks.append(containers.png_chunk(b"eXIf", bytes(body)))
            elif kind == b"pHYs":
                meta.resolution = containers.png_phys(body)
            else:
                what = f"PNG text {containers.png_keyword(body)!r}"
                entry = containers.png_text(kind, body)
                if entry.keyword in _PNG_BLOCKS:
                    blocks.append(_block_chunk(entry))
                else:
                    meta.text.append(entry)
        except ContainerError as exc:
            meta.warnings.append(f"{what} not carried ({exc})")
    if not blocks:
        return None
    return _CARRIER[0] + b"".join(blocks) + _CARRIER[1]


def _block_chunk(entry: PngText) -> bytes:
    """A metadata block of PNG text, as an uncompressed chunk exiv2 reads (XMP: iTXt; raw profiles: tEXt)."""
    if entry.keyword == "XML:com.adobe.xmp":
        return containers.png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + entry.text.encode("utf-8"))
    text = entry.text.encode("latin-1", "replace")
    try:  # a raw profile is "\nNAME\n  LENGTH\nHEX...": checked here, so exiv2 gets no damaged hex
        _, _name, length, hexdigits = text.split(b"\n", 3)
        if len(binascii.unhexlify(b"".join(hexdigits.split()))) != int(length):
            raise ValueError("length differs")
    except (ValueError, binascii.Error):
        raise ContainerError("damaged raw profile") from None
    return containers.png_chunk(b"tEXt", entry.keyword.encode("latin-1") + b"\x00" + text)


def _carrier_parts() -> tuple[bytes, bytes]:
    """A 1x1 gray PNG, split after IHDR: metadata chunks go between the two parts."""
    ihdr = containers.png_chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00")
    idat = containers.png_chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return containers.PNG_SIGNATURE + ihdr, idat + containers.png_chunk(b"IEND", b"")


_CARRIER = _carrier_parts()


def _exiv2_reason(exc: exiv2.Exiv2Error) -> str:
    return str(exc.args[-1] if exc.args else exc).rstrip(".")


def _attribute(heard: list[str], meta: SourceMetadata) -> list[str]:
    """exiv2's messages as acc's warnings, each under the kind it concerns ("carried in part" when some
    of that kind was read nonetheless)."""
    warnings = []
    for line in dict.fromkeys(heard):
        upper = line.upper()
        if "XMP" in upper:
            kind, got = "XMP", not meta.xmp.empty()
        elif "IPTC" in upper or "PHOTOSHOP" in upper:
            kind, got = "IPTC", not meta.iptc.empty()
        elif "ICC" in upper:
            kind, got = "ICC profile", meta.icc is not None
        else:
            kind, got = "EXIF", not meta.exif.empty()
        if kind == "XMP" and any(w.startswith("XMP not carried") for w in meta.warnings):
            continue
        warnings.append(f"{kind} {'carried in part' if got else 'not carried'} (exiv2: {line})")
    return warnings
