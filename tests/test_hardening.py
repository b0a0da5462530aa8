"""What real archives throw at `acc colorize`, each case built here: special files, signals, long names,
siblings sharing a stem, decoder messages, memory budget, a failing output folder, unsupported types."""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from acc.backends.opencv import OpenCVBackend
from acc.budget import MemoryBudget, parse_size
from acc.cli import main
from acc.inputs import InputSet, output_names
from acc.libmessages import LibraryMessages, describe
from acc.outdir import JOURNAL_NAME, OutputDir, partial_name
from acc.pipeline import RunOptions, Runner
from conftest import TEST_MODEL, encode, gradient_photo, write_photos
from test_pipeline import colorize, final_outputs, journal

# --- 1. special files, and stopping --------------------------------------------------------------------


def cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """`acc` in a child process: a run that hangs fails the test instead of stalling the suite."""
    cmd = [sys.executable, "-m", "acc.cli", *args, "--model", TEST_MODEL, "--backend", "opencv"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_special_files_are_reported_without_being_opened(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 2)
    os.mkfifo(src / "scan.jpg")  # opening it for reading would block until a writer comes: forever
    (src / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (src / "null.png").symlink_to(os.devnull)  # a character device
    (tmp_path / "glob").mkdir()
    (tmp_path / "glob" / "folder.jpg").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock.jpg"))
        done = cli("colorize", str(src), str(tmp_path / "glob" / "*.jpg"), "-o", str(out), env=acc_env)
    assert done.returncode == 1, done.stderr
    err = done.stderr.splitlines()
    for line in (f"acc: failed: {src / 'scan.jpg'}: not a regular file (a named pipe)",
                 f"acc: failed: {src / 'broken.jpg'}: broken symbolic link",
                 f"acc: failed: {src / 'null.png'}: not a regular file (a device)",
                 f"acc: failed: {src / 'sock.jpg'}: not a regular file (a socket)",
                 f"acc: failed: {tmp_path / 'glob' / 'folder.jpg'}: not a regular file (a folder)"):  # fmt: skip
        assert line in err
    assert done.stdout.startswith("2 colorized, 0 skipped (done before), 5 failed")
    # Named explicitly, a pipe and a broken link get the same reasons.
    done = cli("colorize", str(src / "scan.jpg"), str(src / "broken.jpg"), "-o", str(out), env=acc_env)
    assert done.returncode == 1 and "not a regular file (a named pipe)" in done.stderr
    assert "broken symbolic link" in done.stderr


STUCK_DRIVER = """
import sys, threading
from pathlib import Path
import acc.pipeline
from acc.backends import BACKENDS
from acc.backends.opencv import OpenCVBackend

class Stuck(OpenCVBackend):
    calls = 0
    def render(self, frame, prediction, fmt):
        Stuck.calls += 1
        if Stuck.calls == 3:  # a write that never ends: a dead network share, say
            Path(sys.argv[1]).write_text("stuck")
            threading.Event().wait()
        return super().render(frame, prediction, fmt)

sys.modules["stuck_backend"] = sys.modules[__name__]
BACKENDS["stuck"] = "stuck_backend:Stuck"
acc.pipeline.DRAIN_SECONDS = float(sys.argv[2])
from acc.cli import main
sys.exit(main(sys.argv[3:]))
"""


def start_stuck(tmp_path: Path, env: dict, drain_seconds: float) -> tuple[subprocess.Popen, Path]:
    src, out, marker = tmp_path / "in", tmp_path / "out", tmp_path / "stuck"
    write_photos(src, 8)
    cmd = [sys.executable, "-c", STUCK_DRIVER, str(marker), str(drain_seconds), "colorize", str(src), "-o", str(out),
           "--model", TEST_MODEL, "--backend", "stuck", "--workers", "2", "--batch-size", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    return proc, out


def assert_journal_whole_and_no_partial_output(out: Path) -> None:
    for line in (out / JOURNAL_NAME).read_text().splitlines(keepends=True):
        assert line.endswith("\n")
        json.loads(line)
    for path in final_outputs(out):
        assert path.read_bytes().endswith(b"\xff\xd9"), path


def test_a_second_signal_ends_a_stuck_run_at_once(tmp_path: Path, acc_env: dict) -> None:
    proc, out = start_stuck(tmp_path, acc_env, drain_seconds=600)
    try:
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None  # the first one waits for the write in progress (up to its bound)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)  # far less than the 600 s the first one would wait
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    # which photos are in flight depends on how the two workers interleave; the line names them all
    waiting = re.search(r"acc: stopping: finishing \d photo\(s\) being written: (.*) \(at most", stderr)
    assert waiting, stderr
    named = {Path(path).name for path in re.sub(r" and \d+ more$", "", waiting.group(1)).split(", ")}
    assert named and named <= {f"p{i:03d}.jpg" for i in range(8)}, named
    assert "interrupted again; stopped at once" in stderr
    assert_journal_whole_and_no_partial_output(out)


def test_the_first_signal_waits_a_bounded_time_and_says_for_what(tmp_path: Path, acc_env: dict) -> None:
    proc, out = start_stuck(tmp_path, acc_env, drain_seconds=1)
    try:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopping without waiting longer for: " in stderr and "(they are redone next run)" in stderr
    assert "interrupted, run again to resume" in stdout
    assert_journal_whole_and_no_partial_output(out)


# --- 2. long names --------------------------------------------------------------------------------------


def test_names_up_to_the_file_systems_limit_work(tmp_path: Path, test_spec) -> None:
    src = tmp_path / "in"
    src.mkdir()
    name = "n" * 251 + ".tif"  # 255 bytes: NAME_MAX on Linux
    (src / name).write_bytes(encode(gradient_photo(), ".tif"))
    # Siblings of one stem keep their suffixes: 256 bytes, one too many. Each is refused with the reason.
    clashing = ["c" * 248 + ".png", "c" * 248 + ".bmp"]
    for name in clashing:
        (src / name).write_bytes(encode(gradient_photo(), name[-4:]))
    summary, outcomes = colorize(test_spec, [src], tmp_path / "out")
    assert (tmp_path / "out" / ("n" * 251 + ".jpg")).is_file()
    assert len(partial_name("n" * 251 + ".jpg")) < 32
    reasons = {Path(o.display).name: o.reason for o in outcomes if o.status == "failed"}
    assert reasons == {n: f"output name {n}.jpg is 256 bytes long; the file system allows 255" for n in clashing}
    assert summary.ok == 1


# --- 3. siblings that share a stem ---------------------------------------------------------------------


def test_output_names_keep_the_source_suffix_only_where_stems_clash() -> None:
    names = ["good.png", "good.tif", "good.webp", "good.bmp", "solo.jpg", "Case.png", "case.tif", "x.jpg", "x.png",
             "x.jpg.png"]  # fmt: skip
    expected = {"good.png": "good.png", "good.tif": "good.tif", "good.webp": "good.webp", "good.bmp": "good.bmp",
                "solo.jpg": "solo", "Case.png": "Case.png", "case.tif": "case.tif", "x.jpg": "x.jpg", "x.png": "x.png",
                # its stem, 'x.jpg', is x.jpg's whole name: it keeps its own whole name too
                "x.jpg.png": "x.jpg.png"}  # fmt: skip
    for order in itertools.islice(itertools.permutations(names), 0, 5000, 499):
        assert output_names(order) == expected
    chosen = list(expected.values())
    assert len({c.casefold() for c in chosen}) == len(chosen)


def test_siblings_sharing_a_stem_all_succeed_and_resume_and_overwrite_hold(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = gradient_photo()
    for ext in (".png", ".tif", ".webp", ".bmp"):
        (src / f"good{ext}").write_bytes(encode(img, ext))
    (src / "alone.jpg").write_bytes(encode(img, ".jpg"))
    summary, _ = colorize(test_spec, [src], out)
    assert summary.ok == 5 and summary.failed == 0
    assert [p.name for p in final_outputs(out)] == ["alone.jpg", "good.bmp.jpg", "good.png.jpg", "good.tif.jpg",
                                                    "good.webp.jpg"]  # fmt: skip
    summary, _ = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped) == (0, 5)
    summary, _ = colorize(test_spec, [src], out, overwrite=True)
    assert (summary.ok, summary.skipped, summary.failed) == (5, 0, 0)


# --- 4. decoder messages --------------------------------------------------------------------------------


def corrupt_jpeg(seed: int) -> bytes:
    """A JPEG with 335 junk bytes before its end-of-image marker: libjpeg warns, and decodes it."""
    data = encode(gradient_photo(seed=seed), ".jpg")
    return data[:-2] + b"\x00" * 335 + b"\xff\xd9"


def bad_crc_png() -> bytes:
    data = bytearray(encode(gradient_photo(), ".png"))
    data[29] ^= 0xFF  # inside IHDR: its CRC no longer matches
    return bytes(data)


def test_decoder_messages_are_told_per_file_in_accs_words(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 6)
    for i in range(4):
        (src / f"q{i}.jpg").write_bytes(corrupt_jpeg(i))
    (src / "crc.png").write_bytes(bad_crc_png())
    done = cli("colorize", str(src), "-o", str(out), "--workers", "2", env=acc_env)
    assert done.returncode == 1, done.stderr
    warnings = sorted(line for line in done.stderr.splitlines() if line.startswith("acc: warning:"))
    assert len(warnings) == 4
    for i, line in enumerate(warnings):
        assert line.startswith(f"acc: warning: {src / f'q{i}.jpg'}: corrupt JPEG data (")
        assert "extraneous bytes before marker 0xd9)" in line
    assert f"acc: failed: {src / 'crc.png'}: corrupt or truncated PNG data (PNG: IHDR: CRC error)" in done.stderr
    # Nothing raw: every line on the terminal is acc's own.
    assert all(line.startswith("acc: ") for line in done.stderr.splitlines()), done.stderr
    assert done.stdout.startswith("10 colorized (4 with warnings), 0 skipped (done before), 1 failed")
    entries = {Path(e["input"]).name: e for e in journal(out) if e["status"] != "writing"}
    assert entries["q0.jpg"]["status"] == "ok" and "corrupt JPEG data" in entries["q0.jpg"]["warnings"][0]
    assert "warnings" not in entries["p000.jpg"]
    # --strict: a warned photo fails.
    done = cli("colorize", str(src / "q1.jpg"), "-o", str(tmp_path / "strict"), "--strict", env=acc_env)
    assert done.returncode == 1
    assert "acc: failed: " in done.stderr and "(--strict)" in done.stderr


def test_library_messages_are_attributed_to_the_one_watch_open() -> None:
    def library_says(text: str) -> None:
        os.write(2, text.encode())  # what a C library does: straight to file descriptor 2

    strays: list[str] = []
    with LibraryMessages(stray=strays.append) as messages:
        with messages.watch() as first:
            library_says("Corrupt JPEG data: 12 extraneous bytes before marker 0xd9\n")
        with messages.watch() as quiet:
            pass
        library_says("libpng warning: iCCP: known incorrect sRGB profile\n")
        time.sleep(0.5)  # the reader thread takes it: nobody was watching
        # Two watches open at once: text cannot be told apart, both are marked.
        a_open, b_done = threading.Event(), threading.Event()
        results = {}

        def a() -> None:
            with messages.watch() as w:
                a_open.set()
                b_done.wait(5)
            results["a"] = w

        t = threading.Thread(target=a)
        t.start()
        a_open.wait(5)
        with messages.watch() as b:
            library_says("Premature end of JPEG file\n")
        b_done.set()
        t.join()
        with messages.exclusive() as alone:
            library_says("Premature end of JPEG file\n")
    assert first.messages == ["corrupt JPEG data (12 extraneous bytes before marker 0xd9)"] and not first.ambiguous
    assert quiet.messages == [] and not quiet.ambiguous
    assert strays == ["PNG: iCCP: known incorrect sRGB profile"]
    assert b.ambiguous and results["a"].ambiguous
    assert alone.messages == ["truncated JPEG data (premature end of file)"] and not alone.ambiguous


def test_describe_keeps_unknown_lines_whole() -> None:
    assert describe("  something else entirely \n") == "something else entirely"
    assert describe("TIFFReadDirectory: Warning, Unknown field with tag 700") == "TIFF: Unknown field with tag 700"


# --- 5. memory ------------------------------------------------------------------------------------------


def test_budget_admits_in_order_and_a_photo_larger_than_the_budget_alone() -> None:
    budget = MemoryBudget(100)
    budget.acquire(0, 60)
    assert not budget.try_acquire(1, 50)  # does not fit
    admitted = []
    t = threading.Thread(target=lambda: (budget.acquire(1, 500), admitted.append(1)))  # larger than everything
    t.start()
    time.sleep(0.1)
    assert admitted == [] and budget.blocked()
    assert not budget.try_acquire(2, 1)  # not its turn: number 1 waits first
    budget.release(60)
    t.join(5)
    assert admitted == [1] and budget.held == 500 and budget.peak == 500
    budget.skip(3)  # a photo that failed before its turn
    assert not budget.try_acquire(2, 1)
    budget.release(500)
    assert budget.try_acquire(2, 1) and budget.try_acquire(4, 99)


def test_parse_size() -> None:
    assert parse_size("6G") == 6 << 30 and parse_size("512M") == 512 << 20 and parse_size(1000) == 1000
    for bad in ("", "6X", "-1G", "0", True):
        with pytest.raises(ValueError):
            parse_size(bad)


class CountingBackend(OpenCVBackend):
    """The baseline, counting the bytes its frames hold (charged as host_bytes says) while they live."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.live = self.peak = 0
        self.live_frames = self.peak_frames = 0

    def host_bytes(self, info) -> int:
        return info.pixels * 100

    def decode(self, data, info):
        frame = super().decode(data, info)
        with self._lock:
            self.live += info.pixels * 100
            self.live_frames += 1
            self.peak, self.peak_frames = max(self.peak, self.live), max(self.peak_frames, self.live_frames)
        time.sleep(0.01)
        frame.charge = info.pixels * 100
        return frame

    def release(self, frame) -> None:
        with self._lock:
            self.live -= frame.charge
            self.live_frames -= 1


def test_photos_in_flight_stay_within_the_memory_budget(tmp_path: Path, test_spec, monkeypatch) -> None:
    monkeypatch.setattr("acc.pipeline.resident_bytes", lambda: 0)  # the budget is the whole limit here
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 12, (60, 80))  # 4,800 px: 480,000 bytes charged each
    write_photos(src / "big", 2, (200, 250))  # 50,000 px: 5 MB each, more than the whole budget
    limit = 1_500_000
    with CountingBackend(test_spec, threads=1) as backend, OutputDir(out) as outdir:
        runner = Runner(backend, outdir, RunOptions(batch_size=4, workers=3, memory_limit=limit))
        summary = runner.run(InputSet([str(src)], out))
    assert summary.ok == 14
    assert backend.live == 0 and runner.budget.held == 0
    assert backend.peak_frames >= 2  # small photos do run side by side
    # Never more than the budget, except a photo larger than it, which runs alone.
    assert backend.peak <= max(limit, 5_000_000)
    assert runner.budget.peak <= 5_000_000 + max(len(p.read_bytes()) for p in (src / "big").iterdir())


# --- 6. the output folder fails -----------------------------------------------------------------------


def test_disk_full_stops_the_run_once_and_the_next_run_resumes(tmp_path: Path, test_spec, monkeypatch) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 12)
    real_write, calls, lock = OutputDir._write, [0], threading.Lock()

    def write(self, path, data, overwrite):
        with lock:
            calls[0] += 1
            full = calls[0] > 3
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(self, path, data, overwrite)

    monkeypatch.setattr(OutputDir, "_write", write)
    summary, outcomes = colorize(test_spec, [src], out, workers=2, batch_size=2)
    assert summary.stopped == f"cannot write to {out.resolve()}: No space left on device"
    assert summary.ok == 3 and summary.failed == 0
    assert len(outcomes) < 12  # no new work once the folder is full
    assert not [e for e in journal(out) if e["status"] == "failed"]
    monkeypatch.setattr(OutputDir, "_write", real_write)
    summary, _ = colorize(test_spec, [src], out)
    assert (summary.ok, summary.skipped, summary.failed) == (9, 3, 0)


def test_disk_full_is_one_message_and_exit_status_3(tmp_path: Path, acc_env: dict, capsys, monkeypatch) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 6)

    def full(self, path, data, overwrite):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(OutputDir, "_write", full)
    assert main(["colorize", str(src), "-o", str(out), "--model", TEST_MODEL, "--backend", "opencv"]) == 3
    captured = capsys.readouterr()
    assert "acc: failed" not in captured.err
    assert f"stopped early: cannot write to {out.resolve()}: No space left on device" in captured.out


def test_a_vanished_output_folder_stops_the_run(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 10)
    outcomes = []

    def remove_after_first(outcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            out.rename(tmp_path / "moved away")  # as good as removed, for a run writing to `out`

    with OpenCVBackend(test_spec, threads=1) as backend, OutputDir(out) as outdir:
        runner = Runner(backend, outdir, RunOptions(workers=1, batch_size=1), remove_after_first)
        summary = runner.run(InputSet([str(src)], out))
    assert summary.stopped and "is gone" in summary.stopped
    assert not out.exists()  # not quietly made again away from its journal
    assert summary.failed == 0, [o for o in outcomes if o.status == "failed"]


# --- 7, 8. unsupported types; output folder = input folder (test_pipeline) -----------------------------


def test_unsupported_types_are_counted_and_named_ones_fail(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 1)
    (src / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (src / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(8))
    (src / "more.gif").write_bytes(b"GIF89a" + bytes(20))
    (src / "README").write_text("scans from box 3")
    done = cli("colorize", str(src), "-o", str(out), env=acc_env)
    assert done.returncode == 0, done.stderr
    assert "ignored: 4 files of unsupported types (.gif x2, (no suffix) x1, .heic x1)" in done.stdout
    done = cli("colorize", str(src / "anim.gif"), "-o", str(out), env=acc_env)
    assert done.returncode == 1
    assert f"acc: failed: {src / 'anim.gif'}: unsupported format: GIF" in done.stderr


# --- batched backends: the runner hands whole chunks to decode_batch / render_batch -----------------------


class BatchedBackend(CountingBackend):
    """The baseline as a device backend would be driven: whole chunks per call, recorded."""

    batched = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decode_calls: list[int] = []
        self.render_calls: list[int] = []

    def decode_batch(self, items):
        with self._lock:
            self.decode_calls.append(len(items))
        return super().decode_batch(items)

    def render_batch(self, frames, predictions, fmt):
        with self._lock:
            self.render_calls.append(len(frames))
        return super().render_batch(frames, predictions, fmt)


@pytest.mark.parametrize("limit", [None, 1_500_000], ids=["roomy", "tight"])
def test_a_batched_backend_gets_chunks_and_results_keep_input_order(tmp_path: Path, test_spec, monkeypatch,
                                                                    limit: int | None) -> None:  # fmt: skip
    monkeypatch.setattr("acc.pipeline.resident_bytes", lambda: 0)
    src, out = tmp_path / "in", tmp_path / "out"
    paths = write_photos(src, 14, (60, 80))
    for i in (2, 7, 8):  # failures between good photos, in the middle of chunks
        paths[i].write_bytes(b"not a photo")
    outcomes = []
    with BatchedBackend(test_spec, threads=1) as backend, OutputDir(out) as outdir:
        runner = Runner(backend, outdir, RunOptions(batch_size=4, workers=2, memory_limit=limit), outcomes.append)
        summary = runner.run(InputSet([str(src)], out))
    assert [Path(o.display).name for o in outcomes] == [p.name for p in paths]
    assert [o.status for o in outcomes] == ["failed" if i in (2, 7, 8) else "ok" for i in range(14)]
    assert summary.ok == 11 and backend.live == 0 and runner.budget.held == 0
    assert max(backend.decode_calls) > 1 and max(backend.render_calls) > 1
    if limit:  # 480,000 bytes charged a photo: a chunk never holds more than three
        assert max(backend.decode_calls) <= 3 and backend.peak <= limit


class BrokenStageBackend(OpenCVBackend):
    """A backend whose model_input fails for a whole chunk (a device error, not one photo's fault)."""

    def model_input_batch(self, frames):
        raise RuntimeError("device lost")


def test_a_stage_failing_as_a_whole_fails_its_photos_not_the_run(tmp_path: Path, test_spec) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_photos(src, 5)
    outcomes = []
    with BrokenStageBackend(test_spec, threads=1) as backend, OutputDir(out) as outdir:
        runner = Runner(backend, outdir, RunOptions(batch_size=2, workers=2), outcomes.append)
        summary = runner.run(InputSet([str(src)], out))
    assert summary.failed == 5 and runner.budget.held == 0
    assert {o.reason for o in outcomes} == {"internal error: RuntimeError: device lost"}


def test_file_names_with_newlines_and_bytes_that_are_not_utf8(tmp_path: Path, acc_env: dict) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    good = os.fsdecode(b"caf\xe9 scan.jpg")  # Latin-1 bytes: not UTF-8
    (src / good).write_bytes(encode(gradient_photo(), ".jpg"))
    (src / "two\nlines.jpg").write_bytes(b"not a photo")
    done = cli("colorize", str(src), "-o", str(out), env=acc_env)
    assert done.returncode == 1, done.stderr
    assert f"acc: failed: {src}/two\\nlines.jpg: not an image (unrecognised file format)" in done.stderr.splitlines()
    assert os.fsencode(out / good) in {os.fsencode(p) for p in out.iterdir()}
    again = cli("colorize", str(src), "-o", str(out), env=acc_env)
    assert again.stdout.startswith("0 colorized, 1 skipped (done before), 1 failed")


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path: Path, test_spec, monkeypatch) -> None:
    src = tmp_path / "in"
    write_photos(src / "open", 2)
    (src / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path=None):  # as for a folder without read permission (tests may run as root)
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary, outcomes = colorize(test_spec, [src], tmp_path / "out")
    assert summary.ok == 2
    assert [(o.display, o.reason) for o in outcomes if o.status == "failed"] == [
        (os.path.join(str(src), "locked"), "cannot read this folder: Permission denied")]
