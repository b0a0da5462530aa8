"""acc.metrics against values computed by hand on tiny synthetic images (issue 3, part 6)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from acc import metrics


def test_psnr_hand_computed():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 12  # one channel of one pixel off by 12: MSE = 144 / 12 = 12
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 12.0), abs=1e-9)
    assert metrics.psnr(b, a) == metrics.psnr(a, b)
    assert metrics.psnr(a, a) == math.inf


def test_psnr_is_computed_in_float_not_uint8():
    a = np.full((1, 1, 3), 250, np.uint8)
    b = np.full((1, 1, 3), 5, np.uint8)  # uint8 arithmetic would wrap around
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 245.0 ** 2), abs=1e-9)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))


def test_auc_hand_computed():
    true = np.zeros((1, 4, 2))
    pred = np.array([[[0, 0], [3, 4], [0, 10.5], [200, 0]]], float)  # distances 0, 5, 10.5, 200
    # acc(t) for t = 0..150: pixels with d <= t. d=0 counts for all 151 t; d=5 for t=5..150 (146);
    # d=10.5 for t=11..150 (140); d=200 never.
    expected = 100.0 * (151 + 146 + 140 + 0) / (4 * 151)
    assert metrics.auc_ab(pred, true) == pytest.approx(expected, abs=1e-9)


def test_auc_limits_and_thresholds():
    true = np.random.default_rng(0).normal(0, 20, (5, 6, 2))
    assert metrics.auc_ab(true, true) == pytest.approx(100.0)
    assert metrics.auc_ab(true + 1000.0, true) == 0.0
    # custom thresholds: d = 10 exactly for every pixel, thresholds 0, 10, 20 -> acc = 0, 1, 1
    ints = np.round(true)
    assert metrics.auc_ab(ints + [6.0, 8.0], ints, thresholds=[0, 10, 20]) == pytest.approx(200 / 3)
    assert len(metrics.AUC_THRESHOLDS) == 151 and metrics.AUC_THRESHOLDS[-1] == 150


def test_colourfulness_hand_computed():
    assert metrics.colourfulness(np.full((3, 3, 3), 77, np.uint8)) == 0.0
    # uniform pure red: rg = 255, yb = 127.5, no spread -> CF = 0.3 * sqrt(255^2 + 127.5^2)
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert metrics.colourfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))
    # half red, half green (RGB order): rg = +255 / -255 -> mean 0, std 255; yb = 127.5 for both
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0, 0] = 255
    img[0, 1, 1] = 255
    assert metrics.colourfulness(img) == pytest.approx(255.0 + 0.3 * 127.5)


def test_colourfulness_uses_signed_opponents():
    # half yellow-ish (R=G=200, B=0: yb = +200), half blue (B=200: yb = -200): signed mean yb = 0,
    # std 200; the |yb| variant of CT2/DDColor would give std 0 and mean 200 instead.
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0, :2] = 200
    img[0, 1, 2] = 200
    assert metrics.colourfulness(img) == pytest.approx(200.0)
