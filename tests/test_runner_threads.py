"""How the batch runner uses the cores (acc/pipeline.py): compute slots, inference side by side, writes
outside the slots, and the default thread split. Each test waits for a state to be reached (with a
generous timeout that only a broken runner hits), never for time to pass, so load does not change it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import acc.outdir
from acc.backends.opencv import OpenCVBackend
from acc.config import Settings
from acc.inference import OrtColorizer
from acc.inputs import InputSet
from acc.machine import usable_cores
from acc.outdir import OutputDir
from acc.pipeline import RunOptions, Runner
from conftest import write_photos

WAIT = 60.0  # seconds: far beyond what any of these states takes to reach, even on a loaded machine


def run(backend, src: Path, out: Path, **options) -> list:
    outcomes: list = []
    with OutputDir(out) as outdir:
        summary = Runner(backend, outdir, RunOptions(**options), outcomes.append).run(InputSet([str(src)], out))
    assert summary.ok == len(outcomes), [o.reason for o in outcomes if o.status != "ok"]
    return outcomes


class Counting(OpenCVBackend):
    """The baseline, counting how many of its stages run at once (and inferences alone)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.busy = self.most_busy = self.inferring = self.most_inferring = 0

    def _stage(self, fn, *args, infer: bool = False):
        with self._lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
            self.inferring += infer
            self.most_inferring = max(self.most_inferring, self.inferring)
        try:
            time.sleep(0.002)  # widens the windows in which stages overlap; the bounds hold whatever it is
            return fn(*args)
        finally:
            with self._lock:
                self.busy -= 1
                self.inferring -= infer

    def decode(self, data, info):
        return self._stage(super().decode, data, info)

    def model_input(self, frame):
        return self._stage(super().model_input, frame)

    def infer(self, inputs):
        return self._stage(super().infer, inputs, infer=True)

    def render(self, frame, prediction, fmt):
        return self._stage(super().render, frame, prediction, fmt)


def test_host_backends_infer_batches_side_by_side(tmp_path: Path, test_spec) -> None:
    """The first two inferences wait for each other: the run completes only if they run at once."""
    meet = threading.Barrier(2, timeout=WAIT)

    class Meeting(OpenCVBackend):
        calls = 0

        def infer(self, inputs):
            Meeting.calls += 1
            if Meeting.calls <= 2:
                meet.wait()  # BrokenBarrierError (the photos fail) if the other never comes
            return super().infer(inputs)

    write_photos(tmp_path / "in", 8)
    with Meeting(test_spec, threads=1) as backend:
        outcomes = run(backend, tmp_path / "in", tmp_path / "out", batch_size=2, workers=2)
    assert len(outcomes) == 8


@pytest.mark.parametrize("threadsafe", [True, False])
def test_at_most_workers_stages_compute_at_once(tmp_path: Path, test_spec, threadsafe: bool) -> None:
    """Decode, model_input, inference and render each take one of `workers` slots; a backend whose infer
    is not thread-safe (a device backend) infers one batch at a time."""

    class Slotted(Counting):
        infer_threadsafe = threadsafe

    write_photos(tmp_path / "in", 24)
    with Slotted(test_spec, threads=1) as backend:
        run(backend, tmp_path / "in", tmp_path / "out", batch_size=2, workers=3)
    assert backend.most_busy <= 3
    if not threadsafe:
        assert backend.most_inferring == 1


def test_writes_wait_on_storage_outside_the_compute_slots(tmp_path: Path, test_spec, monkeypatch) -> None:
    """With one slot, the first photo's write waits until another photo is rendered: had the write kept
    the slot, no render could start, and the write would give up."""
    rendered_another = threading.Event()
    real_write = acc.outdir.OutputFolder.write
    first = []

    class Renders(OpenCVBackend):
        def render(self, frame, prediction, fmt):
            if first:  # a photo after the one whose write waits
                rendered_another.set()
            return super().render(frame, prediction, fmt)

    def slow_storage(self, path, data, overwrite):
        if not first:
            first.append(path)
            if not rendered_another.wait(WAIT):
                raise OSError("the write gave up: no other photo was rendered meanwhile")
        return real_write(self, path, data, overwrite)

    monkeypatch.setattr(acc.outdir.OutputFolder, "write", slow_storage)
    write_photos(tmp_path / "in", 4)
    with Renders(test_spec, threads=1) as backend:
        outcomes = run(backend, tmp_path / "in", tmp_path / "out", batch_size=1, workers=1)
    assert len(outcomes) == 4 and rendered_another.is_set()


def test_the_thread_split_comes_from_the_machine(test_spec) -> None:
    """One compute slot per core by default, and one ONNX Runtime thread per inference (the runner runs
    one inference per slot instead of one inference over every core)."""
    assert Settings().workers == min(64, usable_cores())
    assert Settings().threads == 0
    options = OrtColorizer(test_spec, 0)._session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert OrtColorizer(test_spec, 3)._session.get_session_options().intra_op_num_threads == 3
