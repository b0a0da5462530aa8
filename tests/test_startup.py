"""What a start costs: `acc --help` and `acc doctor` load no model, and a run loads every numba kernel from
its cache instead of compiling it again. Each check runs in a fresh interpreter (this one has imported
everything already). How long a start takes is measured outside the tests (README, Performance)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import TEST_MODEL, color_photo, encode, write_photos

NO_MODEL = """
import sys
import onnxruntime

def refuse(*args, **kwargs):
    raise AssertionError("a model was loaded")

onnxruntime.InferenceSession = refuse
from acc.cli import main

try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
print("exit", code)
"""

KERNEL_CACHE = """
import json, sys
from acc.cli import main

code = main(sys.argv[1:])
from acc.kernels.cpu import ab_merge, lab_l

# the kernels called from Python (taps.linear_taps is compiled into them)
kernels = {"ab_merge": ab_merge.ab_merge, "resample_l": lab_l.resample_l, "rgb_l_codes": lab_l.rgb_l_codes}
print(json.dumps({"exit": code, **{name: {"hits": sum(k.stats.cache_hits.values()),
                                          "misses": sum(k.stats.cache_misses.values())}
                                   for name, k in kernels.items()}}))
"""


def python(code: str, *argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=300)


def test_help_and_doctor_load_no_model(acc_env: dict) -> None:
    for argv in (["--help"], ["doctor"], ["colorize", "--help"], ["models", "list"]):
        done = python(NO_MODEL, *argv, env=acc_env)
        assert "a model was loaded" not in done.stderr, (argv, done.stderr)
        assert done.stdout.strip().splitlines()[-1] in ("exit 0", "exit 1"), (argv, done.stdout, done.stderr)


def test_help_imports_no_inference_or_kernel_library(acc_env: dict) -> None:
    probe = "import sys\nfrom acc.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n" \
            "print(sorted(m for m in ('onnxruntime', 'numba', 'torch', 'ray') if m in sys.modules))"  # fmt: skip
    done = python(probe, env=acc_env)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_a_second_run_compiles_no_kernel_again(tmp_path: Path, acc_env: dict) -> None:
    """Gray, colour (exact L: the colour kernel) and 16-bit photos: every kernel signature a run uses is
    found in numba's cache by the next process (misses would mean a compile on every start)."""
    src = tmp_path / "in"
    write_photos(src, 2)
    (src / "colour.jpg").write_bytes(encode(color_photo(), ".jpg"))
    (src / "deep.png").write_bytes(encode((color_photo()[:, :, 0].astype("uint16") * 257), ".png"))
    argv = ["colorize", str(src), "--model", TEST_MODEL, "--backend", "cpu", "--exact-l", "--overwrite"]
    runs = [json.loads(python(KERNEL_CACHE, *argv, "-o", str(tmp_path / f"out{i}"), env=acc_env).stdout
                       .strip().splitlines()[-1]) for i in range(2)]  # fmt: skip
    assert runs[1]["exit"] == 0
    for name in ("ab_merge", "resample_l", "rgb_l_codes"):
        assert runs[1][name]["misses"] == 0 and runs[1][name]["hits"] > 0, (name, runs)
