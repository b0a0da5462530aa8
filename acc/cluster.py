"""`acc colorize INPUT... -o OUT --ray ADDRESS`: one run across a Ray cluster, with a local run's guarantees.

    driver (this process: holds OUT's lock and journal)      workers (Ray actors: one backend + model each)
    plan(): refusals and skips reported at once;
    each job journaled "writing" and appended to
    OUT/.acc-todo.acc-partial (one JSON line) ----------->   a task = a byte range of that file: its
    Ray Data: from_items(ranges)                             jobs go through Runner.execute (the four
      .map_batches(RayWorker, actor pool, batch_size=1)      stages, batched inference, memory budget,
    <- iter_batches: one small result row per photo,         atomic writes into OUT) and come back as
       journaled ok/failed, reported, counted                one result row each: never a failed task

Only paths cross Ray's object store: a task is (to-do file, start, end), a result row is a few strings.
The driver's memory stays flat however many photos: the to-do list is on disk, and the driver keeps one
bit per job (reported or not). Inputs, OUT and the model folder must be on storage every node mounts at
the same path (README, "Beyond one machine: Ray").

Faults. Ray restarts a worker whose process dies (max_restarts) and runs its task again on the new one
(TASK_RETRIES times); outputs the earlier attempt renamed into place are replaced by the same bytes.
A task that still fails (a photo that crashes its decoder kills the worker every time) is skipped by
Ray Data (max_errored_blocks), and acc redoes its photos one per task; a photo that kills its worker
on every attempt of that pass fails with a reason saying so. A killed driver leaves the journal: the
next run skips every photo journaled done and redoes the rest (an output renamed into place whose row
never reached the driver is known by its "writing" line, and redone in place).

Results arrive in the order tasks finish: within a task in input order, tasks in any order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import time
import warnings
from array import array
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import numpy as np

from acc.backends import BACKENDS, backend_class
from acc.backends.base import OutputFormat
from acc.budget import default_limit
from acc.config import Settings
from acc.errors import AccError
from acc.inputs import InputFile, InputSet
from acc.libmessages import LibraryMessages, installed
from acc.models import ModelError, default_model_dir, read_verified, resolve
from acc.outdir import PARTIAL_SUFFIX, OutputDir, OutputFolder, UnsafeOutput
from acc.pipeline import Job, Outcome, RunOptions, Runner, Summary, describe, journal_result, output_rel, plan

RAY_PIN = "ray[data]==2.60.0"  # what `pip install 'acc-colorize[ray]'` installs (pyproject.toml)
INSTALL_HINT = f"pip install 'acc-colorize[ray]' (or: pip install '{RAY_PIN}')"
TODO_NAME = f".acc-todo{PARTIAL_SUFFIX}"  # a temporary file of the run: removed at its end, or by the next run
STRIDE = 8  # the to-do file's offsets are kept every STRIDE jobs: tasks hold whole multiples of it
TASKS_PER_WORKER = 8  # tasks per worker on a short run, so that workers finish together
MIN_TASK_PHOTOS = 256  # a task's photos at most: MIN_TASK_PHOTOS, or 16 batches when batches are larger
TASK_RETRIES = 2  # Ray runs a task again this many times when its worker dies
LOCAL_OBJECT_STORE = 256 * 1024**2  # `--ray local`: paths only, a small object store is plenty


class ClusterError(AccError):
    """A Ray run that cannot start: Ray missing, no cluster at the address, no resources for a worker."""


def require_ray() -> ModuleType:
    """The ray module, imported now (never at `import acc`), or a ClusterError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401 -- the Data library comes with the ray[data] extra only
    except ImportError as exc:
        raise ClusterError(f"running on Ray needs Ray Data, which is not installed ({exc.name}): "
                           f"{INSTALL_HINT}") from None  # fmt: skip
    return ray


@contextlib.contextmanager
def connect(address: str) -> Iterator[ModuleType]:
    """Connect to the cluster at `address` ("local": start a throwaway one on this machine) for the block.
    A process that is connected already (ray.init was called) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    # Ray's own messages stay in its logs (/tmp/ray/session_latest/logs): acc reports in its own words.
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address == "local":
        options.update(address="local", include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
    else:
        options.update(address=address)
    with _ray_lines_to_logs():
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
        try:
            yield ray
        finally:
            ray.shutdown()


# A line of Ray's C++ log: "[2026-12-02 10:00:00,123 E 4242 4242] core_worker.cc:2465: ..."
_RAY_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] ")


@contextlib.contextmanager
def _ray_lines_to_logs() -> Iterator[None]:
    """While the driver talks to Ray, what Ray's core prints to stderr is not shown as a library's message:
    Ray keeps the same lines in its session logs, and acc says what matters in its own words."""
    messages = installed()
    if messages is None:
        yield
        return
    stray = messages.stray
    messages.stray = lambda text: None if _RAY_LOG_LINE.match(text) else stray(text)
    try:
        yield
    finally:
        messages.stray = stray


# --- what each worker asks Ray for ---------------------------------------------------------------------------


def worker_resources(settings: Settings, cluster: dict[str, float]) -> tuple[dict[str, float], int]:
    """(the resources each worker asks Ray for, how many workers the cluster holds at most).

    cuda: one GPU each (and one CPU for its host threads); cpu, opencv and the others: one CPU per
    decode/render thread (`workers`), as many workers as the cluster's CPUs allow. Ray Data needs no
    CPU of its own here (the to-do ranges come from the driver, not from read tasks)."""
    if settings.backend == "cuda":
        gpus = int(cluster.get("GPU", 0))
        if gpus < 1:
            raise ClusterError("the cuda backend needs GPUs, and the Ray cluster has none")
        return {"num_cpus": 1, "num_gpus": 1}, gpus
    cpus = min(float(settings.workers), cluster.get("CPU", 0.0))
    if cpus <= 0:
        raise ClusterError("the Ray cluster has no CPUs")
    return {"num_cpus": cpus}, max(1, int(cluster.get("CPU", 0.0) // cpus))


def task_size(jobs: int, workers: int, batch_size: int) -> int:
    """Photos per task: enough tasks for every worker to finish at about the same time on a short run,
    few enough that each task keeps its worker's stages overlapped; a multiple of STRIDE."""
    most = max(MIN_TASK_PHOTOS, 16 * batch_size)
    size = min(most, max(STRIDE, math.ceil(jobs / (TASKS_PER_WORKER * workers))))
    return math.ceil(size / STRIDE) * STRIDE


# --- the to-do list -------------------------------------------------------------------------------------------


class TodoList:
    """The jobs a driver hands out: one JSON line each, in a hidden file of the output folder (shared
    storage), so that a task is three numbers and the driver holds nothing per job but an offset every
    STRIDE jobs. Line i is job i (its `seq`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file = open(path, "wb")
        self._marks = array("q", [0])  # byte offset of line k * STRIDE

    def add(self, job: Job) -> None:
        entry = {"seq": self.count, "path": str(job.source.path), "rel": str(job.source.rel),
                 "display": job.source.display, "fp": job.fingerprint}  # fmt: skip
        self._file.write(json.dumps(entry).encode() + b"\n")
        self.count += 1
        if self.count % STRIDE == 0:
            self._marks.append(self._file.tell())

    def close(self) -> None:
        """Finish the file: closed before any worker opens it (NFS shows a file whole after its close)."""
        if not self._file.closed:
            self._file.close()

    def ranges(self, per_task: int) -> list[dict[str, Any]]:
        """The tasks: (file, start, end) byte ranges of `per_task` jobs (the last one fewer)."""
        step = per_task // STRIDE
        bounds = list(self._marks[::step])
        end = self.path.stat().st_size
        if bounds[-1] != end:
            bounds.append(end)
        return [{"todo": str(self.path), "start": a, "end": b} for a, b in zip(bounds, bounds[1:])]

    def locate(self, seqs: set[int]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(entry, the one-job range of its line) for each job in `seqs`, reading the file once."""
        found = []
        with open(self.path, "rb") as f:
            offset = 0
            for line in f:
                entry = json.loads(line)
                if entry["seq"] in seqs:
                    found.append((entry, {"todo": str(self.path), "start": offset, "end": offset + len(line)}))
                offset += len(line)
        return found


def read_jobs(todo: str, start: int, end: int) -> list[dict[str, Any]]:
    with open(todo, "rb") as f:
        f.seek(start)
        return [json.loads(line) for line in f.read(end - start).splitlines()]


# --- the worker -------------------------------------------------------------------------------------------------

ROW_COLUMNS = ("seq", "input", "display", "output", "fingerprint", "status", "reason", "pixels", "warnings")
TASK_COLUMNS = ("written", "notices")  # the task's own row (seq -1): bytes written, library lines of no photo


class RayWorker:
    """A Ray actor's callable for map_batches: one loaded backend and model, and a runner over the jobs
    of each task it is given, writing into OUT without its lock or journal (the driver holds those).

    Returns one row per photo (ROW_COLUMNS), then the task's own row (seq -1, TASK_COLUMNS): the bytes it
    wrote, and what libraries printed outside any photo. Nothing a photo does fails the task."""

    def __init__(self, settings: Settings, root: str, recipe: str) -> None:
        from acc.api import open_backend, run_options  # acc.api runs acc.cluster: imported when used

        self.backend = open_backend(settings)
        if self.backend.model.recipe != recipe:
            self.backend.close()
            raise ModelError(f"this node's model is {self.backend.model.recipe!r}, the driver's {recipe!r}: "
                             "every node must see the same model folder")  # fmt: skip
        self.folder = OutputFolder(Path(root), tag=secrets.token_hex(4)).attach()
        self.options: RunOptions = replace(run_options(settings), memory_limit=_memory_limit(settings))
        self.notices: list[str] = []
        self.messages = LibraryMessages(stray=self.notices.append).install()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[dict[str, Any]] = []
        written = self.folder.bytes_written
        for todo, start, end in zip(batch["todo"], batch["start"], batch["end"]):
            rows += self.run(read_jobs(str(todo), int(start), int(end)))
        notices, self.notices = self.notices, []
        rows.append({"seq": -1, "written": self.folder.bytes_written - written, "notices": "\n".join(notices)})
        return {name: _column(name, [row.get(name) for row in rows]) for name in ROW_COLUMNS + TASK_COLUMNS}

    def run(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[Job | Outcome] = []
        for entry in entries:
            source = _source(entry)
            rel = output_rel(source, self.options.fmt)
            try:
                # Handed out with its "writing" line journaled: the output is this run's to replace
                # (an attempt of this task that a dead worker began).
                items.append(Job(source, rel, self.folder.target(rel), entry["fp"], replace=True))
            except (UnsafeOutput, OSError) as exc:
                items.append(Outcome(source.display, "failed", describe(exc)))
        outcomes: list[Outcome] = []
        runner = Runner(self.backend, self.folder, self.options, outcomes.append, self.messages,
                        self.notices.append, journal=False)  # fmt: skip
        failure = None
        try:
            runner.execute(iter(items))
        except Exception as exc:  # a fault of the runner itself: its photos fail, the task does not
            failure = describe(exc)
        rows = []
        for i, entry in enumerate(entries):
            if i < len(outcomes):  # the runner reports in order: what it did not report is the tail
                outcome = outcomes[i]
            elif runner.summary.stopped:  # OUT failed: not done, and not failed either (the next run does it)
                outcome = Outcome(entry["display"], "unfinished", runner.summary.stopped)
            else:
                outcome = Outcome(entry["display"], "failed", failure or "internal error: the runner left it")
            rows.append(result_row(entry, outcome, self.options.fmt))
        return rows


def _source(entry: dict[str, Any]) -> InputFile:
    return InputFile(Path(entry["path"]), PurePosixPath(entry["rel"]), entry["display"])


def result_row(entry: dict[str, Any], outcome: Outcome, fmt: OutputFormat) -> dict[str, Any]:
    """What comes back to the driver for one job of the to-do list: all it journals and reports."""
    return {"seq": entry["seq"], "input": entry["path"], "display": entry["display"],
            "output": str(output_rel(_source(entry), fmt)), "fingerprint": entry["fp"], "status": outcome.status,
            "reason": outcome.reason or "", "pixels": outcome.pixels,
            "warnings": "\n".join(outcome.warnings)}  # fmt: skip


def _column(name: str, values: list[Any]) -> np.ndarray:
    if name in ("seq", "pixels", "written"):
        return np.array([v or 0 for v in values], dtype=np.int64)
    return np.array([v or "" for v in values], dtype=object)


def _memory_limit(settings: Settings) -> int:
    """A worker's memory budget: --memory-limit when given, else its share of half its node's memory
    (its GPUs, or else its CPUs, over the node's), so that the workers of a node fit in it together."""
    if settings.memory_limit:
        return settings.memory_limit
    import ray

    context = ray.get_runtime_context()
    mine = context.get_assigned_resources()
    node = next((n["Resources"] for n in ray.nodes() if n["NodeID"] == context.get_node_id()), {})
    kind = "GPU" if mine.get("GPU") else "CPU"
    share = mine.get(kind, 0.0) / node[kind] if node.get(kind) else 1.0
    return max(1, int(default_limit() * min(1.0, share)))


# --- the driver -------------------------------------------------------------------------------------------------


class _Driver:
    """Journals and reports the result rows of one run, each job once (a bit per job says it was)."""

    def __init__(self, outdir: OutputDir, summary: Summary, on_outcome: Callable[[Outcome], None],
                 on_notice: Callable[[str], None], jobs: int) -> None:  # fmt: skip
        self.outdir = outdir
        self.summary = summary
        self.on_outcome = on_outcome
        self.on_notice = on_notice
        self.reported = bytearray((jobs + 7) // 8)
        self.duplicates = 0  # rows of a job already reported (a retried task's): dropped
        self.started = time.perf_counter()
        self.first_result: float | None = None  # seconds from the start to the first result

    def is_reported(self, seq: int) -> bool:
        return bool(self.reported[seq >> 3] & (1 << (seq & 7)))

    def take(self, batch: dict[str, np.ndarray]) -> str | None:
        """Journal and report a batch of rows; returns why the run must stop, if it must."""
        if self.first_result is None:
            self.first_result = time.perf_counter() - self.started
            self.on_notice(f"ray: first results after {self.first_result:.1f} s (workers started, model loaded)")
        stop = None
        for i, seq in enumerate(batch["seq"].tolist()):
            if seq < 0:  # the task's own row
                self.summary.bytes_written += int(batch["written"][i])
                for text in filter(None, str(batch["notices"][i]).split("\n")):
                    self.on_notice(f"a library printed: {text}")
                continue
            row = {name: batch[name][i] for name in ROW_COLUMNS}
            stop = self.report(row) or stop
        return stop

    def report(self, row: dict[str, Any]) -> str | None:
        seq = int(row["seq"])
        if self.is_reported(seq):
            self.duplicates += 1
            return None
        self.reported[seq >> 3] |= 1 << (seq & 7)
        status, rel = str(row["status"]), PurePosixPath(str(row["output"]))
        said = tuple(filter(None, str(row["warnings"]).split("\n")))
        output = self.outdir.root / rel if status == "ok" else None
        outcome = Outcome(str(row["display"]), status, str(row["reason"]) or None, output, int(row["pixels"]), said)
        outcome, stop = journal_result(self.outdir, rel, str(row["input"]), str(row["fingerprint"]), outcome)
        self.summary.add(outcome)
        self.on_outcome(outcome)
        return stop or (outcome.reason if status == "unfinished" else None)


def colorize_on_ray(
    files: InputSet,
    out: Path,
    settings: Settings,
    on_outcome: Callable[[Outcome], None],
    on_notice: Callable[[str], None],
) -> Summary:
    """Plan the inputs as a local run does, run the jobs on the Ray cluster at settings.ray, journal and
    report every result; the Summary a local run would give (results in the order tasks finish).

    Raises what colorize_files raises before any work, and ClusterError."""
    from acc.api import run_options

    if settings.backend not in BACKENDS:
        backend_class(settings.backend)  # raises BackendError naming the known backends; whether a known
        # backend runs is for the workers to say (a driver without a GPU runs cuda workers)
    spec = resolve(settings.model, settings.model_dir, settings.backend).with_saturation(settings.saturation)
    read_verified(spec)  # a damaged model fails here, before the cluster is asked for anything
    # Workers find the model where the driver does (shared storage), not in their own home folders, and
    # run the model the driver chose (a default can depend on the CPU: models.default_for).
    model_dir = (settings.model_dir or default_model_dir()).absolute()
    worker_settings = replace(settings, model=spec.name, model_dir=model_dir, ray=None)
    options = run_options(settings)
    summary = Summary()
    start = time.perf_counter()
    with connect(settings.ray or "local") as ray, OutputDir(out) as outdir:
        connected = time.perf_counter()
        resources, most = worker_resources(settings, ray.cluster_resources())
        if outdir.stale_removed:
            on_notice(f"removed {outdir.stale_removed} unfinished temporary file(s) of an interrupted run")
        todo = TodoList(outdir.root / TODO_NAME)
        try:
            on_notice(f"ray: {len(ray.nodes())} node(s), {ray.cluster_resources().get('CPU', 0):g} CPUs, "
                      f"{ray.cluster_resources().get('GPU', 0):g} GPUs; up to {most} {settings.backend} worker(s), "
                      f"{connected - start:.1f} s to connect")  # fmt: skip
            if _plan(files, outdir, options, spec.recipe, todo, summary, on_outcome) and todo.count:
                todo.close()
                driver = _Driver(outdir, summary, on_outcome, on_notice, todo.count)
                _execute(ray, todo, driver, worker_settings, spec.recipe, resources, most, options)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            todo.close()
            todo.path.unlink(missing_ok=True)
            summary.seconds = time.perf_counter() - start
            summary.ignored = files.ignored
    return summary


def _plan(files: InputSet, outdir: OutputDir, options: RunOptions, recipe: str, todo: TodoList, summary: Summary,
          on_outcome: Callable[[Outcome], None]) -> bool:  # fmt: skip
    """Plan as a local run does: outcomes known now are journaled and reported, each job is journaled
    "writing" (from here on its output is this run's) and appended to the to-do list. Returns False
    when the journal could not be written (summary.stopped says why)."""
    for item in plan(files, outdir, options, recipe):
        if isinstance(item, Outcome):
            outcome, stop = journal_result(outdir, None, item.display, "", item)
            summary.add(outcome)
            on_outcome(outcome)
        else:
            try:
                outdir.record(item.rel, str(item.source.path), "writing", None, item.fingerprint)
                stop = None
            except AccError as exc:  # OutputFolderError: the journal cannot be written
                stop = str(exc)
            else:
                todo.add(item)
        if stop:
            summary.stopped = stop
            return False
    return True


def _execute(ray: ModuleType, todo: TodoList, driver: _Driver, settings: Settings, recipe: str,
             resources: dict[str, float], most: int, options: RunOptions) -> None:  # fmt: skip
    """Run the to-do list on the cluster; then the photos of tasks lost with their workers, one per task."""
    workers = min(most, math.ceil(todo.count / STRIDE))
    ranges = todo.ranges(task_size(todo.count, workers, options.batch_size))
    stop = _stream(ray, ranges, driver, settings, recipe, resources, workers)
    if stop:
        driver.summary.stopped = stop
        return
    missing = {seq for seq in range(todo.count) if not driver.is_reported(seq)}
    if not missing:
        return
    driver.on_notice(f"ray: {len(missing)} photo(s) were lost with their worker {TASK_RETRIES + 1} times; "
              "redoing them one per task (Ray's logs, /tmp/ray/session_latest/logs, say why)")  # fmt: skip
    located = todo.locate(missing)
    stop = _stream(ray, [r for _, r in located], driver, settings, recipe, resources, min(workers, len(located)))
    if stop:
        driver.summary.stopped = stop
        return
    for entry, _ in located:
        if not driver.is_reported(entry["seq"]):
            lost = Outcome(entry["display"], "failed", f"its worker process died on it {TASK_RETRIES + 1} times")
            stop = driver.report(result_row(entry, lost, options.fmt))
            if stop:
                driver.summary.stopped = stop
                return


def _root_cause(exc: BaseException) -> str:
    """What a worker raised, in one line: the last line of Ray's report ("module.SomeError: message")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    match = re.match(r"^(?:[\w.]+\.)?(\w+): (.*)$", last)
    return f"{match.group(1)}: {match.group(2)}" if match else last


def _stream(ray: ModuleType, ranges: list[dict[str, Any]], driver: _Driver, settings: Settings, recipe: str,
            resources: dict[str, float], workers: int) -> str | None:  # fmt: skip
    """One Ray Data pass over `ranges`, results journaled and reported as they come; returns a stop reason."""
    ds = ray.data.from_items(ranges, override_num_blocks=len(ranges))
    ds.context.max_errored_blocks = -1  # a task lost with its worker TASK_RETRIES + 1 times: _execute redoes it
    ds.context.enable_progress_bars = False
    with warnings.catch_warnings():
        # max_restarts and max_task_retries have no named parameter in Ray 2.60: they go in **ray_remote_args,
        # which Ray deprecates (for removal in 2.64) in favour of named parameters still to come.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map_batches(
            RayWorker,
            fn_constructor_kwargs={"settings": settings, "root": str(driver.outdir.root), "recipe": recipe},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers, initial_size=workers,
                                               max_tasks_in_flight_per_actor=2),  # fmt: skip
            max_restarts=-1,  # a dead worker is always replaced
            max_task_retries=TASK_RETRIES,
            **resources,
        )
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # Ray Data's progress and the failures acc redoes: in Ray's logs only
    batches = ds.iter_batches(batch_size=None, batch_format="numpy")
    try:
        for batch in batches:
            stop = driver.take(batch)
            if stop:
                return stop
    except ray.exceptions.RayError as exc:
        # Tasks lost with their workers are skipped (max_errored_blocks): what ends the run here is a worker
        # that cannot start at all (its backend cannot run on its node, its model folder is not there).
        raise ClusterError(f"a Ray worker failed: {_root_cause(exc)}") from exc
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()
        quiet.setLevel(level)
    return None
