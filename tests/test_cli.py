"""The `acc` command: exit statuses (acc/cli.py: 0 all ok, 1 some failed, 2 usage error, 130
interrupted), its messages, --dry-run, the config file, `acc doctor` and `acc models list`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from acc.backends.opencv import OpenCVBackend
from acc.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from dataclasses import fields

from acc.backends import BACKENDS, PLANNED
from acc.backends.cuda.driver import gpu_reason
from acc.config import KEYS, Settings
from acc.outdir import JOURNAL_NAME, LOCK_NAME
from conftest import TEST_MODEL, encode, gradient_photo, write_photos

SUMMARY = re.compile(
    r"^(\d+) colorized, (\d+) skipped \(done before\), (\d+) failed in [\d.]+ s \([\d.]+ images/s, [\d.]+ MP/s\)$"
)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def summary_counts(stdout: str) -> tuple[int, int, int]:
    lines = stdout.strip().splitlines()
    match = SUMMARY.match(lines[-1])
    assert match, stdout
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    write_photos(src, 3)
    return src


def colorize_args(src: Path, out: Path, *extra: str) -> list[str]:
    return ["colorize", str(src), "-o", str(out), "--backend", "opencv", "--model", TEST_MODEL, "--threads", "1", *extra]


# --- exit statuses and messages --------------------------------------------------------------------------


def test_exit_0_when_every_photo_succeeds(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    code, out, err = run(capsys, *colorize_args(photos, tmp_path / "out"))
    assert code == EXIT_OK == 0
    assert summary_counts(out) == (3, 0, 0)
    assert "acc: failed" not in err
    code, out, _ = run(capsys, *colorize_args(photos, tmp_path / "out"))
    assert code == 0 and summary_counts(out) == (0, 3, 0)


def test_exit_1_with_one_line_per_failed_file(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "letter.png").write_bytes(b"Dear Sir,\n")
    missing = tmp_path / "missing.jpg"
    code, out, err = run(capsys, "colorize", str(photos), str(missing), "-o", str(tmp_path / "out"), "--model", TEST_MODEL,
                         "--backend", "opencv")  # fmt: skip
    assert code == EXIT_FAILED == 1
    assert summary_counts(out) == (3, 0, 3)
    failed = [line for line in err.splitlines() if line.startswith("acc: failed: ")]
    assert sorted(failed) == sorted([
        f"acc: failed: {photos / 'empty.jpg'}: empty file",
        f"acc: failed: {photos / 'letter.png'}: not an image (unrecognised file format)",
        f"acc: failed: {missing}: no such file or directory",
    ])  # fmt: skip


def test_messages_name_files_as_the_user_did(tmp_path: Path, acc_env: dict, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("scans").mkdir()
    Path("scans/bad.jpg").write_bytes(b"")
    code, _, err = run(capsys, "colorize", "scans", "-o", "out", "--model", TEST_MODEL, "--backend", "opencv")
    assert code == 1
    assert "acc: failed: scans/bad.jpg: empty file" in err.splitlines()


@pytest.mark.parametrize(
    "argv",
    [
        ["colorize", "x.jpg"],  # no -o
        ["colorize", "-o", "out"],  # no input
        ["colorize", "x.jpg", "-o", "out", "--format", "gif"],
        ["colorize", "x.jpg", "-o", "out", "--batch-size", "many"],
        ["frobnicate"],
        [],
    ],
)
def test_exit_2_for_bad_arguments(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE == 2
    assert "usage: acc" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--batch-size", "0"], "'batch_size' must be a whole number from 1 to 256, got 0"),
        (["--quality", "101"], "'quality' must be a whole number from 1 to 100, got 101"),
        (["--workers", "0"], "'workers' must be a whole number from 1 to 64, got 0"),
        (["--backend", "gpu9000"], "unknown backend 'gpu9000' (known: opencv"),
        pytest.param(["--backend", "cuda"], "backend 'cuda' cannot run here: ",
                     marks=pytest.mark.skipif(gpu_reason() is None, reason="this machine has a GPU")),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    ],
)
def test_exit_2_for_usage_errors(tmp_path: Path, photos: Path, acc_env: dict, capsys, extra, message) -> None:
    code, _, err = run(capsys, *colorize_args(photos, tmp_path / "out"), *extra)
    assert code == 2
    assert err.startswith("acc: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_exit_2_when_output_is_a_file(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    (tmp_path / "out").write_text("a file")
    code, _, err = run(capsys, *colorize_args(photos, tmp_path / "out"))
    assert code == 2 and f"output {tmp_path / 'out'} exists and is not a folder" in err


def test_exit_130_when_interrupted(tmp_path: Path, photos: Path, acc_env: dict, capsys, monkeypatch) -> None:
    real_infer, once = OpenCVBackend.infer, threading.Lock()

    def interrupted(self, inputs):
        if once.acquire(blocking=False):  # one Ctrl-C while the model runs (a second ends the process at once)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return real_infer(self, inputs)

    monkeypatch.setattr(OpenCVBackend, "infer", interrupted)
    code, out, _ = run(capsys, *colorize_args(photos, tmp_path / "out"))
    assert code == EXIT_INTERRUPTED == 130
    assert out.strip().endswith("- interrupted, run again to resume")


def test_sigterm_is_an_interrupt_too(tmp_path: Path, acc_env: dict) -> None:
    from test_pipeline import CRASH_SHAPE, N_CRASH, acc_command, assert_consistent_after_stop, start_and_signal

    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, N_CRASH, CRASH_SHAPE)
    status, output = start_and_signal(acc_command(src, out), acc_env, out, signal.SIGTERM, after_lines=4)
    assert status == 130, output
    assert_consistent_after_stop(out)


def test_console_script_end_to_end(tmp_path: Path, photos: Path, acc_env: dict) -> None:
    acc = Path(sys.executable).parent / "acc"
    if not acc.exists():
        pytest.skip("the acc console script is not installed next to this Python")
    (photos / "bad.jpg").write_bytes(b"")
    done = subprocess.run([str(acc), *colorize_args(photos, tmp_path / "out")], env=acc_env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert summary_counts(done.stdout) == (3, 0, 1)
    assert f"acc: failed: {photos / 'bad.jpg'}: empty file" in done.stderr
    usage = subprocess.run([str(acc), "colorize"], env=acc_env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2


def test_help_says_colour_photos_keep_their_l(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "A colour photo keeps its lightness (L) and gets new colours" in text
    for flag in ("--backend", "--model", "--batch-size", "--workers", "--format", "--quality", "--overwrite",
                 "--dry-run", "--config", "--max-pixels"):  # fmt: skip
        assert flag in text


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.match(r"^acc \S+$", capsys.readouterr().out.strip())


# --- dry run ---------------------------------------------------------------------------------------------


def test_dry_run_writes_nothing(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, *colorize_args(photos, out, "--dry-run"))
    assert code == 0
    assert not out.exists()
    assert f"colorize: {photos / 'p000.jpg'} -> {out.absolute() / 'p000.jpg'}" in stdout
    assert stdout.strip().splitlines()[-1] == "dry run: 3 to colorize, 0 done before, 0 refused"

    assert run(capsys, *colorize_args(photos, out))[0] == 0
    (photos / "new.jpg").write_bytes(encode(gradient_photo(), ".jpg"))
    (photos / "bad.jpg").write_bytes(b"")
    before = {p: p.read_bytes() for p in out.rglob("*")}
    code, stdout, err = run(capsys, *colorize_args(photos, out, "--dry-run"))
    assert {p: p.read_bytes() for p in out.rglob("*")} == before  # not even the journal or the lock
    # bad.jpg is only found bad when decoded: a dry run reads no pixels, so it is listed to colorize.
    assert stdout.strip().splitlines()[-1] == "dry run: 2 to colorize, 3 done before, 0 refused"
    (out / "bad.jpg").write_bytes(b"someone else's")
    code, stdout, err = run(capsys, *colorize_args(photos, out, "--dry-run"))
    assert code == 1
    assert f"failed: {photos / 'bad.jpg'}: output {out.resolve() / 'bad.jpg'} already exists (use --overwrite)" in err
    assert stdout.strip().splitlines()[-1] == "dry run: 1 to colorize, 3 done before, 1 refused"


# --- the config file -------------------------------------------------------------------------------------


def full_config(tmp_path: Path, model_dir: Path, **changes) -> Path:
    """A config file setting every key: the values below, and the default for any key added since."""
    defaults = {f.name: getattr(Settings(), f.name) for f in fields(Settings)}
    settings = {
        **{k: v for k, v in defaults.items() if v is not None and not isinstance(v, Path)},
        "backend": "opencv",
        "model": TEST_MODEL,
        "model_dir": str(model_dir),
        "batch_size": 2,
        "workers": 1,
        "threads": 1,
        "format": "png",
        "quality": 80,
        "overwrite": True,
        "max_pixels": 50_000_000,
        "memory_limit": "2G",
        **changes,
    }
    # every key the settings have, but `ray` (a run on Ray: its key is tested in tests/test_ray.py) and
    # `c2pa_sign` (it needs a certificate: tests/test_metadata_c2pa.py)
    assert set(settings) == set(KEYS) - {"ray", "c2pa_sign"}
    path = tmp_path / "acc.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_config_with_every_key_works(tmp_path: Path, photos: Path, model_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ACC_MODEL_DIR", str(tmp_path / "elsewhere"))  # the file's model_dir must be used
    config = full_config(tmp_path, model_dir)
    out = tmp_path / "out"
    for _ in range(2):  # overwrite: true -> the second run redoes everything
        code, stdout, _ = run(capsys, "colorize", str(photos), "-o", str(out), "--config", str(config))
        assert code == 0 and summary_counts(stdout) == (3, 0, 0)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["p000.png", "p001.png", "p002.png"]


def test_flags_win_over_the_config(tmp_path: Path, photos: Path, model_dir: Path, capsys) -> None:
    config = full_config(tmp_path, model_dir, max_pixels=10)
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "colorize", str(photos), "-o", str(out), "--config", str(config),
                          "--format", "jpeg", "--max-pixels", "100000")  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["p000.jpg", "p001.jpg", "p002.jpg"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("batch_size: 4\ncolour: sepia\n", "unknown key 'colour'"),
        ("batch_size: 0\n", "'batch_size' must be a whole number from 1 to 256, got 0"),
        ("format: tiff\n", "'format' must be jpeg or png, got 'tiff'"),
        ("overwrite: maybe\n", "'overwrite' must be true or false, got 'maybe'"),
        ("quality: high\n", "'quality' must be a whole number from 1 to 100, got 'high'"),
        ("workers: [1, 2]\n", "'workers' must be a whole number"),
        ("- batch_size\n", "expected a mapping of settings"),
        ("batch_size: [4\n", "not valid YAML"),
    ],
)
def test_config_errors_exit_2_naming_the_key(tmp_path: Path, photos: Path, acc_env: dict, capsys, text, message) -> None:
    config = tmp_path / "acc.yaml"
    config.write_text(text)
    code, _, err = run(capsys, *colorize_args(photos, tmp_path / "out", "--config", str(config)))
    assert code == 2
    assert err.startswith(f"acc: error: {config}: ") and message in err
    assert not (tmp_path / "out").exists()


def test_missing_config_file_exits_2(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    code, _, err = run(capsys, *colorize_args(photos, tmp_path / "out", "--config", str(tmp_path / "nope.yaml")))
    assert code == 2 and "nope.yaml" in err


# --- doctor and models list ------------------------------------------------------------------------------


def test_doctor_reports_backends_and_model(acc_env: dict, capsys) -> None:
    code, out, _ = run(capsys, "doctor", "--model", TEST_MODEL, "--backend", "opencv")
    assert code == 0
    assert re.search(r"^acc \S+ on Python 3\.\d+", out, re.M)
    assert "onnxruntime" in out and "opencv-python-headless" in out
    backends = dict(re.findall(r"^  (\w+)\s+((?:ok|not available: ).*)$", out, re.M))
    assert backends["opencv"] == "ok selected"
    for name in {*BACKENDS, *PLANNED} - {"opencv"}:  # each backend: works here, or why not
        assert backends[name] == "ok" or re.match(r"not available: \S", backends[name]), (name, out)
    assert re.search(rf"^model: {TEST_MODEL} \(user\) .*linear\.onnx: verified$", out, re.M)
    assert out.strip().endswith("status: ready")


def test_doctor_fails_on_a_damaged_model(model_dir: Path, acc_env: dict, capsys) -> None:
    (model_dir / "linear.onnx").write_bytes((model_dir / "linear.onnx").read_bytes() + b"\0")
    code, out, _ = run(capsys, "doctor", "--model", TEST_MODEL, "--backend", "opencv")
    assert code == 1
    assert "FAILS: model 'test-linear': checksum mismatch" in out
    assert out.strip().endswith("status: NOT ready (see above)")
    code, out, _ = run(capsys, "doctor", "--model", "absent", "--backend", "opencv")
    assert code == 1 and "model: unknown model 'absent'" in out


@pytest.mark.skipif(gpu_reason() is None, reason="this machine has a GPU: cuda is usable")
def test_doctor_marks_an_unusable_selected_backend(acc_env: dict, capsys) -> None:
    code, out, _ = run(capsys, "doctor", "--model", TEST_MODEL, "--backend", "cuda")
    assert code == 1
    assert re.search(r"^  cuda\s+not available: .* selected$", out, re.M)


def test_colorize_refuses_a_damaged_model(tmp_path: Path, photos: Path, model_dir: Path, acc_env: dict, capsys) -> None:
    (model_dir / "linear.onnx").write_bytes(b"\0" + (model_dir / "linear.onnx").read_bytes())
    code, _, err = run(capsys, *colorize_args(photos, tmp_path / "out"))
    assert code == 2
    assert "checksum mismatch" in err and "reinstall" in err
    assert not (tmp_path / "out").exists()


def test_models_list(model_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "models", "list", "--model-dir", str(model_dir))
    assert code == 0
    assert f"user model folder: {model_dir}" in out
    assert re.search(rf"^. {TEST_MODEL}\s+user\s+verified\s+linear test model$", out, re.M)
    (model_dir / "linear.onnx").write_bytes(b"garbage")
    code, out, _ = run(capsys, "models", "list", "--model-dir", str(model_dir))
    assert code == 1
    assert re.search(rf"^. {TEST_MODEL}\s+user\s+FAILS: .*checksum mismatch", out, re.M)
    (model_dir / "linear.onnx").unlink()
    code, out, _ = run(capsys, "models", "list", "--model-dir", str(model_dir))
    assert code == 0 and re.search(rf"^. {TEST_MODEL}\s+user\s+not installed", out, re.M)


def test_files_are_left_as_found_by_a_failed_start(tmp_path: Path, photos: Path, acc_env: dict, capsys) -> None:
    """A usage error before the run starts leaves no lock or journal behind in an existing folder."""
    out = tmp_path / "out"
    out.mkdir()
    code, _, _ = run(capsys, *colorize_args(photos, out, "--model", "absent"))
    assert code == 2
    assert not (out / JOURNAL_NAME).exists() and not (out / LOCK_NAME).exists()
