"""Colorization quality metrics, pure numpy (no torch, no OpenCV).

The definitions, as the colorization literature states them (Zhang et al., "Colorful Image
Colorization", ECCV 2016, for AuC; Hasler and Suesstrunk, "Measuring colourfulness in natural images",
SPIE 2003, for CF):

* PSNR on 8-bit RGB, per image (peak 255); a set's number is the mean over images.
* Raw AuC (Zhang et al., ECCV 2016): per-pixel Euclidean distance between predicted and true ab
  (Lab units), acc(t) = fraction of pixels with d <= t for the integer thresholds t = 0..150
  (151 values, both ends included), AuC = mean of acc(t) over t, in percent; per image, then the mean
  over images.
* Colourfulness (Hasler & Suesstrunk 2003, eq. 15) on 8-bit sRGB as float with SIGNED opponents:
  rg = R - G, yb = 0.5 (R + G) - B, CF = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)
  (population std); per image, then the mean over images. (CT2 and DDColor take |rg|, |yb|: not this.)

With these definitions the no-colour result (a = b = 0) on dev_eval/sunhays80 scores PSNR 21.82 dB,
AuC 88.22 %, CF 0.01, and the originals CF 43.58 (checked when the embedded model was trained, see
models/acc_tiny.md).
"""
from __future__ import annotations

import numpy as np

AUC_THRESHOLDS = np.arange(0, 151, dtype=np.float64)
"""Integer thresholds 0..150 inclusive, in Lab ab units."""


def psnr(a_u8: np.ndarray, b_u8: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two uint8 images of the same shape (H x W x 3 RGB or BGR; the channel order
    does not matter). Identical images give +inf."""
    a = np.asarray(a_u8)
    b = np.asarray(b_u8)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))


def auc_ab(ab_pred: np.ndarray, ab_true: np.ndarray, thresholds: np.ndarray = AUC_THRESHOLDS) -> float:
    """Raw AuC in percent (0..100) of one image.

    ab_pred, ab_true: H x W x 2 arrays of a, b in Lab units (float; for 8-bit images compute them with a
    float Lab conversion of the uint8 pixels / 255). thresholds: the distances t swept (default 0..150).
    Returns mean over t of the fraction of pixels whose ab distance d <= t, times 100.
    """
    p = np.asarray(ab_pred, dtype=np.float64)
    t = np.asarray(ab_true, dtype=np.float64)
    if p.shape != t.shape or p.shape[-1] != 2:
        raise ValueError(f"expected two H x W x 2 arrays, got {p.shape} and {t.shape}")
    d = np.sqrt(np.sum((p - t) ** 2, axis=-1)).ravel()
    d.sort()
    thr = np.asarray(thresholds, dtype=np.float64)
    frac = np.searchsorted(d, thr, side="right") / d.size
    return float(100.0 * frac.mean())


def colourfulness(rgb_u8: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of one H x W x 3 uint8 image in RGB channel order (pass BGR
    reversed: img[..., ::-1]). Signed rg and yb; a gray image scores 0."""
    x = np.asarray(rgb_u8, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected H x W x 3, got {x.shape}")
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(sigma + 0.3 * mu)
