"""tools/device_check.sh --rehearse: the one GPU call, dress-rehearsed on this machine. The parent python is
this test's own, a venv's python3, as on the device (whose python3 is itself a venv holding torch,
numba-cuda, numpy, OpenCV, onnx and pytest): the wheels (this machine's Python's, downloaded from PyPI) and
acc itself are installed with pip --target, every stage runs that can without a GPU, and the ones that
cannot say why and are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install -e '.[cuda-test]')")

ROOT = Path(__file__).resolve().parent.parent
GPU_ONLY = ("GPU tests", "kernel bandwidth", "bench: cuda", "throughput: cuda")


def test_the_device_check_gets_through_every_stage_here(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out)}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", "tools/device_check.sh", "--rehearse"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    log = (out / "device_check.log").read_text()
    results = json.loads((out / "results.json").read_text())
    stages = {s["stage"]: s for s in results["stages"]}
    # Installed without a venv, into a folder first on PYTHONPATH: acc and nvImageCodec import from there,
    # beside the parent venv's torch, numba-cuda, numpy, OpenCV, onnx and pytest.
    assert stages["install"]["status"] == "ok"
    assert "/site/acc/__init__.py" in log and "/site/nvidia/nvimgcodec/__init__.py" in log
    for name in ("toolchain", "doctor", "GPU tests (collected only)", "corpus", "bench, baseline", "bench, progressive",
                 "throughput"):  # fmt: skip
        assert stages[name]["status"] == "ok", (name, log[-3000:])
    for name in GPU_ONLY:
        assert stages[name]["status"] == "skipped" and stages[name]["reason"].startswith("needs a GPU: "), name
    assert results["toolchain"]["ptx_isa"].startswith("9.") and results["toolchain"]["verdict"].startswith("skipped")
    assert {r["backend"] for r in results["throughput"]} == {"cpu"}
    assert {r["group"].split()[1] for r in results["throughput"]} == {"baseline", "progressive"}  # apart
    assert results["bench"]["baseline"]["groups"] and results["bench"]["progressive"]["groups"]
    assert (out / "bench.png").stat().st_size > 0
