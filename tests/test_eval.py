"""acc eval: its numbers equal the metrics recomputed by hand from the files it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from acc.cli import main
from conftest import TEST_MODEL, color_photo


def _hand_metrics(result: np.ndarray, original: np.ndarray) -> tuple[float, float, float]:
    """PSNR, raw AuC and colourfulness written out longhand (not through acc.metrics)."""
    diff = result.astype(np.float64) - original.astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / np.mean(diff**2))
    lab = lambda img: cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_BGR2Lab).astype(np.float64)  # noqa: E731
    dist = np.hypot(*(lab(result)[:, :, 1:] - lab(original)[:, :, 1:]).transpose(2, 0, 1)).ravel()
    auc = 100 * np.mean([np.count_nonzero(dist <= t) / dist.size for t in range(151)])
    return psnr, auc, _hand_cf(result)


def _hand_cf(bgr: np.ndarray) -> float:
    b, g, r = (bgr[:, :, i].astype(np.float64) for i in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    return np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def test_eval_matches_hand_computed_metrics(tmp_path: Path, model_dir: Path, capsys) -> None:
    originals = tmp_path / "originals"
    originals.mkdir()
    for i in range(3):
        cv2.imwrite(str(originals / f"p{i}.png"), color_photo(40 + 8 * i, 56, seed=i))
    work = tmp_path / "work"
    code = main(["eval", str(originals), "-o", str(work), "--backend", "opencv",
                 "--model", TEST_MODEL, "--model-dir", str(model_dir)])  # fmt: skip
    assert code == 0
    report = json.loads((work / "eval.json").read_text())
    assert report["images"] == 3 and report["failed"] == []

    expected = {"colorized": [], "no_colour": []}
    originals_cf = []
    for i in range(3):
        original = cv2.imread(str(originals / f"p{i}.png"))
        expected["colorized"].append(_hand_metrics(cv2.imread(str(work / "colorized" / f"p{i}.png")), original))
        gray = cv2.imread(str(work / "gray" / f"p{i}.png"))
        assert np.ptp(gray.astype(int), axis=2).max() <= 1  # the input really is gray
        expected["no_colour"].append(_hand_metrics(gray, original))
        originals_cf.append(_hand_cf(original))
    for group, values in expected.items():
        psnr, auc, cf = np.mean(values, axis=0)
        assert abs(report[group]["psnr"] - psnr) < 1e-9
        assert abs(report[group]["auc"] - auc) < 1e-9
        assert abs(report[group]["cf"] - cf) < 1e-9
    assert abs(report["originals_cf"] - np.mean(originals_cf)) < 1e-9
    # The linear test model adds colour: the colorized result must differ from the gray one.
    assert report["colorized"]["cf"] > report["no_colour"]["cf"] + 1
    assert (work / "contact_sheet.png").is_file()
    assert "no colour" in capsys.readouterr().out
