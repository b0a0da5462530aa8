"""Peak resident memory of `acc colorize` on large scans, per backend (the README's memory table).

    python tools/measure_memory.py --out scratch/mem --megapixels 99 --count 4 --backends cpu,opencv \
        [--memory-limit 4G] [-- extra acc flags]

Makes `count` gray JPEG scans of the given size (textured, quality 90) once, then runs `acc colorize`
on them with each backend in a child process and reports the child's peak resident set (ru_maxrss,
from wait4) and its wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def make_scans(folder: Path, megapixels: float, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    side = int((megapixels * 1e6) ** 0.5)
    paths = []
    for i in range(count):
        path = folder / f"scan{i:02d}_{megapixels:g}MP.jpg"
        if not path.exists():
            rng = np.random.default_rng(i)
            tile = cv2.GaussianBlur((rng.random((512, 512)) * 255).astype(np.uint8), (0, 0), 3)
            img = np.tile(tile, (side // 512 + 1, side // 512 + 1))[:side, :side]
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            path.write_bytes(buf.tobytes())
        paths.append(path)
    return paths


def measure(cmd: list[str]) -> tuple[int, float, int]:
    """(exit status, seconds, peak RSS in bytes) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="work folder (scans and outputs)")
    parser.add_argument("--megapixels", type=float, default=99)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--backends", default="cpu,opencv")
    parser.add_argument("--memory-limit", help="passed to acc colorize")
    parser.add_argument("extra", nargs="*", help="more acc colorize flags (after --)")
    args = parser.parse_args(argv)
    scans = make_scans(args.out / "scans", args.megapixels, args.count)
    for backend in args.backends.split(","):
        out = args.out / f"out-{backend}"
        cmd = [sys.executable, "-m", "acc.cli", "colorize", *map(str, scans), "-o", str(out), "--overwrite",
               "--backend", backend, *(["--memory-limit", args.memory_limit] if args.memory_limit else []),
               *args.extra]  # fmt: skip
        code, seconds, peak = measure(cmd)
        print(f"{backend:8} {args.count} x {args.megapixels:g} MP  limit {args.memory_limit or 'default'}: "
              f"peak RSS {peak / 2**30:.2f} GiB, {seconds:.1f} s, exit {code}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
