"""exiv2 (through python-exiv2) as acc uses it: images in memory, and what it says caught per call.

exiv2 reports damaged metadata by logging and carrying on ("Directory Image with 32767 entries
considered invalid; not read."). python-exiv2 hands those lines to Python's logging (logger "exiv2");
here they are collected per thread, inside listen(), and turned into acc's warnings by the caller,
so no raw exiv2 line reaches the terminal and each photo gets its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import exiv2

_local = threading.local()


class _PerThread(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        heard = getattr(_local, "heard", None)
        if heard is not None and record.levelno >= logging.WARNING:
            heard.append(record.getMessage().strip().rstrip("."))


_logger = logging.getLogger("exiv2")
_logger.addHandler(_PerThread())
_logger.propagate = False  # what exiv2 says is told per photo, in acc's words
exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.warn)
# The XMP toolkit's initialization is not thread-safe: done once here, at import, before any worker
# thread reads or writes XMP (exiv2 would otherwise do it lazily, on whichever thread came first).
exiv2.XmpParser.initialize()


@contextmanager
def listen() -> Iterator[list[str]]:
    """What exiv2 warns about on this thread during the block, one line per message."""
    outer = getattr(_local, "heard", None)
    _local.heard = heard = []
    try:
        yield heard
    finally:
        _local.heard = outer


def open_image(data: bytes) -> exiv2.Image:
    """An exiv2 image over encoded bytes in memory, its metadata read (exiv2.Exiv2Error if it cannot)."""
    image = exiv2.ImageFactory.open(data)
    image.readMetadata()
    return image


def image_bytes(image: exiv2.Image) -> bytes:
    """The encoded bytes of an image exiv2 wrote its metadata into."""
    with image.io().mmap() as view:
        return bytes(view)
