"""Colorization quality on a folder of colour originals, through the same pipeline users run.

    original --(keep L, a = b = 0)--> gray PNG --acc colorize (any backend, model)--> colorized PNG

Each colorized photo is compared with its original (acc.metrics: PSNR on 8-bit RGB, raw AuC of the
ab error, colourfulness), beside the same metrics for the gray photo itself (the no-colour result)
and the originals' colourfulness. PNG is used in between so JPEG loss does not enter the numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from acc import metrics
from acc.backends.base import Backend, OutputFormat
from acc.inputs import InputFile, InputSet
from acc.outdir import OutputDir
from acc.pipeline import RunOptions, Runner, Summary


@dataclass
class Scores:
    psnr: list[float] = field(default_factory=list)
    auc: list[float] = field(default_factory=list)
    cf: list[float] = field(default_factory=list)

    def add(self, result_bgr: np.ndarray, original_bgr: np.ndarray, original_ab: np.ndarray) -> None:
        self.psnr.append(metrics.psnr(result_bgr, original_bgr))
        self.auc.append(metrics.auc_ab(ab_of(result_bgr), original_ab))
        self.cf.append(metrics.colourfulness(result_bgr[:, :, ::-1]))

    def means(self) -> dict[str, float]:
        return {k: float(np.mean(v)) if v else float("nan") for k, v in asdict(self).items()}


@dataclass
class Report:
    model: str
    backend: str
    images: int
    colorized: dict[str, float]
    no_colour: dict[str, float]
    originals_cf: float
    failed: list[str]
    saturation: float = 1.0

    def table(self) -> str:
        name = f"{self.model} on {self.backend}" + (f", saturation {self.saturation:g}" if self.saturation != 1 else "")
        rows = [("no colour (a = b = 0)", self.no_colour), (name, self.colorized)]
        lines = [f"{'':40} {'PSNR dB':>8} {'AuC %':>7} {'CF':>6}"]
        lines += [f"{name:40} {m['psnr']:8.2f} {m['auc']:7.2f} {m['cf']:6.2f}" for name, m in rows]
        lines.append(f"{'originals':40} {'':>8} {'':>7} {self.originals_cf:6.2f}")
        lines.append(f"{self.images} photos" + (f", {len(self.failed)} failed" if self.failed else ""))
        return "\n".join(lines)


def ab_of(bgr_u8: np.ndarray) -> np.ndarray:
    """a, b (H, W, 2) of an 8-bit BGR image, float Lab as OpenCV computes it."""
    return cv2.cvtColor(bgr_u8.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)[:, :, 1:]


def gray_of(bgr_u8: np.ndarray) -> np.ndarray:
    """The no-colour version of a photo: its own L with a = b = 0, back to 8-bit (rounded)."""
    lab = cv2.cvtColor(bgr_u8.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    lab[:, :, 1:] = 0.0
    return np.rint(np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR), 0, 1) * 255.0).astype(np.uint8)


def read_bgr(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot read image")
    return img


def evaluate(
    originals: list[str],
    workdir: Path,
    backend: Backend,
    options: RunOptions,
    sheet_rows: int = 12,
) -> Report:
    """Make gray inputs under workdir/gray, colorize them into workdir/colorized, and score the results."""
    gray_dir, out_dir = workdir / "gray", workdir / "colorized"
    photos = [p for p in InputSet(originals, outdir=workdir) if isinstance(p, InputFile)]
    for photo in photos:
        target = gray_dir / f"{photo.rel}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), gray_of(read_bgr(photo.path)))

    png = RunOptions(OutputFormat("png"), options.batch_size, options.workers, True, options.max_pixels)
    with OutputDir(out_dir) as outdir:
        summary: Summary = Runner(backend, outdir, png).run(InputSet([str(gray_dir)]))
    if summary.interrupted:
        raise KeyboardInterrupt

    colorized, gray, originals_cf, failed, sheet = Scores(), Scores(), [], [], []
    every = max(1, len(photos) // sheet_rows) if sheet_rows else 0
    for i, photo in enumerate(photos):
        result_path = out_dir / f"{photo.rel}.png"
        if not result_path.is_file():
            failed.append(photo.display)
            continue
        original, result = read_bgr(photo.path), read_bgr(result_path)
        gray_img = read_bgr(gray_dir / f"{photo.rel}.png")
        truth = ab_of(original)
        colorized.add(result, original, truth)
        gray.add(gray_img, original, truth)
        originals_cf.append(metrics.colourfulness(original[:, :, ::-1]))
        if every and i % every == 0 and len(sheet) < sheet_rows:
            sheet.append(_sheet_row([original, gray_img, result]))
    if sheet:
        cv2.imwrite(str(workdir / "contact_sheet.png"), _sheet(sheet))
    report = Report(
        model=backend.model.name,
        backend=backend.name,
        images=len(photos) - len(failed),
        colorized=colorized.means(),
        no_colour=gray.means(),
        originals_cf=float(np.mean(originals_cf)) if originals_cf else float("nan"),
        failed=failed,
        saturation=backend.model.saturation,
    )
    (workdir / "eval.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


SHEET_HEIGHT = 200
LABELS = ("original", "gray (input)", "colorized")


def _sheet_row(images: list[np.ndarray]) -> np.ndarray:
    h, w = images[0].shape[:2]
    width = max(1, round(w * SHEET_HEIGHT / h))
    cells = [cv2.resize(img, (width, SHEET_HEIGHT), interpolation=cv2.INTER_AREA) for img in images]
    gap = np.full((SHEET_HEIGHT, 6, 3), 255, np.uint8)
    return np.concatenate([c for cell in cells for c in (cell, gap)][:-1], axis=1)


def _sheet(rows: list[np.ndarray]) -> np.ndarray:
    """Stack rows (padded to one width) under a header naming the three columns."""
    width = max(r.shape[1] for r in rows)
    header = np.full((28, width, 3), 255, np.uint8)
    col = rows[0].shape[1] // 3
    for i, label in enumerate(LABELS):
        cv2.putText(header, label, (i * col + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    padded = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate([header, *padded], axis=0)
