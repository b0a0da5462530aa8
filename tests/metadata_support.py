"""ExifTool, the independent reader every metadata test checks outputs with, and the photos those tests make.

ExifTool comes from Debian's packages (libimage-exiftool-perl): .ci/run installs it and sets
ACC_REQUIRE_EXIFTOOL, so there a missing ExifTool fails these tests; elsewhere they are skipped,
saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

INSTALL = "apt-get install libimage-exiftool-perl"


def exiftool() -> str:
    path = shutil.which("exiftool")
    if path:
        return path
    if os.environ.get("ACC_REQUIRE_EXIFTOOL"):
        pytest.fail(f"exiftool is not installed, and this run requires it (ACC_REQUIRE_EXIFTOOL): {INSTALL}")
    pytest.skip(f"exiftool is not installed ({INSTALL}); .ci/run installs it and runs these tests")


def write_tags(path: Path, *assignments: str) -> None:
    """Set tags with ExifTool (-TAG=VALUE, -TAG<=FILE), in place."""
    subprocess.run([exiftool(), "-q", "-q", "-overwrite_original", *assignments, str(path)], check=True)


def read_tags(*paths: Path) -> dict[str, dict]:
    """Every tag ExifTool reads in each file, by file name: {"IFD0:Artist": ..., "XMP-dc:Title": ...}
    (-n: numbers as numbers; -G1: each tag under its group)."""
    out = subprocess.run([exiftool(), "-j", "-n", "-G1", "-a", "-struct", *map(str, paths)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(out)}


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    """A PNG with chunks inserted right after IHDR."""
    return png[:33] + b"".join(chunks) + png[33:]


def iccp_chunk(profile: bytes) -> bytes:
    return png_chunk(b"iCCP", b"scan profile\x00\x00" + zlib.compress(profile))


def jpeg_with_segment(jpeg: bytes, marker: int, body: bytes) -> bytes:
    """A JPEG with one more marker segment right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def icc_segment(profile: bytes) -> bytes:
    return b"ICC_PROFILE\x00\x01\x01" + profile


def inflation_bomb(size: int) -> bytes:
    """zlib data that inflates to `size` zero bytes (a multiple of 1 MiB), made without holding them:
    one fully flushed deflate block of 1 MiB of zeros, repeated."""
    z = zlib.compressobj(9)
    first = z.compress(b"\x00" * (1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(b"\x00" * (1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    return first + block * (size // (1 << 20) - 1) + z.flush()
