"""`acc colorize --backend ascend` on the device, against the cpu backend, and `acc bench`.

The .om runs the model in float16 on the AI Core (tools/atc_command.py), the cpu backend in float32
with ONNX Runtime, so ab differs by more than the kernels do: the comparison here is looser than the
emulated one (tests/test_ascend_e2e.py), and its figures are printed for docs/ascend.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.cli import main
from hardware_support import MARKS, hardware_model
from test_ascend_e2e import INPUTS, ycbcr_differences

pytestmark = MARKS
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hw_e2e")
    src = root / "in"
    src.mkdir()
    for name, data in INPUTS.items():
        (src / name).write_bytes(data)
    for photo in EXAMPLES.glob("*.jpg"):
        (src / photo.name).write_bytes(photo.read_bytes())
    model = hardware_model().name
    runs = {}
    for backend in ("ascend", "cpu"):
        out = root / backend
        code = main(["colorize", str(src), "-o", str(out), "--backend", backend, "--model", model, "--format", "png"])
        runs[backend] = (code, out)
    return {"src": src, "runs": runs, "model": model, "root": root}


def test_every_photo_is_colorized_on_the_device(outputs: dict) -> None:
    code, out = outputs["runs"]["ascend"]
    assert code == 0
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(p.stem for p in outputs["src"].iterdir())


def test_device_output_is_close_to_the_cpu_backend(outputs: dict) -> None:
    for photo in sorted(outputs["src"].iterdir()):
        name = photo.with_suffix(".png").name
        ascend, cpu = (cv2.imread(str(outputs["runs"][b][1] / name), cv2.IMREAD_COLOR) for b in ("ascend", "cpu"))
        dy, dc = ycbcr_differences(ascend, cpu)
        print(f"{photo.name}: Y max {dy.max():.2f} ({(dy <= 1).mean():.2%} <= 1); CbCr max {dc.max():.2f} "
              f"({(dc <= 1).mean():.2%} <= 1); mean |dRGB| {np.abs(ascend.astype(int) - cpu).mean():.2f}")  # fmt: skip
        assert np.abs(ascend.astype(int) - cpu).mean() <= 3


def test_bench_runs_on_the_device(outputs: dict) -> None:
    report = outputs["root"] / "bench.json"
    code = main(["bench", str(EXAMPLES), "--backend", "ascend,cpu", "--model", outputs["model"], "--rounds", "2",
                 "--json", str(report)])  # fmt: skip
    assert code == 0
    text = report.read_text()
    assert "ascend" in text
    print(json.dumps(json.loads(text), indent=1)[:4000])
