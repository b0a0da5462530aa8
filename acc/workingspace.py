"""Photos with an embedded ICC profile, brought into acc's working space with LittleCMS before L is taken.

acc's colour contract is sRGB (DESIGN.md, Contracts): a gray value is an sRGB-encoded lightness, and L
is a function of it alone. A scan that embeds another profile (Gray Gamma 2.2, Dot Gain 20 %, Adobe
RGB, a scanner's own) means something else by the same numbers: the same print scanned with two
profiles would colorize differently if its values were taken as they are. Such a photo is decoded on
the host, converted with LittleCMS (Pillow's ImageCms binding; relative colorimetric) and handed to
the backend as a lossless PNG of the converted pixels, upright, so every backend takes L from the same
numbers. It is a per-photo fallback: photos without a profile, or whose profile is sRGB to within one
level of 255 (LittleCMS's own answer, measured once per profile), keep their backend's fast path.

    gray pixels, gray profile   one 256-entry table per profile: gray -> sRGB gray (R = G = B)
    colour pixels, RGB profile  LittleCMS RGB -> sRGB, 8 bits a sample (16-bit samples are rounded first)
    anything else               ProfileError: the profile is not used, the photo is taken as sRGB

Outputs are sRGB and say so: SRGB_PROFILE is the profile acc embeds in its JPEGs.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageCms

from acc.backends.hostimage import apply_orientation, decode_unchanged, split_alpha
from acc.probe import ImageInfo

_INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
_FLAGS = ImageCms.Flags.NOCACHE  # transforms are shared by the worker threads: no per-transform pixel cache
_CACHE_LIMIT = 64  # profiles remembered; a batch of scans usually carries one or two


class ProfileError(ValueError):
    """An embedded profile acc does not use; str(exc) says why, in one line."""


@cache
def srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@cache
def srgb_profile_bytes() -> bytes:
    """LittleCMS's sRGB profile, with a fixed creation date so that outputs are the same bytes every run."""
    data = bytearray(srgb().tobytes())
    data[24:36] = bytes.fromhex("07e9 0001 0001 0000 0000 0000")  # 2025-01-01 00:00:00 (ICC.1 7.2.1)
    return bytes(data)


@dataclass(frozen=True)
class _Conversion:
    space: str  # "GRAY" or "RGB"
    table: np.ndarray | None  # gray: uint8 (256,) gray code -> sRGB gray code
    transform: ImageCms.ImageCmsTransform | None  # RGB -> sRGB


_conversions: dict[bytes, _Conversion | None] = {}  # profile digest -> conversion (None: sRGB already)
_lock = threading.Lock()


def conversion(icc: bytes) -> _Conversion | None:
    """How to bring pixels of this profile into sRGB; None when the profile is sRGB already."""
    digest = hashlib.blake2b(icc, digest_size=16).digest()
    with _lock:
        if digest in _conversions:
            return _conversions[digest]
    found = _build(icc)
    with _lock:
        if len(_conversions) >= _CACHE_LIMIT:
            _conversions.pop(next(iter(_conversions)))
        _conversions[digest] = found
    return found


def _build(icc: bytes) -> _Conversion | None:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        if space == "GRAY":
            ramp = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(1, 256))
            rgb = ImageCms.profileToProfile(ramp, profile, srgb(), renderingIntent=_INTENT, outputMode="RGB",
                                            flags=_FLAGS)  # fmt: skip
            table = np.asarray(rgb)[0, :, 1].copy()  # R = G = B for neutral input
            identity = np.abs(table.astype(int) - np.arange(256)).max() <= 1
            return None if identity else _Conversion("GRAY", table, None)
        if space == "RGB":
            transform = ImageCms.buildTransform(profile, srgb(), "RGB", "RGB", _INTENT, _FLAGS)
            grid = np.stack(np.meshgrid(*[np.linspace(0, 255, 17).astype(np.uint8)] * 3), -1).reshape(1, -1, 3)
            out = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform))
            identity = np.abs(out.astype(int) - grid).max() <= 1
            return None if identity else _Conversion("RGB", None, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        raise ProfileError(f"LittleCMS refused it: {exc}") from None
    raise ProfileError(f"a {space or 'unknown'} profile, not a gray or RGB one")


def to_working_space(data: bytes, info: ImageInfo, icc: bytes) -> tuple[bytes, ImageInfo] | None:
    """The photo converted to sRGB as a lossless, upright PNG and its header info; None when its profile
    is sRGB already (its bytes are used as they are). ProfileError when the profile cannot be used."""
    conv = conversion(icc)
    if conv is None:
        return None
    pixels, alpha, peak = split_alpha(apply_orientation(decode_unchanged(data, info), info.orientation))
    if (pixels.ndim == 2) != (conv.space == "GRAY"):
        raise ProfileError(f"a {conv.space} profile on {'gray' if pixels.ndim == 2 else 'colour'} pixels")
    if conv.space == "GRAY":
        converted = _gray(pixels, peak, conv.table)
    else:
        rgb = _to_8bit(pixels, peak)[:, :, ::-1]
        out = ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(rgb)), conv.transform)
        converted = np.asarray(out)[:, :, ::-1]
    img = converted if alpha is None else np.dstack([_as_bgr(converted), alpha.astype(converted.dtype) * (
        257 if converted.dtype == np.uint16 else 1)])
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    if not ok:
        raise ProfileError("could not hand the converted pixels on")
    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    return buf.tobytes(), ImageInfo("png", width, height, channels=channels, bits=8 * img.dtype.itemsize)


def conversion_bytes(info: ImageInfo) -> int:
    """Host memory the conversion holds at its peak, besides what the backend's decode charges: the
    decoded samples, the converted ones and their PNG (an upper estimate, for the memory budget)."""
    return info.pixels * max(1, info.channels) * 2 * 3


def _gray(pixels: np.ndarray, peak: float, table: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return table[pixels]
    # Deeper samples: the 8-bit table read between its entries, so 16-bit scans keep their gradations.
    codes = np.clip(pixels.astype(np.float32) * np.float32(255.0 / peak), 0, 255)
    out = np.interp(codes, np.arange(256, dtype=np.float32), table.astype(np.float32) * 257.0)
    return np.rint(out).astype(np.uint16)


def _to_8bit(pixels: np.ndarray, peak: float) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return np.clip(np.rint(pixels.astype(np.float32) * np.float32(255.0 / peak)), 0, 255).astype(np.uint8)


def _as_bgr(pixels: np.ndarray) -> np.ndarray:
    """Gray with alpha goes out as BGRA (PNG has gray+alpha, but OpenCV writes 2 channels as neither)."""
    return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels
