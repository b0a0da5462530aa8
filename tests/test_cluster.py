"""The parts of a Ray run that need no cluster (acc/cluster.py): what each worker asks Ray for, how the
to-do list is cut into tasks, what a run without Ray says; and the progress a run reports. These run
whether or not Ray is installed; tests/test_ray.py runs the real thing."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path, PurePosixPath

import pytest

import acc
from acc.cli import EXIT_USAGE, main
from acc.cluster import INSTALL_HINT, STRIDE, ClusterError, TodoList, read_jobs, task_size, worker_resources
from acc.config import Settings
from acc.inputs import InputFile
from acc.pipeline import Job, Outcome
from acc.progress import Progress
from conftest import TEST_MODEL, write_photos


def test_cuda_workers_ask_for_a_gpu_each_and_the_others_for_their_threads() -> None:
    cuda = Settings(backend="cuda", workers=6)
    assert worker_resources(cuda, {"CPU": 64.0, "GPU": 8.0}) == ({"num_cpus": 1, "num_gpus": 1}, 8)
    with pytest.raises(ClusterError, match="needs GPUs"):
        worker_resources(cuda, {"CPU": 64.0})
    assert worker_resources(Settings(backend="cpu", workers=4), {"CPU": 64.0}) == ({"num_cpus": 4.0}, 16)
    assert worker_resources(Settings(backend="opencv", workers=2), {"CPU": 2.0}) == ({"num_cpus": 2.0}, 1)
    # A cluster smaller than one worker's threads: one worker, asking for what there is.
    assert worker_resources(Settings(backend="cpu", workers=8), {"CPU": 2.0}) == ({"num_cpus": 2.0}, 1)


def test_tasks_spread_short_runs_and_stay_bounded_on_long_ones() -> None:
    assert task_size(40, 1, 4) == 8  # 8 tasks for one worker: no worker idles long at the end
    assert task_size(600, 1, 4) == 80
    assert task_size(10_000_000, 100, 4) == 256  # bounded: a retried task redoes little
    assert task_size(10_000_000, 100, 64) == 1024  # at least 16 batches of a large batch size
    assert task_size(3, 4, 4) == STRIDE
    assert all(task_size(n, w, 4) % STRIDE == 0 for n in (1, 9, 1000, 12345) for w in (1, 3, 50))


def job(path: Path, i: int) -> Job:
    source = InputFile(path / f"p{i}.jpg", PurePosixPath(f"box/p{i}"), f"in/p{i}.jpg")
    return Job(source, PurePosixPath(f"box/p{i}.jpg"), path / f"box/p{i}.jpg", f"fp{i}")


@pytest.mark.parametrize("count,per_task", [(1, 8), (8, 8), (45, 16), (100, 24)])
def test_the_todo_list_is_cut_into_ranges_holding_every_job_once(tmp_path: Path, count: int, per_task: int) -> None:
    todo = TodoList(tmp_path / ".todo")
    for i in range(count):
        todo.add(job(tmp_path, i))
    todo.close()
    ranges = todo.ranges(per_task)
    assert len(ranges) == -(-count // per_task)
    entries = [e for r in ranges for e in read_jobs(r["todo"], r["start"], r["end"])]
    assert [e["seq"] for e in entries] == list(range(count))
    assert all(len(read_jobs(r["todo"], r["start"], r["end"])) <= per_task for r in ranges)
    assert entries[-1] == {"seq": count - 1, "path": str(tmp_path / f"p{count - 1}.jpg"), "rel": f"box/p{count - 1}",
                           "display": f"in/p{count - 1}.jpg", "fp": f"fp{count - 1}"}  # fmt: skip
    lost = {0, count // 2, count - 1}
    located = todo.locate(lost)
    assert {e["seq"] for e, _ in located} == lost
    for entry, one in located:
        assert read_jobs(one["todo"], one["start"], one["end"]) == [entry]


def test_without_ray_the_run_says_what_to_install(tmp_path: Path, model_dir: Path, acc_env: dict, capsys,
                                                  monkeypatch) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed: importing it fails
    src = tmp_path / "in"
    write_photos(src, 2)
    with pytest.raises(ClusterError, match="pip install 'acc-colorize\\[ray\\]'"):
        acc.colorize_files([src], tmp_path / "out", ray="local", model=TEST_MODEL, model_dir=model_dir)
    argv = ["colorize", str(src), "-o", str(tmp_path / "out"), "--model", TEST_MODEL, "--ray", "local"]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == f"acc: error: running on Ray needs Ray Data, which is not installed (ray): {INSTALL_HINT}"
    assert not (tmp_path / "out").exists()  # nothing made before the run could start


def test_progress_counts_what_it_is_told(monkeypatch) -> None:
    stream = io.StringIO()
    progress = Progress(total=5, stream=stream, interval=0.0)
    for status in ("ok", "ok", "failed", "skipped"):
        progress(Outcome(f"{status}.jpg", status, "why" if status != "ok" else None))
    last = stream.getvalue().strip().splitlines()[-1]
    assert last.startswith("acc: progress done=4 total=5 ok=2 failed=1 skipped=1 rate=")
    assert "acc: failed: failed.jpg: why" in stream.getvalue()


def test_the_todo_list_holds_paths_only(tmp_path: Path) -> None:
    """What crosses Ray's object store per task is a range; per job, a line of a few strings."""
    todo = TodoList(tmp_path / ".todo")
    todo.add(job(tmp_path, 0))
    todo.close()
    line = (tmp_path / ".todo").read_bytes()
    assert len(line) < 300 and set(json.loads(line)) == {"seq", "path", "rel", "display", "fp"}
    assert set(todo.ranges(STRIDE)[0]) == {"todo", "start", "end"}
