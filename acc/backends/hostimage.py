"""Host-side decoding and encoding (OpenCV, libjpeg-turbo), shared by the backends: the CPU ones, and the
device ones for what their hardware cannot take.

Covers what the fast paths do not: any format OpenCV reads (PNG, BMP, TIFF, WebP, JPEG), 16-bit
samples, gray-with-alpha and colour-with-alpha images, and encoding with an alpha channel.
"""

from __future__ import annotations

import cv2
import numpy as np
import simplejpeg

from acc.backends.base import OutputFormat
from acc.errors import CorruptImage, UnsupportedImage
from acc.kernels import reference
from acc.probe import ImageInfo

# OpenCV's own log lines ("libpng error: ...") would duplicate the one-line reason acc prints.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

# EXIF orientation -> (transpose first?, then flip code for cv2.flip or None), per the TIFF/EXIF spec.
_ORIENT = {1: (False, None), 2: (False, 1), 3: (False, -1), 4: (False, 0),
           5: (True, None), 6: (True, 1), 7: (True, -1), 8: (True, 0)}  # fmt: skip


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded image (H, W[, C]) upright according to its EXIF orientation (1..8)."""
    transpose, flip = _ORIENT.get(orientation, (False, None))
    if transpose:
        img = cv2.transpose(img)
    if flip is not None:
        img = cv2.flip(img, flip)
    return img


def decode_unchanged(data: bytes, info: ImageInfo) -> np.ndarray:
    """Decode with every channel and the full bit depth kept: (H, W), (H, W, 3) BGR or (H, W, 4) BGRA."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CorruptImage(f"corrupt or truncated {info.format.upper()} data")
    if (img.shape[1], img.shape[0]) != (info.width, info.height):
        raise CorruptImage(f"decoded size {img.shape[1]}x{img.shape[0]} differs from the header's")
    return img


def split_alpha(img: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(colour or gray pixels, 8-bit alpha or None, the sample maximum: 255 or 65535).

    Float TIFFs are taken as already in [0, 1]. Alpha is kept at 8 bits since outputs are 8-bit.
    """
    if img.dtype == np.uint8:
        peak = 255.0
    elif img.dtype == np.uint16:
        peak = 65535.0
    elif img.dtype in (np.float32, np.float64):
        peak = 1.0
    else:
        raise UnsupportedImage(f"unsupported sample type {img.dtype}")
    alpha = None
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = np.clip(img[:, :, 3] * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        img = img[:, :, :3]
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        alpha = np.clip(img[:, :, 1] * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim != 2 and not (img.ndim == 3 and img.shape[2] == 3):
        raise UnsupportedImage(f"unsupported channel layout {img.shape}")
    return img, alpha, peak


def decode_luma(data: bytes, info: ImageInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """(upright 8-bit luma (H, W), 8-bit alpha or None): the one 8-bit plane the device backends (ascend,
    cuda) take as a gray value where their hardware decoder gives a JPEG's Y plane.

    For a JPEG, the Y it stores (libjpeg-turbo's gray decode: L from luma, as hardware decoders give);
    for other colour images, whose RGB is decoded anyway, the gray value of the same relative luminance,
    sRGB(Y_linear), so that L is the contract's L from RGB up to 8-bit rounding (as the cpu backend's).
    """
    if info.format == "jpeg":
        try:
            y = simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
        except ValueError:
            y = None  # a JPEG libjpeg-turbo's fast path refuses (CMYK, ...): OpenCV below
        if y is not None:
            if y.shape != (info.height, info.width):
                raise CorruptImage(f"decoded size {y.shape[1]}x{y.shape[0]} differs from the header's")
            return apply_orientation(y, info.orientation), None
    pixels, alpha, peak = split_alpha(decode_unchanged(data, info))
    if info.format == "jpeg":
        pixels = apply_orientation(pixels, info.orientation)
    if peak != 255.0:
        pixels = np.clip(np.rint(pixels * (255.0 / peak)), 0, 255).astype(np.uint8)
    return (pixels if pixels.ndim == 2 else luminance_gray(pixels[:, :, ::-1])), alpha


def luminance_gray(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB -> the 8-bit gray value with the same relative luminance (hence the same L*)."""
    y = reference.srgb_to_linear(rgb / 255.0) @ reference.RGB_TO_XYZ[1]
    return np.clip(np.rint(reference.linear_to_srgb(y) * 255.0), 0, 255).astype(np.uint8)


def encode_bgr(bgr: np.ndarray, alpha: np.ndarray | None, fmt: OutputFormat) -> bytes:
    """8-bit BGR (H, W, 3) [+ alpha] -> JPEG (4:2:0, fmt.quality; alpha dropped) or PNG (alpha kept)."""
    if fmt.kind == "png":
        img = bgr if alpha is None else np.dstack([bgr, alpha])
        ok, buf = cv2.imencode(".png", img)
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, fmt.quality,
                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]  # fmt: skip
        ok, buf = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {fmt.kind}")
    return buf.tobytes()
