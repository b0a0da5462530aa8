"""The batch runner: reads, decodes, infers, renders and writes photos with the stages overlapped.

    jobs --> [prepare: read, probe, decode, model_input] --> batch --> [infer] --> [render, write] --> journal
              worker threads, bounded window                main thread          worker threads, bounded window

Both windows are bounded: at most `batch_size + workers` photos being decoded, the batch being inferred
and `2 * workers` being rendered, so no more than `2 * batch_size + 3 * workers` decoded photos are held
however many files there are: memory stays flat on a million-file run. Results are reported and
journaled in input order. Each photo succeeds or fails with a one-line reason; a failure never stops
the run. Ctrl-C (or SIGTERM) stops taking new work, lets the writes in progress finish and journals
them, and ends with `interrupted` set: nothing is half-written and the journal is consistent.

The runner never touches pixels: frames, model inputs and predictions are the backend's handles.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from acc.backends.base import Backend, OutputFormat
from acc.inputs import InputError, InputFile, InputSet
from acc.outdir import OutputDir, OutputExists, UnsafeOutput, fingerprint, path_key
from acc.probe import BadImage, probe, read_capped


@dataclass(frozen=True)
class RunOptions:
    fmt: OutputFormat = field(default_factory=OutputFormat)
    batch_size: int = 4
    workers: int = 2
    overwrite: bool = False
    max_pixels: int = 100_000_000


@dataclass(frozen=True)
class Outcome:
    display: str  # the input as the user named it
    status: str  # "ok" | "failed" | "skipped"
    reason: str | None = None
    output: Path | None = None
    pixels: int = 0


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    pixels: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.pixels += outcome.pixels


@dataclass
class Job:
    source: InputFile
    rel: PurePosixPath
    target: Path
    fingerprint: str
    replace: bool = False  # the output is one a killed run began writing for this input: redo it in place


@dataclass
class _Prepared:
    job: Job
    frame: Any
    model_input: Any
    pixels: int


def describe(exc: BaseException) -> str:
    """The one-line reason shown for a failed photo."""
    if isinstance(exc, (BadImage, UnsafeOutput, OutputExists)):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc}"


def plan(inputs: InputSet, outdir: OutputDir, options: RunOptions, model: str) -> Iterator[Job | Outcome]:
    """Decide per input, without reading pixels: a Job to do, or an Outcome already (skipped, refused).

    Refused: inputs that do not exist, outputs that would leave the output folder or land on an input,
    two inputs claiming one output name, and existing outputs not from an earlier run of the same input
    and model (unless --overwrite).
    """
    claimed: dict[int, int] = {}  # key(output rel path) -> key(input that claimed it): small on huge runs
    suffix = options.fmt.suffix
    for item in inputs:
        if isinstance(item, InputError):
            yield Outcome(item.display, "failed", item.reason)
            continue
        rel = item.rel.with_suffix(suffix)
        try:
            target = outdir.target(rel)
            if inputs.contains(target):
                raise UnsafeOutput(f"output {target} would overwrite an input")
            fp = fingerprint(item.path, model)
        except (UnsafeOutput, OSError) as exc:
            yield Outcome(item.display, "failed", describe(exc))
            continue
        source_key = path_key(str(item.path))
        if claimed.setdefault(path_key(str(rel)), source_key) != source_key:
            yield Outcome(item.display, "failed", f"output {rel} is already taken by an earlier input")
            continue
        if not options.overwrite and outdir.is_done(rel, fp):
            yield Outcome(item.display, "skipped", "done in an earlier run", target)
            continue
        replace = False
        if not options.overwrite and target.exists():
            if not outdir.was_started(rel, fp):
                yield Outcome(item.display, "failed", f"output {target} already exists (use --overwrite)")
                continue
            replace = True
        yield Job(item, rel, target, fp, replace)


class Runner:
    def __init__(
        self,
        backend: Backend,
        outdir: OutputDir,
        options: RunOptions,
        on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        self.backend = backend
        self.outdir = outdir
        self.options = options
        self.on_outcome = on_outcome
        self.summary = Summary()

    # the stages ------------------------------------------------------------------------------------
    def _prepare(self, job: Job) -> _Prepared:
        data = read_capped(job.source.path, self.options.max_pixels)
        info = probe(data, self.options.max_pixels)
        frame = self.backend.decode(data, info)
        try:
            return _Prepared(job, frame, self.backend.model_input(frame), info.pixels)
        except BaseException:
            self.backend.release(frame)
            raise

    def _finish(self, prepared: _Prepared, prediction: Any) -> Outcome:
        job = prepared.job
        try:
            data = self.backend.render(prepared.frame, prediction, self.options.fmt)
        finally:
            self.backend.release(prepared.frame)
        # Journaled before the rename: if the run is killed before this photo's result line, the next
        # run knows the file as its own (see OutputDir.was_started).
        self.outdir.record(job.rel, str(job.source.path), "writing", None, job.fingerprint)
        self.outdir.write(job.target, data, self.options.overwrite or job.replace)
        return Outcome(job.source.display, "ok", None, job.target, prepared.pixels)

    def _infer(self, batch: list[_Prepared]) -> list[Any]:
        """Predictions for a batch; when the batch fails, each photo is retried alone to isolate the fault."""
        inputs = [p.model_input for p in batch]
        try:
            return self.backend.infer(inputs)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        results: list[Any] = []
        for x in inputs:
            try:
                results.append(self.backend.infer([x])[0])
            except Exception as exc:
                results.append(exc)
        return results

    # the loop --------------------------------------------------------------------------------------
    def run(self, inputs: InputSet) -> Summary:
        opts = self.options
        start = time.perf_counter()
        prepare_window = opts.batch_size + opts.workers
        write_window = 2 * opts.workers
        plan_items = plan(inputs, self.outdir, opts, self.backend.model.name)
        preparing: deque[tuple[Job | None, Future | Outcome]] = deque()
        writing: deque[tuple[Job | None, Future | Outcome]] = deque()
        pool = ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="acc-worker")
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(preparing) < prepare_window:
                item = next(plan_items, None)
                if item is None:
                    exhausted = True
                elif isinstance(item, Outcome):
                    preparing.append((None, item))
                else:
                    preparing.append((item, pool.submit(self._prepare, item)))

        try:
            fill()
            while preparing:
                # Take up to batch_size decoded photos in order; failures and skips keep their place.
                taken: list[tuple[Job | None, Outcome | _Prepared]] = []
                n_ready = 0
                while preparing and n_ready < opts.batch_size:
                    job, pending = preparing.popleft()
                    if isinstance(pending, Outcome):
                        taken.append((job, pending))
                        continue
                    try:
                        taken.append((job, pending.result()))
                        n_ready += 1
                    except Exception as exc:
                        taken.append((job, self._failed(job, describe(exc))))
                    fill()  # keep the decoders busy while this batch is inferred
                batch = [t for _, t in taken if isinstance(t, _Prepared)]
                predictions = iter(self._infer(batch) if batch else [])
                for job, t in taken:
                    if isinstance(t, Outcome):
                        writing.append((job, t))
                        continue
                    prediction = next(predictions)
                    if isinstance(prediction, Exception):
                        self.backend.release(t.frame)
                        writing.append((job, self._failed(job, f"inference failed: {prediction}")))
                    else:
                        writing.append((job, pool.submit(self._finish, t, prediction)))
                self._drain(writing, keep=write_window)
                fill()
            self._drain(writing, keep=0)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            for _, pending in preparing:  # photos not yet decoded are dropped; they are redone next run
                if isinstance(pending, Future):
                    pending.cancel()
            self._drain(writing, keep=0)  # writes already under way finish and are journaled
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.summary.seconds = time.perf_counter() - start
        return self.summary

    @staticmethod
    def _failed(job: Job, reason: str) -> Outcome:
        return Outcome(job.source.display, "failed", reason)

    def _drain(self, writing: deque, keep: int) -> None:
        """Report finished results in order until at most `keep` remain in flight (blocking if needed)."""
        while writing and (len(writing) > keep or _done(writing[0][1])):
            job, pending = writing[0]  # taken off only once finished: a Ctrl-C while waiting keeps it queued
            if isinstance(pending, Outcome):
                outcome = pending
            else:
                try:
                    outcome = pending.result()
                except Exception as exc:
                    outcome = self._failed(job, describe(exc))
            writing.popleft()
            self._report(job, outcome)

    def _report(self, job: Job | None, outcome: Outcome) -> None:
        if outcome.status != "skipped":
            rel = job.rel if job else None
            source = str(job.source.path) if job else outcome.display
            self.outdir.record(rel, source, outcome.status, outcome.reason, job.fingerprint if job else "")
        self.summary.add(outcome)
        self.on_outcome(outcome)


def _done(pending: Future | Outcome) -> bool:
    return isinstance(pending, Outcome) or pending.done()
