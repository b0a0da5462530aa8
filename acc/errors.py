"""The errors acc raises on purpose: one base, and one class per reason a photo is refused.

Every message is one line a user can act on; the CLI prints it as `acc: failed: FILE: <message>` or
`acc: error: <message>`.
"""

from __future__ import annotations


class AccError(Exception):
    """Base of every error acc raises on purpose."""


class BadImage(AccError, ValueError):
    """An input acc cannot colorize; str(exc) is the one-line reason. Subclasses say which kind."""


class EmptyImage(BadImage):
    """The file or buffer holds no bytes."""


class NotAnImage(BadImage):
    """The bytes are not in any image format acc knows."""


class UnsupportedImage(BadImage):
    """An image, but of a format, layout or size acc (or this backend) does not take: GIF, HEIF, 4 channels."""


class TruncatedImage(BadImage):
    """The image was cut short: a header or its data ends early."""


class CorruptImage(BadImage):
    """The image's data is damaged: bad markers, checksums or sizes, or its decoder refused it."""


class ImageTooLarge(BadImage):
    """Over the pixel cap (max_pixels): refused from the header, before any large allocation."""


class NotARegularFile(BadImage):
    """A named pipe, socket, device or folder where a photo was expected: never opened."""
