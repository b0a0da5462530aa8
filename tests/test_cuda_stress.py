"""`acc colorize --backend cuda --emulate --workers 8` over a few hundred small photos, against the cpu backend:
eight threads on one backend and one nvImageCodec library (its CPU backends: the real binding, batching,
None results, decoding into the backend's planes, EXIF orientation), batches of 64, photos of every kind a
scan archive holds: gray and colour, baseline and progressive, EXIF-rotated, PNG, RGB-coded and CMYK JPEGs,
damaged ones that decode with a warning, and broken ones that must fail alone.

Both runs must fail the same photos for the same reasons, and every output must be within 1 level of the
cpu backend's (colour CMYK photos within 2 levels on average: the cuda backend takes their L through an
8-bit gray of the same luminance, the cpu backend exactly). Photos are tiny (8 to 24 pixels a side): the
simulator runs a Python thread per GPU thread.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'acc-colorize[cuda]')")

from acc.backends.cuda.codecs import nvimgcodec_reason  # noqa: E402
from acc.probe import probe  # noqa: E402
from conftest import encode, gradient_photo  # noqa: E402
from cuda_support import rgb_coded_jpeg  # noqa: E402
from test_cuda_backend import exif_rotated_jpeg, small_model_dir  # noqa: E402

pytestmark = pytest.mark.skipif(bool(nvimgcodec_reason()), reason=f"{nvimgcodec_reason()} (pip install -e '.[cuda-test]')")
FAILED = re.compile(r"^acc: failed: (.*?): (.*)$")


def stress_corpus(folder: Path) -> set[str]:
    """About 300 small photos of every kind; returns the names of those whose L the cuda backend takes
    through an 8-bit gray (CMYK)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2026)
    approximate = set()

    def size() -> tuple[int, int]:
        return int(rng.integers(8, 25)), int(rng.integers(8, 25))

    def gray(seed: int) -> np.ndarray:
        return gradient_photo(*size(), seed=seed)

    def colour(seed: int) -> np.ndarray:
        g = gray(seed)
        return np.clip(g[:, :, None].astype(int) + rng.integers(-40, 40, (1, 1, 3)), 0, 255).astype(np.uint8)

    photos: dict[str, bytes] = {}
    for i in range(120):
        photos[f"gray{i:03d}.jpg"] = encode(gray(i), ".jpg", cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 98)))
    for i in range(60):
        photos[f"colour{i:03d}.jpg"] = encode(colour(200 + i), ".jpg")
    for i in range(50):
        img = gray(300 + i) if i % 2 else colour(300 + i)
        photos[f"progressive{i:03d}.jpg"] = encode(img, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    for i in range(35):
        photos[f"rotated{i:03d}_{2 + i % 7}.jpg"] = exif_rotated_jpeg(gray(400 + i), 2 + i % 7)
    for i in range(8):
        photos[f"png{i:03d}.png"] = encode(gray(500 + i), ".png")
    for i in range(3):
        photos[f"rgbcoded{i:03d}.jpg"] = rgb_coded_jpeg(colour(600 + i), adobe=bool(i % 2))
        photos[f"cmyk{i:03d}.jpg"] = simplejpeg.encode_jpeg(rng.integers(0, 256, (*size(), 4), dtype=np.uint8),
                                                           colorspace="CMYK")  # fmt: skip
        approximate.add(f"cmyk{i:03d}.jpg")
    for i in range(6):
        data = encode(gray(700 + i), ".jpg")
        photos[f"truncated{i:03d}.jpg"] = data[: len(data) * 2 // 3]  # no end of image: refused
        damaged = bytearray(data)
        mid = (probe(data).data_offset + len(data)) // 2  # in the entropy-coded data: a warning, not a failure
        damaged[mid : mid + 4] = b"\x13\x37\xff\xd3"
        photos[f"damaged{i:03d}.jpg"] = bytes(damaged)
    for i in range(4):
        photos[f"notanimage{i:03d}.jpg"] = bytes(rng.integers(0, 256, 200, dtype=np.uint8))
        photos[f"empty{i:03d}.jpg"] = b""
    for name, data in photos.items():
        (folder / name).write_bytes(data)
    return approximate


def colorize(backend: str, scans: Path, out: Path, models: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    args = [sys.executable, "-m", "acc.cli", "colorize", str(scans), "-o", str(out), "--backend", backend,
            "--model-dir", str(models), "--model", "small", "--workers", "8"]  # fmt: skip
    result = subprocess.run(args + (["--emulate"] if backend == "cuda" else []), capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    failed = {Path(m[1]).name: m[2] for m in map(FAILED.match, result.stderr.splitlines()) if m}
    return result, failed


def test_eight_workers_on_the_emulated_backend_write_what_the_cpu_backend_writes(tmp_path: Path) -> None:
    scans, models = tmp_path / "scans", small_model_dir(tmp_path / "models")
    approximate = stress_corpus(scans)
    cpu, cpu_failed = colorize("cpu", scans, tmp_path / "cpu", models)
    cuda, cuda_failed = colorize("cuda", scans, tmp_path / "cuda", models)
    for result in (cpu, cuda):
        assert result.returncode == 1, result.stderr[-3000:]  # the broken photos fail, alone
    # The same photos fail for the same reasons; the cuda backend may add what nvImageCodec's libjpeg-turbo
    # printed about the photo before the host decoder refused it too ("(Invalid component ID 255 in SOS)").
    assert {n: r.split(" (")[0] for n, r in cuda_failed.items()} == {n: r.split(" (")[0] for n, r in cpu_failed.items()}
    assert set(cpu_failed) == {n for n in (p.name for p in scans.iterdir()) if n.startswith(("truncated", "notanimage",
                                                                                             "empty"))}  # fmt: skip
    outputs = sorted(p.name for p in (tmp_path / "cpu").glob("*.jpg"))
    assert outputs == sorted(p.name for p in (tmp_path / "cuda").glob("*.jpg"))
    assert len(outputs) == len(list(scans.iterdir())) - len(cpu_failed) == 285
    assert "with warnings" in cuda.stdout and cuda.stdout.split(" in ")[0] == cpu.stdout.split(" in ")[0]
    for name in outputs:
        want = cv2.imdecode(np.fromfile(tmp_path / "cpu" / name, np.uint8), cv2.IMREAD_COLOR).astype(int)
        got = cv2.imdecode(np.fromfile(tmp_path / "cuda" / name, np.uint8), cv2.IMREAD_COLOR).astype(int)
        assert got.shape == want.shape, name
        diff = np.abs(got - want)
        stem = Path(name).stem
        if any(source.startswith(stem + ".") and source in approximate for source in approximate):
            assert diff.mean() <= 2.0, (name, diff.mean())
        else:
            assert diff.max() <= 1, (name, diff.max())
