"""Where metadata sits in a JPEG, PNG or BMP file, read with bounds and spliced into encoded output.

Only the containers are handled here (segment and chunk framing, JFIF and BMP density fields, PNG's
own pHYs and text chunks); what the EXIF, XMP and IPTC blocks hold is exiv2's job (acc/metadata/exiv.py).

Bounds: every walk stops at the data's end and never trusts a length past it; compressed PNG text
(zTXt, compressed iTXt, iCCP) is inflated with a cap (TEXT_LIMIT), so a small chunk that inflates to
gigabytes costs at most the cap. Specs: JPEG (ITU-T T.81, B.1.1) and JFIF 1.02; PNG (W3C, 3rd edition,
sections 5 and 11.3); BMP's BITMAPINFOHEADER.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_LIMIT = 1 << 20  # bytes one PNG text or profile chunk may inflate to (a photo's text is far less)
INCH = 0.0254  # metres


class ContainerError(ValueError):
    """A metadata field of the container cannot be read; str(exc) says why, in one line."""


@dataclass(frozen=True)
class Resolution:
    """Pixel density in dots per inch, horizontally and vertically."""

    x: float
    y: float

    @staticmethod
    def per_metre(x: float, y: float) -> Resolution:
        """From whole pixels per metre (PNG, BMP): a whole dpi when it rounds to these (1200 dpi is stored
        as 47244 px/m, which is 1199.9976 dpi)."""
        return Resolution(_tidy(x * INCH, INCH / 2), _tidy(y * INCH, INCH / 2))

    @staticmethod
    def per_cm(x: float, y: float) -> Resolution:
        return Resolution(_tidy(x * 2.54, 0.01), _tidy(y * 2.54, 0.01))


def _tidy(dpi: float, within: float) -> float:
    """A density converted from metric units, snapped to the whole dpi it was most likely set as."""
    return float(round(dpi)) if abs(dpi - round(dpi)) <= within else dpi


# JPEG --------------------------------------------------------------------------------------------------
def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each marker segment before the first scan."""
    pos, n = 2, len(data)
    while pos + 4 <= n and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > n:
            return
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length


def jfif_density(data: bytes) -> Resolution | None:
    """The JFIF APP0 density, when it states one in dpi or dots per cm (unit 0 is an aspect ratio only)."""
    for marker, start, end in jpeg_segments(data):
        if marker == 0xE0 and data[start : start + 5] == b"JFIF\x00" and end - start >= 12:
            unit, x, y = struct.unpack_from(">BHH", data, start + 7)
            if x and y and unit == 1:
                return Resolution(float(x), float(y))
            if x and y and unit == 2:
                return Resolution.per_cm(x, y)
            return None
    return None


def set_jfif_density(jpeg: bytes, res: Resolution) -> bytes:
    """The JPEG with its JFIF APP0's density set to `res` in dpi (rounded: the field holds whole numbers);
    unchanged when it has no JFIF segment or the density does not fit the field."""
    x, y = round(res.x), round(res.y)
    if not (0 < x <= 0xFFFF and 0 < y <= 0xFFFF):
        return jpeg
    for marker, start, end in jpeg_segments(jpeg):
        if marker == 0xE0 and jpeg[start : start + 5] == b"JFIF\x00" and end - start >= 12:
            return jpeg[: start + 7] + struct.pack(">BHH", 1, x, y) + jpeg[start + 12 :]
    return jpeg


def jpeg_comment_segments(texts: list[str]) -> bytes:
    """COM segments holding `texts` (UTF-8), each cut to the 65533 bytes a segment can hold."""
    out = b""
    for text in texts:
        body = text.encode("utf-8")[:65533]
        out += b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body
    return out


def without_icc_segments(jpeg: bytes) -> bytes:
    """The JPEG without its APP2 ICC_PROFILE segments (to read the rest when the profile is damaged)."""
    parts, pos = [], 0
    for marker, start, end in jpeg_segments(jpeg):
        if marker == 0xE2 and jpeg[start : start + 12] == b"ICC_PROFILE\x00":
            parts.append(jpeg[pos : start - 4])
            pos = end
    return b"".join(parts) + jpeg[pos:]


def jpeg_app_segments(jpeg: bytes) -> bytes:
    """The APPn segments (whole, markers included) that lead a JPEG."""
    parts = []
    for marker, start, end in jpeg_segments(jpeg):
        if not 0xE0 <= marker <= 0xEF:
            break
        parts.append(jpeg[start - 4 : end])
    return b"".join(parts)


def replace_app_segments(jpeg: bytes, segments: bytes) -> bytes:
    """The JPEG with its leading APPn segments (an encoder's JFIF) replaced by whole `segments`."""
    pos = 2
    for marker, _, end in jpeg_segments(jpeg):
        if not 0xE0 <= marker <= 0xEF:
            break
        pos = end
    return b"".join((b"\xff\xd8", segments, memoryview(jpeg)[pos:]))


# PNG ---------------------------------------------------------------------------------------------------
def png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, data start, data end) of each chunk, up to IEND or where the file stops making sense."""
    pos, n = len(PNG_SIGNATURE), len(data)
    while pos + 12 <= n:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > n:
            return
        yield kind, pos + 8, end
        if kind == b"IEND":
            return
        pos = end + 4


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def inflate(data: bytes | memoryview, limit: int = TEXT_LIMIT) -> bytes:
    """zlib data inflated to at most `limit` bytes; ContainerError when it would inflate to more. Fed in
    small pieces, so that what is held is the limit and a piece, whatever the data's size."""
    z = zlib.decompressobj()
    out = bytearray()
    view = memoryview(data)
    try:
        for at in range(0, len(view), 1 << 16):
            out += z.decompress(view[at : at + (1 << 16)], limit + 1 - len(out))
            if len(out) > limit or z.unconsumed_tail:
                raise ContainerError(f"inflates to more than {limit >> 20} MiB")
            if z.eof:
                break
    except zlib.error as exc:
        raise ContainerError(f"damaged compressed data ({exc})") from None
    return bytes(out)


@dataclass(frozen=True)
class PngText:
    """One tEXt, zTXt or iTXt entry: keyword and text (decoded), and its iTXt language tag if any."""

    keyword: str
    text: str
    language: str = ""


def png_keyword(body: bytes | memoryview) -> str:
    """The keyword a text chunk begins with (1 to 79 Latin-1 characters, then a NUL)."""
    end = bytes(body[:80]).find(b"\x00")
    if end < 1:
        raise ContainerError("text chunk without a valid keyword")
    return bytes(body[:end]).decode("latin-1")


def png_text(kind: bytes, body: memoryview) -> PngText:
    """Decode a tEXt (Latin-1), zTXt (Latin-1, deflated) or iTXt (UTF-8, optionally deflated) chunk.
    Compressed text is read through the view, never copied whole."""
    name = png_keyword(body)
    rest = body[len(name) + 1 :]
    if kind == b"tEXt":
        return PngText(name, bytes(rest).decode("latin-1"))
    if kind == b"zTXt":
        return PngText(name, inflate(rest[1:]).decode("latin-1"))
    head = bytes(rest[: 2 + 160])  # flag, method, then language tag and translated keyword (short fields)
    lang_end = head.find(b"\x00", 2)
    key_end = head.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
    if len(rest) < 2 or key_end < 0:
        raise ContainerError("truncated iTXt chunk")
    compressed, language, text = head[0], head[2:lang_end], rest[key_end + 1 :]
    raw = inflate(text) if compressed else bytes(text)
    try:
        return PngText(name, raw.decode("utf-8"), language.decode("latin-1"))
    except UnicodeDecodeError:
        raise ContainerError("iTXt text is not UTF-8") from None


def png_text_chunk(entry: PngText) -> bytes:
    """tEXt when the text is Latin-1 without a language, iTXt (uncompressed) otherwise."""
    keyword = entry.keyword.encode("latin-1")
    try:
        if not entry.language:
            return png_chunk(b"tEXt", keyword + b"\x00" + entry.text.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    return png_chunk(b"iTXt", keyword + b"\x00\x00\x00" + entry.language.encode("latin-1") + b"\x00\x00"
                     + entry.text.encode("utf-8"))  # fmt: skip


def png_icc(body: memoryview) -> bytes:
    """The ICC profile of an iCCP chunk (name, method 0, deflated profile)."""
    end = bytes(body[:80]).find(b"\x00")
    if end < 1 or len(body) < end + 2 or body[end + 1] != 0:
        raise ContainerError("damaged iCCP chunk")
    return inflate(body[end + 2 :])


def png_phys(body: bytes | memoryview) -> Resolution | None:
    """pHYs density when its unit is the metre (unit 0 is an aspect ratio only)."""
    if len(body) != 9:
        raise ContainerError("pHYs chunk of the wrong size")
    x, y, unit = struct.unpack(">IIB", bytes(body))
    return Resolution.per_metre(x, y) if unit == 1 and x and y else None


def png_phys_chunk(res: Resolution) -> bytes:
    return png_chunk(b"pHYs", struct.pack(">IIB", round(res.x / INCH), round(res.y / INCH), 1))


def insert_after_ihdr(png: bytes, chunks: bytes) -> bytes:
    """Insert whole chunks right after IHDR: before PLTE and IDAT, as iCCP, sRGB and pHYs must be."""
    for kind, _, end in png_chunks(png):
        if kind == b"IHDR":
            view = memoryview(png)
            return b"".join((view[: end + 4], chunks, view[end + 4 :]))
    raise ContainerError("PNG without IHDR")


def png_ancillary_chunks(png: bytes) -> bytes:
    """The whole chunks between IHDR and the image data (PLTE or IDAT)."""
    parts = []
    for kind, start, end in png_chunks(png):
        if kind in (b"PLTE", b"IDAT", b"IEND"):
            break
        if kind != b"IHDR":
            parts.append(png[start - 8 : end + 4])
    return b"".join(parts)


# BMP ---------------------------------------------------------------------------------------------------
def bmp_density(data: bytes) -> Resolution | None:
    """BITMAPINFOHEADER (and later) density, in pixels per metre; None when unset or an OS/2 header."""
    if len(data) < 46 or struct.unpack_from("<I", data, 14)[0] < 40:
        return None
    x, y = struct.unpack_from("<ii", data, 38)
    return Resolution.per_metre(x, y) if x > 0 and y > 0 else None
