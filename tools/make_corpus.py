"""Write a synthetic JPEG corpus for `acc bench`: chosen sizes, gray and colour, baseline and progressive.

    python tools/make_corpus.py --out /tmp/corpus --sizes 0.3 2.5 12 --count 2

Each photo is textured so that the codecs work about as hard as on real scans: multi-octave noise
(a 1/f-like spectrum), hard-edged shapes and film grain, saved at quality 90 with 4:2:0 chroma, which
gives about 2 bits per pixel, like textured scans. Colour photos
share the gray texture and add smooth, low-frequency tints (real chroma is smooth). Gray photos are
single-channel JPEGs. Deterministic for a given --seed. Names: <MP>mp_<gray|colour>_<baseline|progressive>_<i>.jpg.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np


def frame_size(megapixels: float) -> tuple[int, int]:
    """(height, width) of a 4:3 landscape frame with about this many megapixels, both even."""
    width = math.sqrt(megapixels * 1e6 * 4 / 3)
    return 2 * round(width * 3 / 8), 2 * round(width / 2)


def _octaves(height: int, width: int, rng: np.random.Generator, finest: int = 2) -> np.ndarray:
    """Sum of upsampled noise octaves, amplitude ~ period^0.6 (fine detail weaker than coarse), in ~[-1, 1]."""
    total = np.zeros((height, width), np.float32)
    period, norm = finest, 0.0
    while period < max(height, width) / 2:
        amp = period**0.6
        small = rng.standard_normal((max(2, height // period), max(2, width // period))).astype(np.float32)
        total += amp * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        norm += amp
        period *= 2
    return total / norm


def textured_photo(height: int, width: int, colour: bool, rng: np.random.Generator) -> np.ndarray:
    """8-bit (H, W) gray or (H, W, 3) BGR image with photo-like texture, edges and grain."""
    gray = 128 + 120 * _octaves(height, width, rng)
    for _ in range(12):  # hard edges: the codec's worst case, common in real scenes
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        radius = int(rng.integers(width // 40 + 1, width // 6 + 2))
        shade = float(rng.uniform(-60, 60))
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:
            cv2.circle(mask, centre, radius, 1, -1)
        else:
            cv2.rectangle(mask, centre, (centre[0] + radius, centre[1] + radius // 2), 1, -1)
        gray += shade * mask
    gray += rng.normal(0, 5.0, gray.shape).astype(np.float32)  # film grain
    if not colour:
        return np.clip(gray, 0, 255).astype(np.uint8)
    tints = [40 * _octaves(height, width, rng, finest=max(8, width // 16)) for _ in range(3)]
    return np.clip(np.dstack([gray + t for t in tints]), 0, 255).astype(np.uint8)


def write_jpeg(path: Path, img: np.ndarray, quality: int, progressive: bool) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]  # fmt: skip
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path}")
    path.write_bytes(buf.tobytes())


def make_corpus(
    out: Path,
    sizes: list[float],
    kinds: list[str] = ["gray", "colour"],  # noqa: B006 -- read only
    modes: list[str] = ["baseline", "progressive"],  # noqa: B006 -- read only
    count: int = 1,
    quality: int = 90,
    seed: int = 0,
) -> list[Path]:
    """Write count photos per (size, kind, mode) into out; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for mp in sizes:
        height, width = frame_size(mp)
        for kind in kinds:
            for i in range(count):
                img = textured_photo(height, width, kind == "colour", rng)
                for mode in modes:
                    path = out / f"{mp:g}mp_{kind}_{mode}_{i}.jpg"
                    write_jpeg(path, img, quality, mode == "progressive")
                    paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.3, 2.5, 12.0], help="megapixels")
    ap.add_argument("--kinds", nargs="+", choices=["gray", "colour"], default=["gray", "colour"])
    ap.add_argument("--modes", nargs="+", choices=["baseline", "progressive"], default=["baseline", "progressive"])
    ap.add_argument("--count", type=int, default=1, help="photos per size and kind")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    paths = make_corpus(args.out, args.sizes, args.kinds, args.modes, args.count, args.quality, args.seed)
    for path in paths:
        h, w = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape
        print(f"{path}  {w}x{h}  {8 * path.stat().st_size / (w * h):.2f} bits/pixel")


if __name__ == "__main__":
    main()
