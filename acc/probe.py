"""Read an image's format and size from its header, before any pixel is decoded.

The pixel cap is enforced here, so a decompression bomb (a small file declaring a huge image) is
refused before a decoder allocates anything. Truncated JPEGs are caught here too: libjpeg only warns
about a missing end of image and fills the rest with gray, so decoders alone would not notice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# File name endings acc picks up when it walks a folder. Files named explicitly are tried whatever
# their ending, so the user gets a reason rather than silence.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp"})

DEFAULT_MAX_PIXELS = 100_000_000


class BadImage(Exception):
    """An input acc cannot colorize; str(exc) is the one-line reason shown to the user."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg" | "png" | "bmp" | "tiff" | "webp"
    width: int
    height: int
    progressive: bool = False  # JPEG only: progressive or arithmetic-coded (hardware decoders refuse these)
    orientation: int = 1  # EXIF orientation 1..8 (JPEG only); decoders that ignore EXIF must apply it

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_capped(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """A file's bytes, refusing files larger than any image within the pixel cap could be (8 bytes a
    pixel: 16-bit RGBA, uncompressed) plus 16 MiB of metadata, before reading them into memory."""
    limit = max_pixels * 8 + (16 << 20)
    size = path.stat().st_size
    if size > limit:
        raise BadImage(f"file too large: {size / 2**20:.0f} MiB for an image within the pixel cap (max_pixels)")
    return path.read_bytes()


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Identify an encoded image and check it against the pixel cap; raise BadImage with the reason."""
    if not data:
        raise BadImage("empty file")
    info = _parse(data)
    if info.width <= 0 or info.height <= 0:
        raise BadImage(f"invalid {info.format.upper()} header: size {info.width}x{info.height}")
    if info.pixels > max_pixels:
        raise BadImage(
            f"too large: {info.width}x{info.height} = {info.pixels / 1e6:.1f} MP exceeds the "
            f"{max_pixels / 1e6:g} MP cap (max_pixels)"
        )
    return info


def _parse(data: bytes) -> ImageInfo:
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[4:8] == b"ftyp":
        raise BadImage("unsupported format: HEIF/AVIF")
    for magic, name in _UNSUPPORTED:
        if data.startswith(magic):
            raise BadImage(f"unsupported format: {name}")
    raise BadImage("not an image (unrecognised file format)")


_UNSUPPORTED = [
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop PSD"),
]


def _truncated(fmt: str) -> BadImage:
    return BadImage(f"truncated {fmt} header")


def _jpeg(data: bytes) -> ImageInfo:
    """Walk the marker segments up to the first scan: SOFn gives size and coding, APP1 the orientation."""
    pos, n = 2, len(data)
    size = None
    progressive = False
    orientation = 1
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise BadImage("corrupt JPEG: bad marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if len(segment) < length - 2:
            raise _truncated("JPEG")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if len(segment) < 5:
                raise _truncated("JPEG")
            height, width = struct.unpack(">HH", segment[1:5])
            size = (width, height)
            # SOF0/1 baseline/extended Huffman; everything else is progressive, lossless or arithmetic.
            progressive = marker not in (0xC0, 0xC1)
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(segment[6:])
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            if size is None:
                raise BadImage("corrupt JPEG: scan before frame header")
            # Entropy-coded data never holds 0xFFD9 (0xFF is stuffed), so an EOI after the first scan
            # is the real end of image; without it the file was cut short.
            if data.find(b"\xff\xd9", pos + 2 + length) < 0:
                raise BadImage("truncated JPEG: no end-of-image marker")
            return ImageInfo("jpeg", size[0], size[1], progressive, orientation)
        elif marker == 0xD9:
            break
        pos += 2 + length
    raise _truncated("JPEG") if size is None else BadImage("truncated JPEG: no image data")


def _exif_orientation(tiff: bytes) -> int:
    try:
        endian = "<" if tiff[:2] == b"II" else ">"
        (ifd,) = struct.unpack(endian + "I", tiff[4:8])
        (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            tag, _type, _n = struct.unpack(endian + "HHI", entry[:8])
            if tag == 0x0112:
                (value,) = struct.unpack(endian + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except struct.error:
        pass  # a damaged EXIF block does not make the image unreadable; orientation stays 1
    return 1


def _png(data: bytes) -> ImageInfo:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _truncated("PNG")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height)


def _bmp(data: bytes) -> ImageInfo:
    if len(data) < 26:
        raise _truncated("BMP")
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return ImageInfo("bmp", width, abs(height))


def _tiff(data: bytes) -> ImageInfo:
    endian = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(endian + "I", data[4:8])
        (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
        dims = {}
        for i in range(count):
            entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            tag, kind, _n = struct.unpack(endian + "HHI", entry[:8])
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
                fmt = endian + ("H" if kind == 3 else "I")
                dims[tag] = struct.unpack(fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
    except struct.error:
        raise _truncated("TIFF") from None
    if 256 not in dims or 257 not in dims:
        raise BadImage("corrupt TIFF: no image size")
    return ImageInfo("tiff", dims[256], dims[257])


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8 " and len(body) >= 10:
        width, height = struct.unpack("<HH", body[6:10])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(body) >= 5:
        (bits,) = struct.unpack("<I", body[1:5])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return ImageInfo("webp", width, height)
    raise _truncated("WebP")
