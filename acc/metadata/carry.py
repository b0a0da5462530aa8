"""What of a source's metadata still holds for its colorized output, and that metadata wrapped around the
output's encoded bytes.

Still holds: every EXIF tag of the Image, Photo and GPS groups that describes the photo rather than its
old encoding (captions, dates, photographer, rights, camera or scanner, exposure, place), with
Orientation 1 (pixels are turned upright), pixel dimensions updated and ColorSpace sRGB; XMP likewise;
IPTC-IIM as it is; text and resolution. Dropped: the thumbnail (it shows the gray photo), maker notes
(their offsets need not survive a rewrite), the layout of the old file (strips, tiles, samples,
compression, its colour profile and primaries). The ICC profile of an output says sRGB: LittleCMS's
sRGB profile in a JPEG, the sRGB chunk in a PNG.

Format limits are kept: a JPEG's EXIF, XMP and IPTC each fit one 64 KB segment (exiv2 leaves out EXIF
tags that do not fit and says which; an XMP packet that does not fit is left out, keeping acc's
provenance); the ICC profile is split over APP2 segments by exiv2. Each omission is a warning.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import cv2
import exiv2
import numpy as np

from acc.metadata import containers
from acc.metadata.containers import PngText, Resolution
from acc.metadata.exiv import image_bytes, listen, open_image
from acc.metadata.provenance import Provenance, stamp
from acc.metadata.source import SourceMetadata
from acc.workingspace import srgb_profile_bytes

XMP_JPEG_LIMIT = 65502  # bytes of packet one APP1 segment holds after its namespace header (XMP Part 3, 1.1.3)
_KEEP_GROUPS = {"Image", "Photo", "GPSInfo"}
_LAYOUT = {  # EXIF tags of the old file's layout and colour encoding: they do not hold for the output
    "Exif.Image." + name
    for name in ("NewSubfileType SubfileType ImageWidth ImageLength BitsPerSample Compression "
                 "PhotometricInterpretation Thresholding CellWidth CellLength FillOrder StripOffsets Orientation "
                 "SamplesPerPixel RowsPerStrip StripByteCounts MinSampleValue MaxSampleValue PlanarConfiguration "
                 "GrayResponseUnit GrayResponseCurve T4Options T6Options TransferFunction Predictor WhitePoint "
                 "PrimaryChromaticities ColorMap HalftoneHints TileWidth TileLength TileOffsets TileByteCounts "
                 "SubIFDs InkSet InkNames NumberOfInks DotRange ExtraSamples SampleFormat SMinSampleValue "
                 "SMaxSampleValue TransferRange JPEGTables JPEGProc JPEGInterchangeFormat "
                 "JPEGInterchangeFormatLength JPEGRestartInterval JPEGLosslessPredictors JPEGPointTransforms "
                 "JPEGQTables JPEGDCTables JPEGACTables YCbCrCoefficients YCbCrSubSampling YCbCrPositioning "
                 "ReferenceBlackWhite XMLPacket IPTCNAA ImageResources InterColorProfile XResolution YResolution "
                 "ResolutionUnit").split()
} | {"Exif.Photo." + name for name in ("ComponentsConfiguration CompressedBitsPerPixel MakerNote Gamma "
                                       "PixelXDimension PixelYDimension ColorSpace").split()}  # fmt: skip
_XMP_LAYOUT = {  # the same in XMP, and what points at data the output does not have
    "Xmp.tiff." + name
    for name in ("ImageWidth ImageLength BitsPerSample Compression PhotometricInterpretation SamplesPerPixel "
                 "PlanarConfiguration YCbCrSubSampling YCbCrPositioning YCbCrCoefficients ReferenceBlackWhite "
                 "TransferFunction WhitePoint PrimaryChromaticities Orientation XResolution YResolution "
                 "ResolutionUnit").split()
} | {"Xmp.exif.ComponentsConfiguration", "Xmp.exif.CompressedBitsPerPixel", "Xmp.exif.PixelXDimension",
     "Xmp.exif.PixelYDimension", "Xmp.exif.ColorSpace", "Xmp.xmpNote.HasExtendedXMP", "Xmp.photoshop.ICCProfile",
     "Xmp.photoshop.ColorMode"}  # fmt: skip
_XMP_DROPPED_PREFIXES = ("Xmp.xmp.Thumbnails",)

# PNG text keywords (PNG 3rd edition, 11.3.4.2) and where a JPEG keeps the same thing.
_TEXT_TO_EXIF = {"Author": "Exif.Image.Artist", "Description": "Exif.Image.ImageDescription",
                 "Copyright": "Exif.Image.Copyright", "Software": "Exif.Image.Software", "Source": "Exif.Image.Model"}
_TEXT_TO_XMP = {"Title": "Xmp.dc.title", "Author": "Xmp.dc.creator", "Description": "Xmp.dc.description",
                "Copyright": "Xmp.dc.rights", "Disclaimer": "Xmp.xmpRights.UsageTerms"}  # fmt: skip
_LANG_ALT = {"Xmp.dc.title", "Xmp.dc.description", "Xmp.dc.rights", "Xmp.xmpRights.UsageTerms"}


@dataclass(frozen=True)
class Output:
    """The output's format ("jpeg" or "png"), its size in pixels, and whether its pixels were turned
    upright (acc applies a JPEG's EXIF orientation; other formats' pixels are kept as stored, so their
    orientation tag still holds and is carried as it is)."""

    kind: str
    width: int
    height: int
    turned: bool = True


def wrap(encoded: bytes, out: Output, source: SourceMetadata | None, provenance: Provenance | None
         ) -> tuple[bytes, list[str]]:  # fmt: skip
    """The encoded output with the metadata that still holds (source None: none is carried), an sRGB
    profile and provenance (unless None); and warnings naming what could not be carried."""
    warnings: list[str] = []
    src = source or SourceMetadata()
    resolution = src.resolution
    exif = _exif(src, out, resolution)
    xmp = _xmp(src, out)
    texts = list(src.text)
    comments = [src.comment] if src.comment else []
    if out.kind == "jpeg":
        comments += _map_text_into(texts, exif, xmp)
        texts = []
    elif src.comment and not any(t.keyword in ("Description", "Comment") for t in texts):
        texts.append(PngText("Comment", src.comment))
        comments = []
    if not out.turned and "Exif.Image.Orientation" in src.exif:
        exif.add(src.exif["Exif.Image.Orientation"])  # pixels as stored: the tag still holds
    elif exif.count():
        exif["Exif.Image.Orientation"] = exiv2.UShortValue(1)  # the pixels were turned upright
    if provenance is not None:
        stamp(xmp, provenance)
    with listen() as heard:
        try:
            # exiv2 writes into a tiny image of the same format, whose metadata is then spliced into the
            # output in one copy: the output's own bytes are never rewritten by exiv2 (a 12 MP JPEG
            # took 9 ms that way, against about 1 ms).
            image = open_image(_carrier(out.kind))
            if exif.count():
                image.setExifData(exif)
            if src.iptc.count():
                image.setIptcData(src.iptc)
            packet = _packet(xmp, out, provenance, warnings)
            if packet:
                image.setXmpPacket(packet)
                image.writeXmpFromPacket(True)
            if out.kind == "jpeg":
                image.setIccProfile(exiv2.DataBuf(srgb_profile_bytes()))
            image.writeMetadata()
            carried = image_bytes(image)
        except exiv2.Exiv2Error as exc:
            warnings.append(f"metadata not carried (exiv2: {str(exc.args[-1] if exc.args else exc).rstrip('.')})")
            carried = _carrier(out.kind)
    warnings += [f"EXIF {_words(line)}" if line.startswith("Exif tag") else f"metadata: {line}"
                 for line in dict.fromkeys(heard)]  # fmt: skip
    if out.kind == "jpeg":
        head = containers.jpeg_app_segments(carried)
        if resolution is not None:
            head = containers.set_jfif_density(b"\xff\xd8" + head, resolution)[2:]
        head += containers.jpeg_comment_segments(comments)
        return containers.replace_app_segments(encoded, head), warnings
    chunks = containers.png_chunk(b"sRGB", b"\x00")  # perceptual, as LittleCMS's sRGB profile's default
    if resolution is not None:
        chunks += containers.png_phys_chunk(resolution)
    chunks += containers.png_ancillary_chunks(carried)
    chunks += b"".join(containers.png_text_chunk(t) for t in texts)
    return containers.insert_after_ihdr(encoded, chunks), warnings


@cache
def _carrier(kind: str) -> bytes:
    """The smallest image of the format (8x8 gray) for exiv2 to write metadata into."""
    ok, buf = cv2.imencode(".jpg" if kind == "jpeg" else ".png", np.zeros((8, 8), np.uint8))
    return buf.tobytes()


def _exif(src: SourceMetadata, out: Output, resolution: Resolution | None) -> exiv2.ExifData:
    exif = exiv2.ExifData()
    kept = [d for d in src.exif if d.groupName() in _KEEP_GROUPS and d.key() not in _LAYOUT]
    for datum in kept:
        exif.add(datum)
    if resolution is not None:
        exif["Exif.Image.XResolution"] = _urational(resolution.x)
        exif["Exif.Image.YResolution"] = _urational(resolution.y)
        exif["Exif.Image.ResolutionUnit"] = exiv2.UShortValue(2)
    if any(d.groupName() == "Photo" for d in kept):
        exif["Exif.Photo.PixelXDimension"] = exiv2.ULongValue(out.width)
        exif["Exif.Photo.PixelYDimension"] = exiv2.ULongValue(out.height)
        exif["Exif.Photo.ColorSpace"] = exiv2.UShortValue(1)  # sRGB
    return exif


def _urational(value: float) -> exiv2.URationalValue:
    f = Fraction(value).limit_denominator(10000)
    v = exiv2.URationalValue()
    v.read(f"{f.numerator}/{f.denominator}")
    return v


def _xmp(src: SourceMetadata, out: Output) -> exiv2.XmpData:
    xmp = exiv2.XmpData()
    for datum in src.xmp:
        key = datum.key()
        if key not in _XMP_LAYOUT and not key.startswith(_XMP_DROPPED_PREFIXES):
            xmp.add(datum)
    if "Xmp.tiff.Orientation" in src.xmp:
        xmp["Xmp.tiff.Orientation"] = "1" if out.turned else src.xmp["Xmp.tiff.Orientation"].toString()
    return xmp


def _map_text_into(texts: list[PngText], exif: exiv2.ExifData, xmp: exiv2.XmpData) -> list[str]:
    """PNG text into a JPEG's EXIF and XMP, where it has a field; the rest as "Keyword: text" comments."""
    comments = []
    for entry in texts:
        placed = False
        if entry.keyword in _TEXT_TO_EXIF and entry.text.isascii():
            exif[_TEXT_TO_EXIF[entry.keyword]] = entry.text
            placed = True
        key = _TEXT_TO_XMP.get(entry.keyword)
        if key in _LANG_ALT:
            xmp[key] = f'lang="{entry.language or "x-default"}" {entry.text}'
            placed = True
        elif key:
            xmp[key] = entry.text
            placed = True
        if entry.keyword == "Creation Time" and (when := _iso_date(entry.text)):
            xmp["Xmp.xmp.CreateDate"] = when
            placed = True
        if entry.keyword == "Comment":
            comments.append(entry.text)
        elif not placed:
            comments.append(f"{entry.keyword}: {entry.text}")
    return comments


def _iso_date(text: str) -> str | None:
    """PNG's Creation Time (RFC 1123 recommended, ISO 8601 common) as an XMP date; None if neither."""
    if re.fullmatch(r"\d{4}(-\d\d(-\d\d([T ]\d\d:\d\d(:\d\d)?)?)?)?", text.strip()):
        return text.strip().replace(" ", "T")
    try:
        return email.utils.parsedate_to_datetime(text).isoformat()
    except (TypeError, ValueError):
        return None


def _packet(xmp: exiv2.XmpData, out: Output, provenance: Provenance | None, warnings: list[str]) -> str:
    """The XMP packet to write ("" for none). A JPEG's must fit one segment: when the source's XMP does
    not, it is left out (named in a warning) and acc's provenance alone is written."""
    if not xmp.count():
        return ""
    flags = exiv2.XmpParser.XmpFormatFlags.useCompactFormat
    code, packet = exiv2.XmpParser.encode(xmp, flags, 0)
    if code:
        warnings.append("XMP not carried (exiv2 could not write it)")
        return ""
    size = len(packet.encode("utf-8"))
    if out.kind != "jpeg" or size <= XMP_JPEG_LIMIT:
        return packet
    warnings.append(f"XMP not carried ({size // 1024} KB: more than a JPEG segment's 64 KB; PNG output keeps it)")
    if provenance is None:
        return ""
    alone = exiv2.XmpData()
    stamp(alone, provenance)
    return exiv2.XmpParser.encode(alone, flags, 0)[1]


def _words(line: str) -> str:
    """exiv2's "Exif tag Exif.Photo.UserComment not encoded" in acc's words."""
    match = re.match(r"Exif tag (\S+) not encoded", line)
    return f"tag {match.group(1)} not carried (the JPEG's 64 KB EXIF segment is full)" if match else line
