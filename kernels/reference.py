"""The colour maths of acc, in float64 numpy: the specification every device kernel is tested against.

Colour space: CIE L*a*b* with the D65 white of sRGB, sRGB companding (IEC 61966-2-1), which is what
OpenCV's ``COLOR_BGR2Lab`` / ``COLOR_Lab2BGR`` compute on float input. The RGB->XYZ matrix is the one
derived from the sRGB primaries and D65 (the values OpenCV uses); the white point is its row sums, so
white maps to exactly L=100, a=b=0. The L* and f(t) functions use the exact CIE constants
epsilon = 216/24389 and kappa = 24389/27 (CIE 15:2004); OpenCV's float path rounds them to 0.008856 and
903.3, a difference far below one 8-bit level (tests/test_reference.py measures it).

The two operations the pipeline runs on a device:

- ``lab_l``    (LabL):    image -> model input (L - l_offset) * l_scale at the model size.
- ``ab_merge`` (AbMerge): ab at the model's output size + full-size L -> sRGB uint8.

Arrays are channel-last: RGB images are (H, W, 3) with values in [0, 1] unless a function says uint8.
"""

from __future__ import annotations

import numpy as np

# sRGB primaries with D65 white, linear RGB -> XYZ (IEC 61966-2-1, 5-digit precision as in OpenCV).
RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
WHITE_D65 = RGB_TO_XYZ.sum(axis=1)  # (0.950456, 1.0, 1.088754)

EPSILON = 216.0 / 24389.0  # (6/29)^3: where f(t) switches from the cube root to its linear part
KAPPA = 24389.0 / 27.0  # (29/3)^3: slope of L* in Y below EPSILON
DELTA = 6.0 / 29.0


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB companded values in [0, 1] -> linear light in [0, 1] (IEC 61966-2-1, eq. for C_linear)."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB companded values in [0, 1]; inputs are clipped to [0, 1] first."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1.0 / 2.4) - 0.055)


def _f(t: np.ndarray) -> np.ndarray:
    """CIE f(t): cube root above EPSILON, the linear segment below it."""
    return np.where(t > EPSILON, np.cbrt(t), (KAPPA * t + 16.0) / 116.0)


def _f_inv(f: np.ndarray) -> np.ndarray:
    return np.where(f > DELTA, f**3, (116.0 * f - 16.0) / KAPPA)


def linear_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear RGB (..., 3) in [0, 1] -> Lab (..., 3): L in [0, 100], a and b roughly in [-128, 127]."""
    xyz = np.asarray(rgb, dtype=np.float64) @ RGB_TO_XYZ.T / WHITE_D65
    fx, fy, fz = _f(xyz[..., 0]), _f(xyz[..., 1]), _f(xyz[..., 2])
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab (..., 3) -> linear RGB (..., 3), unclipped (out-of-gamut colours leave [0, 1])."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1) * WHITE_D65
    return xyz @ XYZ_TO_RGB.T


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in [0, 1] -> Lab (..., 3). What cv2.COLOR_RGB2Lab computes on float input."""
    return linear_rgb_to_lab(srgb_to_linear(rgb))


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab (..., 3) -> sRGB (..., 3) clipped to [0, 1]. What cv2.COLOR_Lab2RGB computes on float input."""
    return linear_to_srgb(lab_to_linear_rgb(lab))


def gray_to_l(gray: np.ndarray) -> np.ndarray:
    """Gray sRGB values in [0, 1] -> L. For a neutral pixel Y = linear(gray) since the Y row sums to 1."""
    y = srgb_to_linear(gray) * RGB_TO_XYZ[1].sum()
    return 116.0 * _f(y) - 16.0


def gray_l_table() -> np.ndarray:
    """The 256-entry table L(g) for 8-bit gray g (DESIGN.md: L of a gray photo is a function of g)."""
    return gray_to_l(np.arange(256) / 255.0)


def resize_bilinear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (H, W) or (H, W, C) to size = (h, w), with OpenCV's INTER_LINEAR geometry.

    Source coordinate of output pixel x: (x + 0.5) * W / w - 0.5, clamped to the image (half-pixel
    centres, edge replication); no anti-aliasing, like cv2.resize(..., interpolation=INTER_LINEAR).
    """
    img = np.asarray(img, dtype=np.float64)
    h_in, w_in = img.shape[:2]
    h_out, w_out = size

    def taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, wy = taps(h_out, h_in)
    x0, x1, wx = taps(w_out, w_in)
    if img.ndim == 3:
        wy, wx = wy[:, None, None], wx[None, :, None]
    else:
        wy, wx = wy[:, None], wx[None, :]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def image_l(image_u8: np.ndarray) -> np.ndarray:
    """Full-size L (H, W) of an 8-bit image: gray (H, W) through the 256-entry table, RGB (H, W, 3) via Lab."""
    if image_u8.ndim == 2:
        return gray_l_table()[image_u8]
    return rgb_to_lab(image_u8 / 255.0)[..., 0]


def lab_l(
    image_u8: np.ndarray,
    size: tuple[int, int],
    l_offset: float = 50.0,
    l_scale: float = 1.0,
) -> np.ndarray:
    """LabL: 8-bit gray (H, W) or RGB (H, W, 3) image -> model input (h, w) = (L - l_offset) * l_scale.

    L is computed at full size and resized bilinearly to size = (h, w). A backend may resize differently
    (e.g. area reduction) and must state the tolerance it is held to.
    """
    return (resize_bilinear(image_l(image_u8), size) - l_offset) * l_scale


def ab_merge(ab: np.ndarray, l_full: np.ndarray) -> np.ndarray:
    """AbMerge: ab (2, h, w) in Lab units + full-size L (H, W) -> sRGB uint8 (H, W, 3).

    ab is upsampled bilinearly (resize_bilinear) to (H, W), joined with L, converted Lab -> sRGB,
    clipped to [0, 1] and rounded to the nearest of 256 levels. (The OpenCV seed truncates instead of
    rounding: acc/backends/opencv.py keeps that, so the two differ by at most one level there.)
    """
    h, w = l_full.shape
    ab_full = resize_bilinear(np.moveaxis(np.asarray(ab, dtype=np.float64), 0, -1), (h, w))
    lab = np.concatenate([np.asarray(l_full, dtype=np.float64)[..., None], ab_full], axis=-1)
    return np.rint(lab_to_rgb(lab) * 255.0).astype(np.uint8)
