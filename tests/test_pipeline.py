"""The batch runner: order, error isolation, resume, overwrite, atomic writes under a crash, Ctrl-C,
output safety (never over an input, never outside OUTDIR, one run per folder) and input discovery."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from acc.backends.opencv import OpenCVBackend
from acc.cli import main
from acc.inputs import InputSet
from acc.outdir import JOURNAL_NAME, FolderBusy, OutputDir
from acc.pipeline import Outcome, RunOptions, Runner, Summary
from acc.probe import probe
from conftest import TEST_MODEL, encode, gradient_photo, write_photos

# --- helpers -------------------------------------------------------------------------------------------


def colorize(
    spec, inputs: list, out: Path, backend_cls: type = OpenCVBackend, **options
) -> tuple[Summary, list[Outcome]]:
    """One in-process run over `inputs` (paths or patterns) into `out`; returns the summary and outcomes."""
    outcomes: list[Outcome] = []
    with backend_cls(spec, threads=1) as backend, OutputDir(out) as outdir:
        runner = Runner(backend, outdir, RunOptions(**options), outcomes.append)
        summary = runner.run(InputSet([str(i) for i in inputs], out))
    assert summary.ok + summary.failed + summary.skipped + summary.unfinished == len(outcomes)
    return summary, outcomes


def by_name(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {Path(o.display).name: o for o in outcomes}


def journal(out: Path) -> list[dict]:
    """The journal's complete lines (a line cut short by a kill has no newline and is left out)."""
    text = (out / JOURNAL_NAME).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def results(out: Path) -> list[dict]:
    return [e for e in journal(out) if e["status"] in ("ok", "failed")]


def final_outputs(out: Path) -> list[Path]:
    """Files under their final names (the temporary names are hidden)."""
    return sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))


def assert_whole_jpeg(path: Path, shape: tuple[int, int]) -> None:
    """A complete JPEG: ends with its EOI marker, decodes, and has the photo's size."""
    data = path.read_bytes()
    probe(data)  # raises on a missing end-of-image marker (libjpeg alone would pad a cut file with gray)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (*shape, 3), path


class JitterBackend(OpenCVBackend):
    """The baseline with random delays in decode and render, so stages finish out of order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rng = random.Random(7)
        self._lock = threading.Lock()
        self.live = 0  # frames decoded and not yet released
        self.peak = 0

    def _sleep(self) -> None:
        with self._lock:
            delay = self._rng.random() * 0.004
        time.sleep(delay)

    def decode(self, data, info):
        self._sleep()
        frame = super().decode(data, info)
        with self._lock:
            self.live += 1
            self.peak = max(self.peak, self.live)
        return frame

    def render(self, frame, prediction, fmt):
        self._sleep()
        return super().render(frame, prediction, fmt)

    def release(self, frame) -> None:
        with self._lock:
            self.live -= 1


def is_black(frame) -> bool:
    return float(frame.lab[:, :, 0].max()) < 1e-3


class PoisonInferBackend(OpenCVBackend):
    """infer raises whenever its batch holds the all-black photo; everything else works."""

    def model_input(self, frame):
        return (super().model_input(frame), is_black(frame))

    def infer(self, inputs):
        if any(poison for _, poison in inputs):
            raise RuntimeError("device lost the black photo")
        return super().infer([x for x, _ in inputs])


class PoisonRenderBackend(OpenCVBackend):
    def render(self, frame, prediction, fmt):
        if is_black(frame):
            raise ValueError("cannot render the black photo")
        return super().render(frame, prediction, fmt)


def black_jpeg() -> bytes:
    return encode(np.zeros((40, 56), np.uint8), ".jpg")


# --- order and error isolation ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 8])
@pytest.mark.parametrize("workers", [1, 3])
def test_outcomes_come_in_input_order(tmp_path: Path, test_spec, batch_size: int, workers: int) -> None:
    src = tmp_path / "in"
    src.mkdir()
    names = []
    for i in range(14):
        name = f"p{i:02d}.jpg"
        if i in (2, 3, 9):
            (src / name).write_bytes(b"this is not a photo")
        else:  # sizes vary so that decoding times vary
            (src / name).write_bytes(encode(gradient_photo(32 + 16 * (i % 4), 48 + 8 * (i % 5), seed=i), ".jpg"))
        names.append(name)
    out = tmp_path / "out"
    done_before = out / "p05.jpg"  # an earlier run's result: skipped, in its place
    summary, _ = colorize(test_spec, [src / "p05.jpg"], out)
    assert summary.ok == 1
    summary, outcomes = colorize(test_spec, [src], out, JitterBackend, batch_size=batch_size, workers=workers)
    assert [Path(o.display).name for o in outcomes] == names
    statuses = {Path(o.display).name: o.status for o in outcomes}
    assert statuses["p05.jpg"] == "skipped" and done_before.is_file()
    assert [n for n, s in statuses.items() if s == "failed"] == ["p02.jpg", "p03.jpg", "p09.jpg"]
    assert (summary.ok, summary.failed, summary.skipped) == (10, 3, 1)
    # The journal records this run's results in input order too (skips are not journaled again).
    logged = [Path(e["input"]).name for e in results(out)][1:]
    assert logged == [n for n in names if n != "p05.jpg"]


@pytest.mark.parametrize("batch_size,workers", [(2, 2), (8, 3)])
def test_memory_is_bounded_and_every_frame_released(tmp_path: Path, test_spec, batch_size: int, workers: int) -> None:
    """However many files, the photos in flight stay within the runner's windows (DESIGN.md: memory flat).

    The runner holds at most batch_size + workers photos being decoded, the batch being formed, and
    2 * workers being rendered besides the workers - 1 batches being inferred beside the first
    (acc/pipeline.py): the bound does not depend on the number of files.
    """
    write_photos(tmp_path / "in", 60, (24, 32))
    backend_holder = {}

    class Counting(JitterBackend):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            backend_holder["b"] = self

    summary, _ = colorize(test_spec, [tmp_path / "in"], tmp_path / "out", Counting, batch_size=batch_size,
                          workers=workers)  # fmt: skip
    assert summary.ok == 60
    backend = backend_holder["b"]
    assert backend.live == 0  # every decoded frame was handed back
    assert backend.peak <= (workers + 1) * batch_size + 3 * workers


def test_bad_files_fail_alone_with_their_reason(tmp_path: Path, test_spec) -> None:
    src = tmp_path / "in"
    write_photos(src, 5)
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.png").write_bytes(b"hello")
    good = encode(gradient_photo(48, 64), ".jpg")
    (src / "cut.jpg").write_bytes(good[: len(good) // 2])
    summary, outcomes = colorize(test_spec, [src], tmp_path / "out", batch_size=4)
    results_ = by_name(outcomes)
    assert results_["empty.jpg"].reason == "empty file"
    assert results_["text.png"].reason.startswith("not an image")
    assert results_["cut.jpg"].reason.startswith("truncated JPEG")
    assert sum(o.status == "failed" for o in outcomes) == 3  # one failure each, nothing else
    assert summary.ok == 5
    for i in range(5):
        assert_whole_jpeg(tmp_path / "out" / f"p{i:03d}.jpg", (48, 64))
    assert {e["input"].rsplit("/", 1)[1] for e in results(tmp_path / "out") if e["status"] == "failed"} == {
        "empty.jpg",
        "text.png",
        "cut.jpg",
    }


@pytest.mark.parametrize("batch_size", [1, 4])
def test_infer_failure_fails_only_that_photo(tmp_path: Path, test_spec, batch_size: int) -> None:
    src = tmp_path / "in"
    write_photos(src, 6)
    (src / "p002b.jpg").write_bytes(black_jpeg())  # between p002 and p003: in a batch with others
    summary, outcomes = colorize(test_spec, [src], tmp_path / "out", PoisonInferBackend, batch_size=batch_size)
    results_ = by_name(outcomes)
    assert results_["p002b.jpg"].status == "failed"
    assert results_["p002b.jpg"].reason == "inference failed: device lost the black photo"
    assert summary.ok == 6 and summary.failed == 1
    assert not (tmp_path / "out" / "p002b.jpg").exists()
    for i in range(6):
        assert_whole_jpeg(tmp_path / "out" / f"p{i:03d}.jpg", (48, 64))


def test_render_failure_fails_only_that_photo(tmp_path: Path, test_spec) -> None:
    src = tmp_path / "in"
    write_photos(src, 4)
    (src / "p001b.jpg").write_bytes(black_jpeg())
    summary, outcomes = colorize(test_spec, [src], tmp_path / "out", PoisonRenderBackend)
    assert by_name(outcomes)["p001b.jpg"].reason == "internal error: ValueError: cannot render the black photo"
    assert (summary.ok, summary.failed) == (4, 1)
    assert not list((tmp_path / "out").glob(".*partial"))


# --- resume and overwrite --------------------------------------------------------------------------------


def test_resume_skips_done_and_retries_failed(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 3)
    good = encode(gradient_photo(40, 40, seed=9), ".jpg")
    (src / "late.jpg").write_bytes(good[:300])  # truncated the first time
    summary, outcomes = colorize(test_spec, [src], out)
    assert (summary.ok, summary.failed) == (3, 1)
    first = {p.name: p.stat().st_mtime_ns for p in final_outputs(out)}

    (src / "late.jpg").write_bytes(good)  # fixed
    summary, outcomes = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped, summary.failed) == (1, 3, 0)
    assert by_name(outcomes)["late.jpg"].status == "ok"
    assert all(o.reason == "done in an earlier run" for o in outcomes if o.status == "skipped")
    assert {p.name: p.stat().st_mtime_ns for p in final_outputs(out) if p.name in first} == first  # untouched
    assert_whole_jpeg(out / "late.jpg", (40, 40))

    summary, _ = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped, summary.failed) == (0, 4, 0)


def test_deleted_output_is_redone(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 3)
    colorize(test_spec, [src], out)
    (out / "p001.jpg").unlink()
    summary, _ = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped) == (1, 2)
    assert_whole_jpeg(out / "p001.jpg", (48, 64))


def test_changed_input_is_refused_without_overwrite(tmp_path: Path, test_spec) -> None:
    """Documented (acc/pipeline.py plan): an existing output not from an earlier run of the same input
    (path, size, mtime) and model is refused unless --overwrite; the old output is left as it was."""
    src, out = tmp_path / "in", tmp_path / "out"
    paths = write_photos(src, 3)
    colorize(test_spec, [src], out)
    before = (out / "p001.jpg").read_bytes()
    paths[1].write_bytes(encode(gradient_photo(48, 64, seed=999), ".jpg"))
    st = paths[1].stat()
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))

    summary, outcomes = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped, summary.failed) == (0, 2, 1)
    reason = by_name(outcomes)["p001.jpg"].reason
    assert reason == f"output {out / 'p001.jpg'} already exists (use --overwrite)"
    assert (out / "p001.jpg").read_bytes() == before

    summary, _ = colorize(test_spec, [src], out, overwrite=True)
    assert summary.ok == 3 and summary.skipped == 0  # --overwrite redoes everything
    assert (out / "p001.jpg").read_bytes() != before
    summary, _ = colorize(test_spec, [src], out)
    assert summary.skipped == 3


def test_foreign_file_in_outdir_is_kept_unless_overwrite(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 2)
    out.mkdir()
    (out / "p000.jpg").write_bytes(b"the user's own file")
    summary, outcomes = colorize(test_spec, [src], out)
    assert (summary.ok, summary.failed) == (1, 1)
    assert "already exists (use --overwrite)" in by_name(outcomes)["p000.jpg"].reason
    assert (out / "p000.jpg").read_bytes() == b"the user's own file"
    summary, _ = colorize(test_spec, [src], out, overwrite=True)
    assert summary.ok == 2
    assert_whole_jpeg(out / "p000.jpg", (48, 64))


# --- crashes and Ctrl-C ----------------------------------------------------------------------------------

N_CRASH = 40
CRASH_SHAPE = (120, 160)


def acc_command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "acc.cli", "colorize", str(src), "-o", str(out), "--model", TEST_MODEL,
            "--backend", "opencv", "--threads", "1", "--workers", "2", "--batch-size", "4"]  # fmt: skip


def start_and_signal(cmd: list[str], env: dict, out: Path, sig: int, after_lines: int) -> tuple[int, str]:
    """Start `cmd`; once the journal has `after_lines` lines, send `sig`; wait for the process to end.
    Returns its exit status and its stdout + stderr."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal_path = out / JOURNAL_NAME
    try:
        deadline = time.monotonic() + 60  # a safety net against a hung run, not a speed check
        while proc.poll() is None and time.monotonic() < deadline:
            if journal_path.exists() and journal_path.read_bytes().count(b"\n") >= after_lines:
                break
            time.sleep(0.002)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stdout + stderr


def assert_consistent_after_stop(out: Path) -> list[dict]:
    """No partial file under a final name; every complete journal line parses; 'ok' means a whole file."""
    outputs = final_outputs(out)
    for path in outputs:
        assert_whole_jpeg(path, CRASH_SHAPE)
    entries = journal(out)
    for entry in entries:
        assert entry["status"] in ("ok", "failed", "writing")
        if entry["status"] == "ok":
            assert_whole_jpeg(out / entry["output"], CRASH_SHAPE)
    return entries


def rerun_completes(src: Path, out: Path, env: dict) -> None:
    done = subprocess.run(acc_command(src, out), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stdout
    assert len(final_outputs(out)) == N_CRASH
    for path in final_outputs(out):
        assert_whole_jpeg(path, CRASH_SHAPE)


def test_sigkill_mid_run_leaves_no_partial_file_and_rerun_completes(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, N_CRASH, CRASH_SHAPE)
    status, _ = start_and_signal(acc_command(src, out), acc_env, out, signal.SIGKILL, after_lines=6)
    assert status == -signal.SIGKILL
    assert_consistent_after_stop(out)
    assert len(final_outputs(out)) < N_CRASH
    rerun_completes(src, out, acc_env)


CRASH_AT_RENAME = """
import os, signal, sys, threading
from acc.cli import main
real_replace, calls, lock = os.replace, [0], threading.Lock()
def replace(src, dst):
    with lock:
        calls[0] += 1
        mine = calls[0]
    if mine == {n}:
        print("CRASH", dst, file=sys.stderr, flush=True)
        if {before}:
            os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
    if mine == {n}:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("before", [True, False], ids=["before-rename", "after-rename"])
def test_kill_at_the_rename_then_rerun_completes(tmp_path: Path, acc_env: dict, before: bool) -> None:
    """A kill at the worst moments: just before a finished file is renamed into place, and just after
    (before the journal can say so). Either way the rerun must finish every photo, exit status 0."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, N_CRASH, CRASH_SHAPE)
    code = CRASH_AT_RENAME.format(n=7, before=before)
    cmd = [sys.executable, "-c", code, *acc_command(src, out)[3:]]
    proc = subprocess.run(cmd, env=acc_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    victim = Path(proc.stderr.split("CRASH ", 1)[1].splitlines()[0])
    assert victim.exists() is not before
    entries = assert_consistent_after_stop(out)
    assert not [e for e in entries if e.get("output") == victim.name and e["status"] != "writing"]
    rerun_completes(src, out, acc_env)


def test_ctrl_c_stops_cleanly_and_rerun_resumes(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, N_CRASH, CRASH_SHAPE)
    status, output = start_and_signal(acc_command(src, out), acc_env, out, signal.SIGINT, after_lines=6)
    assert status == 130, output
    assert "interrupted, run again to resume" in output
    entries = assert_consistent_after_stop(out)
    # Journal consistent: the writes under way were finished and recorded, so every output on disk is
    # recorded as done, and nothing is left under a temporary name.
    ok = {e["output"] for e in entries if e["status"] == "ok"}
    assert {p.name for p in final_outputs(out)} == ok
    assert not [p for p in out.iterdir() if p.name.endswith(".acc-partial")]
    assert 0 < len(ok) < N_CRASH
    rerun = subprocess.run(acc_command(src, out), env=acc_env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N_CRASH - len(ok)} colorized, {len(ok)} skipped" in rerun.stdout
    assert len(final_outputs(out)) == N_CRASH


def test_keyboard_interrupt_in_process_journals_finished_writes(tmp_path: Path, test_spec) -> None:
    """Ctrl-C arriving while the runner infers (SIGINT to the main thread, which Python turns into a
    KeyboardInterrupt wherever it waits): the run ends `interrupted`, every file in place is journaled as
    done, nothing failed, and the next run does the rest."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 12)
    calls = [0]

    class Interrupting(OpenCVBackend):
        def infer(self, inputs):
            calls[0] += 1
            if calls[0] == 3:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            return super().infer(inputs)

    summary, outcomes = colorize(test_spec, [src], out, Interrupting, batch_size=2, workers=2)
    assert summary.interrupted
    assert summary.ok == len(outcomes) < 12 and summary.failed == 0
    assert {p.name for p in final_outputs(out)} == {e["output"] for e in results(out) if e["status"] == "ok"}
    done = summary.ok
    summary, _ = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped, summary.failed) == (12 - done, done, 0)


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(tmp_path: Path, acc_env: dict, capsys) -> None:
    """What a SIGKILL leaves (hidden .NAME.acc-partial files, in any subfolder) is removed when the next run
    locks the folder; nothing else is touched: not a file that merely looks similar, not a symlink."""
    src, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    write_photos(src, 2)
    (out / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    stale = [out / ".p000.jpg.acc-partial", out / "sub" / ".old.png.acc-partial"]
    for p in stale:
        p.write_bytes(b"half a jpeg")
    kept = [out / "notes.acc-partial", out / ".p000.jpg.acc-partial.bak", out / "sub" / "keep.txt"]
    for p in kept:
        p.write_text("user data")
    (elsewhere / "target.txt").write_text("outside")
    link = out / ".link.jpg.acc-partial"
    link.symlink_to(elsewhere / "target.txt")
    rc = main(["colorize", str(src), "-o", str(out), "--model", TEST_MODEL, "--backend", "opencv"])
    assert rc == 0
    assert "acc: removed 2 unfinished temporary file(s) of an interrupted run" in capsys.readouterr().err
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "user data" for p in kept)
    assert link.is_symlink() and (elsewhere / "target.txt").read_text() == "outside"
    assert [p.name for p in final_outputs(out) if p.suffix == ".jpg"] == ["p000.jpg", "p001.jpg"]


# --- output safety ---------------------------------------------------------------------------------------


def test_output_into_the_input_folder_never_touches_inputs(tmp_path: Path, acc_env: dict, capsys) -> None:
    src = tmp_path / "in"
    paths = write_photos(src, 3)
    (src / "scan.png").write_bytes(encode(gradient_photo(30, 30), ".png"))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    # An output folder that is an input folder (or a glob's base) is one usage error, before any work.
    for arg in (str(src), str(src / "*.png")):
        rc = main(["colorize", arg, "-o", str(src), "--format", "png", "--model", TEST_MODEL, "--backend", "opencv"])
        assert rc == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"acc: error: the output folder {src} is an input folder" in err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    # A file named explicitly whose output lands on itself.
    rc = main(["colorize", str(paths[0]), "-o", str(src), "--model", TEST_MODEL, "--backend", "opencv"])
    assert rc == 1
    assert f"output {paths[0]} would overwrite an input" in capsys.readouterr().err
    assert paths[0].read_bytes() == before[paths[0].name]


def test_symlink_out_of_outdir_is_refused(tmp_path: Path, test_spec) -> None:
    src, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    write_photos(src / "box", 2)
    write_photos(src, 1)
    out.mkdir()
    elsewhere.mkdir()
    (out / "box").symlink_to(elsewhere, target_is_directory=True)  # a folder inside OUTDIR pointing out
    (out / "p000.jpg").symlink_to(elsewhere / "p000.jpg")  # a file name inside OUTDIR pointing out
    summary, outcomes = colorize(test_spec, [src], out)
    assert summary.failed == 3 and summary.ok == 0
    for o in outcomes:
        assert "resolves outside the output folder" in o.reason
    assert list(elsewhere.iterdir()) == []


def test_second_run_on_the_same_outdir_is_refused(tmp_path: Path, acc_env: dict, capsys) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 2)
    with OutputDir(out):
        with pytest.raises(FolderBusy):
            OutputDir(out).open()
        rc = main(["colorize", str(src), "-o", str(out), "--model", TEST_MODEL, "--backend", "opencv"])
        assert rc == 2
        assert f"acc: error: another acc run is writing to {out.resolve()}" in capsys.readouterr().err
        assert final_outputs(out) == []
    assert main(["colorize", str(src), "-o", str(out), "--model", TEST_MODEL, "--backend", "opencv"]) == 0  # free again


HOLD_LOCK = """
import sys
from pathlib import Path
from acc.outdir import OutputDir
folder = OutputDir(Path(sys.argv[1])).open()
print("locked", flush=True)
sys.stdin.read()  # hold the folder until the test closes our stdin
folder.close()
"""


def test_lock_held_by_another_process(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 2)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "locked\n"
        second = subprocess.run(acc_command(src, out), env=acc_env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"acc: error: another acc run is writing to {out.resolve()}" in second.stderr
        assert final_outputs(out) == []
    finally:
        holder.communicate(input="", timeout=60)
    done = subprocess.run(acc_command(src, out), env=acc_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- inputs and the output tree --------------------------------------------------------------------------


def test_output_tree_mirrors_input_tree(tmp_path: Path, test_spec, photo_dir: Path) -> None:
    (photo_dir / ".hidden.jpg").write_bytes(encode(gradient_photo(), ".jpg"))
    (photo_dir / "notes.txt").write_text("not a photo")
    (photo_dir / ".cache").mkdir()
    (photo_dir / ".cache" / "x.jpg").write_bytes(encode(gradient_photo(), ".jpg"))
    out = tmp_path / "out"
    summary, _ = colorize(test_spec, [photo_dir], out)
    assert summary.ok == 3 and summary.failed == 0
    assert [p.relative_to(out).as_posix() for p in final_outputs(out)] == ["a.jpg", "b.jpg", "box1/c.jpg"]
    for rel, src in (("a.jpg", "a.jpg"), ("b.jpg", "b.png"), ("box1/c.jpg", "box1/c.jpg")):
        shape = cv2.imread(str(photo_dir / src), cv2.IMREAD_UNCHANGED).shape[:2]
        assert_whole_jpeg(out / rel, shape)


def test_globs(tmp_path: Path, test_spec, photo_dir: Path) -> None:
    out = tmp_path / "out"
    summary, outcomes = colorize(test_spec, [f"{photo_dir}/**/*.jpg"], out)
    assert summary.ok == 2
    assert [p.relative_to(out).as_posix() for p in final_outputs(out)] == ["a.jpg", "box1/c.jpg"]
    summary, _ = colorize(test_spec, [f"{photo_dir}/*.png"], out, fmt=__import__("acc.backends", fromlist=["x"]).OutputFormat("png"))
    assert summary.ok == 1 and (out / "b.png").is_file()
    summary, outcomes = colorize(test_spec, [f"{photo_dir}/*.tif"], out)
    assert outcomes == [Outcome(f"{photo_dir}/*.tif", "failed", "no image files match this pattern")]


def test_missing_input_and_name_clash(tmp_path: Path, test_spec, photo_dir: Path) -> None:
    other = tmp_path / "other"
    write_photos(other, 1)
    (other / "p000.jpg").rename(other / "a.jpg")
    summary, outcomes = colorize(test_spec, [photo_dir / "a.jpg", other / "a.jpg", tmp_path / "nope.jpg"], tmp_path / "out")
    assert [o.status for o in outcomes] == ["ok", "failed", "failed"]
    assert outcomes[1].reason == f"output a.jpg is already taken by input {photo_dir / 'a.jpg'}"
    assert outcomes[2].reason == "no such file or directory"


def test_outdir_inside_the_input_folder_is_not_read_back(tmp_path: Path, test_spec, photo_dir: Path) -> None:
    out = photo_dir / "colorized"
    for expected in ((3, 0), (0, 3)):
        summary, outcomes = colorize(test_spec, [photo_dir], out)
        assert (summary.ok, summary.skipped) == expected
        assert len(outcomes) == 3
        assert not any("colorized" in o.display for o in outcomes)
    summary, outcomes = colorize(test_spec, [f"{photo_dir}/**/*.jpg"], out)
    assert len(outcomes) == 2 and summary.skipped == 2
