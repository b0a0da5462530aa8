"""Read an image's format and size from its header, before any pixel is decoded.

The pixel cap is enforced here, so a decompression bomb (a small file declaring a huge image) is
refused before a decoder allocates anything; the header is read from the open file before the rest
(OpenedInput), so the runner's memory budget can admit a photo before its bytes are in memory.
Truncated JPEGs are caught here too: libjpeg only warns about a missing end of image and fills the
rest with gray, so decoders alone would not notice.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from acc.errors import BadImage  # noqa: F401 (the backends take the base class from here)
from acc.errors import (CorruptImage, EmptyImage, ImageTooLarge, NotAnImage, NotARegularFile, TruncatedImage,
                        UnsupportedImage)

# File name endings acc picks up when it walks a folder. Files named explicitly are tried whatever
# their ending, so the user gets a reason rather than silence.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp"})

DEFAULT_MAX_PIXELS = 100_000_000




@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg" | "png" | "bmp" | "tiff" | "webp"
    width: int
    height: int
    progressive: bool = False  # JPEG only: progressive or arithmetic-coded (hardware decoders refuse these)
    orientation: int = 1  # EXIF orientation 1..8 (JPEG only); decoders that ignore EXIF must apply it
    channels: int = 3  # samples per pixel as stored (gray 1, gray+alpha 2, colour 3, with alpha or CMYK 4)
    bits: int = 8  # bits per sample as stored
    data_offset: int = 0  # JPEG: where the first scan's entropy-coded data begins
    icc: bool = False  # an ICC profile is embedded (acc/workingspace.py may convert the photo on the host)
    # JPEG only: three components stored as R, G, B rather than Y, Cb, Cr (an Adobe APP14 segment with
    # transform 0, or components named R, G, B without one, as libjpeg reads them): the first is not luma.
    rgb_coded: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


class Source:
    """Random access to an encoded image: `size` bytes, read(offset, n). Header parsing reads through
    this, so a header can be checked from an open file before the whole file is read."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._data = data

    def read(self, offset: int, n: int) -> bytes:
        return self._data[offset : offset + n]


class FileSource(Source):
    """A Source over an open file descriptor (pread: no shared file position, thread-safe)."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self._fd = fd

    def read(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, max(0, min(n, self.size - offset)), offset) if offset < self.size else b""


def size_limit(max_pixels: int) -> int:
    """The largest file an image within the pixel cap could be: 8 bytes a pixel (16-bit RGBA,
    uncompressed) plus 16 MiB of metadata."""
    return max_pixels * 8 + (16 << 20)


class OpenedInput:
    """An input file, opened without blocking and checked from its header before it is read.

    Only a regular file is read (a named pipe swapped in after listing cannot block: O_NONBLOCK);
    a file larger than any image within the pixel cap is refused before reading (size_limit).
    """

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            st = os.fstat(self._fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotARegularFile("not a regular file")
            if st.st_size > size_limit(max_pixels):
                raise ImageTooLarge(f"file too large: {st.st_size / 2**20:.0f} MiB for an image within the pixel cap "
                               "(max_pixels)")  # fmt: skip
            self.size = st.st_size
            self.info = probe_header(FileSource(self._fd, st.st_size), max_pixels)
        except BaseException:
            os.close(self._fd)
            raise

    def read(self) -> bytes:
        """The whole file, checked complete (check_complete)."""
        chunks, offset = [], 0
        while offset < self.size:
            chunk = os.pread(self._fd, min(self.size - offset, 16 << 20), offset)
            if not chunk:
                raise TruncatedImage("file shrank while being read")
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        check_complete(data, self.info)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OpenedInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Identify an encoded image in memory, check it against the pixel cap and for completeness; raise
    BadImage with the reason."""
    info = probe_header(Source(data), max_pixels)
    check_complete(data, info)
    return info


def probe_header(src: Source, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Identify an encoded image from its header and check it against the pixel cap."""
    if not src.size:
        raise EmptyImage("empty file")
    info = _parse(src)
    if info.width <= 0 or info.height <= 0:
        raise CorruptImage(f"invalid {info.format.upper()} header: size {info.width}x{info.height}")
    if info.pixels > max_pixels:
        raise ImageTooLarge(
            f"too large: {info.width}x{info.height} = {info.pixels / 1e6:.1f} MP exceeds the "
            f"{max_pixels / 1e6:g} MP cap (max_pixels)"
        )
    return info


def check_complete(data: bytes, info: ImageInfo) -> None:
    """Refuse a JPEG cut short: entropy-coded data never holds 0xFFD9 (0xFF is stuffed), so an EOI after
    the first scan is the real end of image; without it libjpeg would only warn and fill in gray."""
    if info.format == "jpeg" and data.find(b"\xff\xd9", info.data_offset) < 0:
        raise TruncatedImage("truncated JPEG: no end-of-image marker")


def _parse(src: Source) -> ImageInfo:
    head = src.read(0, 16)
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg(src)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(src)
    if head[:2] == b"BM":
        return _bmp(src.read(0, 30))
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(src)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(src.read(0, 64))
    if head[4:8] == b"ftyp":
        raise UnsupportedImage("unsupported format: HEIF/AVIF")
    for magic, name in _UNSUPPORTED:
        if head.startswith(magic):
            raise UnsupportedImage(f"unsupported format: {name}")
    raise NotAnImage("not an image (unrecognised file format)")


_UNSUPPORTED = [
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop PSD"),
]


def _truncated(fmt: str) -> TruncatedImage:
    return TruncatedImage(f"truncated {fmt} header")


def _jpeg(src: Source) -> ImageInfo:
    """Walk the marker segments up to the first scan: SOFn gives size, depth, components and coding,
    APP1 the orientation, APP0/APP14 how colour is coded. Segments are skipped by their lengths, never read
    whole, except those."""
    pos, n = 2, src.size
    frame = None
    orientation = 1
    icc = False
    jfif, adobe_transform = False, None
    while pos + 4 <= n:
        head = src.read(pos, 4)
        if head[0] != 0xFF:
            raise CorruptImage("corrupt JPEG: bad marker")
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[2:4])
        if length < 2:
            raise CorruptImage("corrupt JPEG: bad segment length")
        if pos + 2 + length > n:
            raise _truncated("JPEG")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            segment = src.read(pos + 4, 6)
            if len(segment) < 6:
                raise _truncated("JPEG")
            bits, height, width, components = struct.unpack(">BHHB", segment)
            ids = src.read(pos + 10, 3 * components)[::3]  # each component: id, sampling, table
            # SOF0/1 baseline/extended Huffman; everything else is progressive, lossless or arithmetic.
            frame = (width, height, marker not in (0xC0, 0xC1), components, bits, ids)
        elif marker == 0xE0:
            jfif = jfif or src.read(pos + 4, 5) == b"JFIF\x00"
        elif marker == 0xE1:
            segment = src.read(pos + 4, length - 2)
            if segment[:6] == b"Exif\x00\x00":
                orientation = _exif_orientation(segment[6:])
        elif marker == 0xE2:
            icc = icc or src.read(pos + 4, 12) == b"ICC_PROFILE\x00"
        elif marker == 0xEE:
            segment = src.read(pos + 4, 12)
            if segment[:5] == b"Adobe" and len(segment) == 12:
                adobe_transform = segment[11]
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            if frame is None:
                raise CorruptImage("corrupt JPEG: scan before frame header")
            width, height, progressive, components, bits, ids = frame
            # libjpeg's rule (jdapimin.c, default_decompress_parms): JFIF means YCbCr, else Adobe's transform
            # decides, else the component ids.
            rgb_coded = components == 3 and not jfif and (adobe_transform == 0 or (adobe_transform is None and
                                                                                  ids == b"RGB"))  # fmt: skip
            return ImageInfo("jpeg", width, height, progressive, orientation, components, bits, pos + 2 + length,
                             icc=icc, rgb_coded=rgb_coded)
        elif marker == 0xD9:
            break
        pos += 2 + length
    raise _truncated("JPEG") if frame is None else TruncatedImage("truncated JPEG: no image data")


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


# PNG colour type -> samples per pixel (gray, -, RGB, palette, gray+alpha, -, RGBA); palette decodes to RGB.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png(src: Source) -> ImageInfo:
    head = src.read(0, 33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise _truncated("PNG")
    width, height, bits, colour = struct.unpack(">IIBB", head[16:26])
    return ImageInfo("png", width, height, channels=_PNG_CHANNELS.get(colour, 4), bits=max(bits, 8),
                     icc=_png_has_icc(src))  # fmt: skip


def _png_has_icc(src: Source, most: int = 64) -> bool:
    """Whether an iCCP chunk comes before the image data (where PNG requires it), from chunk headers alone."""
    pos = 33
    for _ in range(most):
        head = src.read(pos, 8)
        if len(head) < 8 or head[4:8] in (b"IDAT", b"PLTE", b"IEND"):
            return False
        if head[4:8] == b"iCCP":
            return True
        pos += 12 + int.from_bytes(head[:4], "big")
    return False


def _bmp(head: bytes) -> ImageInfo:
    if len(head) < 26:
        raise _truncated("BMP")
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", head[18:22])
        depth = struct.unpack("<H", head[24:26])[0] if len(head) >= 26 else 24
    else:
        width, height = struct.unpack("<ii", head[18:26])
        depth = struct.unpack("<H", head[28:30])[0] if len(head) >= 30 else 24
    return ImageInfo("bmp", width, abs(height), channels=4 if depth == 32 else 3)


def _tiff(src: Source) -> ImageInfo:
    head = src.read(0, 8)
    endian = "<" if head[:2] == b"II" else ">"
    tags: dict[int, int] = {}
    try:
        (ifd,) = struct.unpack(endian + "I", head[4:8])
        (count,) = struct.unpack(endian + "H", src.read(ifd, 2))
        entries = src.read(ifd + 2, 12 * count)
        for i in range(count):
            tag, kind, _n = struct.unpack(endian + "HHI", entries[12 * i : 12 * i + 8])
            # ImageWidth, ImageLength, BitsPerSample (first value), SamplesPerPixel: SHORT (3) or LONG (4)
            if tag == 34675:  # InterColorProfile: an embedded ICC profile
                tags[tag] = 1
            elif tag in (256, 257, 258, 277) and kind in (3, 4):
                fmt = endian + ("H" if kind == 3 else "I")
                tags[tag] = struct.unpack(fmt, entries[12 * i + 8 : 12 * i + 8 + struct.calcsize(fmt)])[0]
    except struct.error:
        raise _truncated("TIFF") from None
    if 256 not in tags or 257 not in tags:
        raise CorruptImage("corrupt TIFF: no image size")
    # BitsPerSample with several samples is an offset to the values: count it as 16 bits, an upper bound.
    bits = tags.get(258, 8) if tags.get(277, 1) == 1 else 16
    return ImageInfo("tiff", tags[256], tags[257], channels=tags.get(277, 1), bits=min(max(bits, 8), 64),
                     icc=34675 in tags)  # fmt: skip


def _webp(head: bytes) -> ImageInfo:
    chunk = head[12:16]
    body = head[20:]
    if chunk == b"VP8 " and len(body) >= 10:
        width, height = struct.unpack("<HH", body[6:10])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(body) >= 5:
        (bits,) = struct.unpack("<I", body[1:5])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, channels=4)
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return ImageInfo("webp", width, height, channels=4 if body[0] & 0x10 else 3, icc=bool(body[0] & 0x20))
    raise _truncated("WebP")
