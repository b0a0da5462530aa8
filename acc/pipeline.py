"""The batch runner: reads, decodes, infers, renders and writes photos with the stages overlapped.

    jobs --> [prepare: open, header, admit, read, decode, model_input] --> batch --> [infer] --> [render, write]
              worker threads, bounded window                          inference threads   worker threads, bounded window
    the main thread: plans, forms batches in input order, reports and journals results in input order

A host backend gets one photo per prepare and render call, from several worker threads at once, and
several batches inferred at once (Backend.infer_threadsafe); a batched (device) backend gets whole
chunks of up to batch_size photos (Backend.batched), and one batch inferred at a time. At most
`workers` stages compute at once, one per core (the compute slots): the thread split is the machine's
cores, each running one decode, inference or render, rather than ONNX Runtime's threads and the
workers' taking turns on the same cores. Memory is bounded twice: by count (at most `batch_size +
workers` chunks being prepared, the batch being formed, and `2 * workers` chunks being rendered plus
the batches being inferred beside the first) and by bytes (acc/budget.py: each photo is admitted, in
input order, only once its charge fits the memory budget), so neither a million files nor a folder of
100 MP scans grows it. Results are
reported and journaled in input order. Each photo succeeds (possibly with warnings from its decoder),
or fails with a one-line reason; a failure never stops the run. What does stop it:

- Ctrl-C (or SIGTERM): no new work; the photos being written are finished and journaled, waiting at
  most DRAIN_SECONDS; `interrupted` is set.
- The output folder failing as a whole (full, read-only, gone): no new work; what is in flight is
  finished where it can be; `stopped` says why. Photos not finished are not journaled as failed: the
  next run does them.

The runner never touches pixels: frames, model inputs and predictions are the backend's handles.
Metadata travels on the host (acc/metadata/): taken in before decode, wrapped around the encoded output
before the write, the same for every backend.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from acc import __version__
from acc.backends.base import Backend, OutputFormat
from acc.budget import MemoryBudget, default_limit, resident_bytes
from acc.inputs import InputError, InputFile, InputSet, file_problem
from acc.libmessages import LibraryMessages
from acc.metadata import Intake, MetadataPolicy, conversion_bytes, decode_taken_in, finish, tool_name
from acc.outdir import OutputDir, OutputExists, OutputFolder, OutputFolderError, UnsafeOutput, fingerprint, path_key
from acc.probe import BadImage, OpenedInput

DRAIN_SECONDS = 20.0  # after Ctrl-C, how long the photos being written may take before acc stops anyway


@dataclass(frozen=True)
class RunOptions:
    fmt: OutputFormat = field(default_factory=OutputFormat)
    batch_size: int = 4
    workers: int = 2
    overwrite: bool = False
    max_pixels: int = 100_000_000
    memory_limit: int | None = None  # bytes this process may peak at; None: half the machine's memory
    strict: bool = False  # a photo its decoder warned about fails instead of being colorized
    metadata: MetadataPolicy = field(default_factory=MetadataPolicy)  # what outputs carry (acc/metadata/)


@dataclass(frozen=True)
class Outcome:
    display: str  # the input as the user named it
    status: str  # "ok" | "failed" | "skipped" | "unfinished" (stopped before it was done: redone next run)
    reason: str | None = None
    output: Path | None = None
    pixels: int = 0
    warnings: tuple[str, ...] = ()  # what the decoder said about damaged data, in acc's words


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unfinished: int = 0
    warned: int = 0  # photos colorized with decoder warnings
    pixels: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped early (the output folder failed), else None
    ignored: Counter[str] = field(default_factory=Counter)  # files passed over for their type, by suffix
    bytes_written: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.pixels += outcome.pixels
        self.warned += outcome.status == "ok" and bool(outcome.warnings)


@dataclass
class Job:
    source: InputFile
    rel: Any  # PurePosixPath of the output under OUTDIR
    target: Path
    fingerprint: str
    replace: bool = False  # the output is one a killed run began writing for this input: redo it in place
    seq: int = -1  # admission order for the memory budget, given when the job is started


@dataclass
class _Prepared:
    job: Job
    frame: Any
    model_input: Any
    pixels: int
    cost: int  # bytes charged to the memory budget until the output is written
    warnings: tuple[str, ...]
    intake: Intake  # the metadata its output will carry


def describe(exc: BaseException) -> str:
    """The one-line reason shown for a failed photo."""
    if isinstance(exc, (BadImage, UnsafeOutput, OutputExists)):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc}"


def output_rel(source: InputFile, fmt: OutputFormat) -> PurePosixPath:
    """Where a photo's output goes under the output folder: its path there plus the format's suffix."""
    return source.rel.with_name(source.rel.name + fmt.suffix)


def plan(inputs: InputSet, outdir: OutputDir, options: RunOptions, recipe: str) -> Iterator[Job | Outcome]:
    """Decide per input, without opening it: a Job to do, or an Outcome already (skipped, refused).

    Refused: inputs that are missing or not regular files, outputs that would leave the output folder,
    land on an input or not fit the file system's name length, two inputs claiming one output name,
    and existing outputs not from an earlier run of the same input and recipe (unless --overwrite).
    """
    claimed: dict[int, str] = {}  # key(output rel path) -> the input that claimed it
    for item in inputs:
        if isinstance(item, InputError):
            yield Outcome(item.display, "failed", item.reason)
            continue
        problem = file_problem(item.path)
        if problem:
            yield Outcome(item.display, "failed", problem)
            continue
        rel = output_rel(item, options.fmt)
        try:
            target = outdir.target(rel)
            if inputs.contains(target):
                raise UnsafeOutput(f"output {target} would overwrite an input")
            fp = fingerprint(item.path, recipe + options.metadata.recipe)
        except (UnsafeOutput, OSError) as exc:
            yield Outcome(item.display, "failed", describe(exc))
            continue
        first = claimed.setdefault(path_key(str(rel)), item.display)
        if first != item.display:
            yield Outcome(item.display, "failed", f"output {rel} is already taken by input {first}")
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


def journal_result(
    outdir: OutputDir, rel: PurePosixPath | None, source: str, fp: str, outcome: Outcome
) -> tuple[Outcome, str | None]:
    """Journal a result (ok or failed; skips and unfinished photos are not journaled). Returns the outcome
    to report and, when the journal cannot be written, why the run must stop: a photo whose "ok" cannot
    be journaled is then unfinished (the next run redoes it)."""
    if outcome.status not in ("ok", "failed"):
        return outcome, None
    try:
        outdir.record(rel, source, outcome.status, outcome.reason, fp, outcome.warnings)
    except OutputFolderError as exc:
        return (Outcome(outcome.display, "unfinished", str(exc)) if outcome.status == "ok" else outcome), str(exc)
    return outcome, None


class Runner:
    """Runs photos through the four stages into an output folder.

    `journal`: whether the runner journals (an OutputDir). False for a Ray worker's runner, which writes
    into a folder its driver holds (an OutputFolder): the driver journaled each job's "writing" line
    before handing it out, and journals the results that on_outcome carries back."""

    def __init__(
        self,
        backend: Backend,
        outdir: OutputFolder,
        options: RunOptions,
        on_outcome: Callable[[Outcome], None] = lambda outcome: None,
        messages: LibraryMessages | None = None,
        on_notice: Callable[[str], None] = lambda text: None,
        journal: bool = True,
    ) -> None:
        if journal and not isinstance(outdir, OutputDir):
            raise TypeError("a journaling runner needs an OutputDir (a locked folder with its journal)")
        self.backend = backend
        self.outdir = outdir
        self.journal = journal
        self.options = options
        self.on_outcome = on_outcome
        self.on_notice = on_notice  # one-line notices: what a stopping run waits for
        self.messages = messages  # decoder messages are attributed per photo when given (installed)
        self.summary = Summary()
        self.budget = MemoryBudget(1)
        self._compute = threading.Semaphore(options.workers)
        self._stop_reason: str | None = None
        self._stop_lock = threading.Lock()
        self._tasks: set[Future] = set()  # submitted to the pools and not done yet

    # the stages ------------------------------------------------------------------------------------
    def _prepare(self, chunk: list[Job]) -> tuple[list[_Slot | _Prepared], list[Job]]:
        """Open, admit, read, decode and make the model input of a chunk of photos, in order.

        Returns a result per photo done, and the tail of the chunk left for later: a chunk holding memory
        does not wait for more (what it holds is given back only after inference), so it stops at the
        first photo the budget cannot admit at once."""
        results: dict[int, _Slot | _Prepared] = {}
        admitted: list[tuple[Job, OpenedInput, int]] = []
        leftover: list[Job] = []
        for i, job in enumerate(chunk):
            try:
                src = OpenedInput(job.source.path, self.options.max_pixels)
                cost = src.size + self.backend.host_bytes(src.info)
                cost += conversion_bytes(src.info) if src.info.icc else 0  # acc/workingspace.py may convert it
            except (BadImage, OSError) as exc:
                self.budget.skip(job.seq)
                results[job.seq] = _Slot.done(job, self._failed(job, describe(exc)))
                continue
            if not admitted:
                self.budget.acquire(job.seq, cost)  # waits its turn and its memory, holding nothing
            elif not self.budget.try_acquire(job.seq, cost):
                src.close()
                leftover = chunk[i:]
                break
            admitted.append((job, src, cost))
        items: list[tuple[Job, bytes, Any, int]] = []
        decoded: list[tuple[tuple[Job, bytes, Any, int], Any, tuple[str, ...], Intake | None]] = []
        for job, src, cost in admitted:  # reading waits on storage: outside the compute slots
            try:
                with src:
                    items.append((job, src.read(), src.info, cost))
            except (BadImage, OSError, MemoryError) as exc:
                self.budget.release(cost)
                results[job.seq] = _Slot.done(job, self._failed(job, describe(exc)))
        try:
            with self._compute:
                decoded = [(item, *d) for item, d in zip(items, self._decode(items))]
                good = [d for d in decoded if not isinstance(d[1], Exception)]
                inputs = self.backend.model_input_batch([frame for _, frame, _, _ in good]) if good else []
        except Exception as exc:  # a stage failed as a whole (the backend, not one photo): each photo fails
            for _, frame, _, _ in decoded:
                if not isinstance(frame, Exception):
                    self.backend.release(frame)
            for job, _, cost in admitted:
                if job.seq not in results:
                    self.budget.release(cost)
                    results[job.seq] = _Slot.done(job, self._failed(job, describe(exc)))
            return [results[job.seq] for job in chunk[: len(chunk) - len(leftover)]], leftover
        for (job, _, _, cost), frame, warnings, _ in decoded:
            if isinstance(frame, Exception):
                self.budget.release(cost)
                results[job.seq] = _Slot.done(job, self._failed(job, _reason(frame, warnings)))
        for ((job, _, info, cost), frame, warnings, intake), x in zip(good, inputs):
            failure = describe(x) if isinstance(x, Exception) else None
            if failure is None and warnings and self.options.strict:
                failure = f"{'; '.join(warnings)} (--strict)"
            if failure:
                self.backend.release(frame)
                self.budget.release(cost)
                results[job.seq] = _Slot.done(job, self._failed(job, failure))
            else:
                results[job.seq] = _Prepared(job, frame, x, info.pixels, cost, warnings, intake)
        return [results[job.seq] for job in chunk[: len(chunk) - len(leftover)]], leftover

    def _decode(self, items: list[tuple[Job, bytes, Any, int]]) -> list[tuple[Any, tuple[str, ...], Intake | None]]:
        """(frame or exception, metadata and decoder warnings, its metadata) per photo. When decoder messages
        cannot be told apart (several photos decoding at once printed something), each photo concerned is
        decoded again alone."""
        if not items:
            return []
        encoded = [(data, info) for _, data, info, _ in items]
        policy = self.options.metadata
        if self.messages is None:
            return [(frame, _warnings(i), i) for frame, i in decode_taken_in(self.backend, encoded, policy)]
        with self.messages.watch() as watch:
            frames = decode_taken_in(self.backend, encoded, policy)
        if not watch.ambiguous and (len(items) == 1 or not watch.raw):
            return [(frame, _warnings(i) + tuple(watch.messages), i) for frame, i in frames]
        results = []
        for item, (frame, _) in zip(encoded, frames):
            if not isinstance(frame, Exception):
                self.backend.release(frame)
            with self.messages.exclusive() as alone:
                frame, intake = decode_taken_in(self.backend, [item], policy)[0]
            results.append((frame, _warnings(intake) + tuple(alone.messages), intake))
        return results

    def _finish(self, predicted: Future, chunk: list[tuple[_Prepared, int]]) -> list[Outcome]:
        """Once the batch's predictions are there, render, encode and write a chunk of its photos (each
        with its index in the batch); every photo's memory charge is given back."""
        try:
            predictions = predicted.result()
            outcomes: dict[int, Outcome] = {}
            ready = []
            for k, (p, i) in enumerate(chunk):
                if isinstance(predictions[i], Exception):
                    self.backend.release(p.frame)
                    outcomes[k] = self._failed(p.job, f"inference failed: {predictions[i]}")
                else:
                    ready.append((k, p, predictions[i]))
            if ready:
                frames = [p.frame for _, p, _ in ready]
                with self._compute:
                    try:
                        encoded = self.backend.render_batch(frames, [pred for _, _, pred in ready], self.options.fmt)
                    finally:
                        for frame in frames:
                            self.backend.release(frame)
                # writing waits on storage (fsync): outside the compute slots, so a core never idles on it
                for (k, p, _), data in zip(ready, encoded):
                    outcomes[k] = self._write(p, self._finish_metadata(p, data))
            return [outcomes[k] for k in range(len(chunk))]
        finally:
            for p, _ in chunk:
                self.budget.release(p.cost)

    def _finish_metadata(self, prepared: _Prepared, data: bytes | Exception
                         ) -> tuple[bytes, tuple[str, ...]] | Exception:  # fmt: skip
        """The output's bytes with its metadata (acc/metadata/) and what could not be carried; or why the
        photo failed (its render's exception, or a metadata warning under --strict)."""
        if isinstance(data, Exception):
            return data
        model = self.backend.model
        tool = tool_name(__version__, model.name, self.backend.name)
        try:
            out, warnings = finish(data, self.options.fmt.kind, prepared.intake, self.options.metadata, tool,
                                   prepared.job.source.path.name)  # fmt: skip
        except Exception as exc:  # a C2PA signature that cannot be made fails the photo, with the reason
            return exc
        if warnings and self.options.strict:
            return BadImage(f"{'; '.join(warnings)} (--strict)")
        return out, warnings

    def _write(self, prepared: _Prepared, result: tuple[bytes, tuple[str, ...]] | Exception) -> Outcome:
        job = prepared.job
        if isinstance(result, Exception):
            return self._failed(job, describe(result))
        data, late_warnings = result
        if self._stop_reason:
            return Outcome(job.source.display, "unfinished", self._stop_reason)
        try:
            # Journaled before the rename: if the run is killed before this photo's result line, the next
            # run knows the file as its own (see OutputDir.was_started).
            if self.journal:
                self.outdir.record(job.rel, str(job.source.path), "writing", None, job.fingerprint)
            self.outdir.write(job.target, data, self.options.overwrite or job.replace)
        except OutputFolderError as exc:
            self._stop(str(exc))
            return Outcome(job.source.display, "unfinished", str(exc))
        except Exception as exc:
            return self._failed(job, describe(exc))
        return Outcome(job.source.display, "ok", None, job.target, prepared.pixels, prepared.warnings + late_warnings)

    def _infer_batch(self, batch: list[_Prepared]) -> list[Any]:
        """The inference task of a batch: it takes a compute slot, like the other stages."""
        with self._compute:
            return self._infer(batch)

    def _infer(self, batch: list[_Prepared]) -> list[Any]:
        """Predictions for a batch; when the batch fails, each photo is retried alone to isolate the fault."""
        inputs = [p.model_input for p in batch]
        try:
            results: list[Any] = []
            for start in range(0, len(inputs), self.options.batch_size):
                results += self.backend.infer(inputs[start : start + self.options.batch_size])
            return results
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        results = []
        for x in inputs:
            try:
                results.append(self.backend.infer([x])[0])
            except Exception as exc:
                results.append(exc)
        return results

    # the loop --------------------------------------------------------------------------------------
    def run(self, inputs: InputSet) -> Summary:
        """Plan the inputs (naming, journal, safety: plan()) and execute the plan."""
        try:
            return self.execute(plan(inputs, self.outdir, self.options, self.backend.model.recipe))
        finally:
            self.summary.ignored = inputs.ignored

    def execute(self, items: Iterator[Job | Outcome]) -> Summary:
        """Do planned work: each Job through the four stages and the write, each Outcome reported as it is,
        all in the order given (a distributed worker executes the jobs a driver planned)."""
        opts = self.options
        start = time.perf_counter()
        limit = opts.memory_limit or default_limit()
        # The budget is what photos may add to what the process holds already (libraries, the model).
        self.budget = MemoryBudget(max(1, limit - resident_bytes()))
        # At most `workers` threads compute at once (decode and model_input, inference, render and encode
        # each take a slot), so that each core runs one stage and nothing waits for a core it shares;
        # reading files and writing outputs wait on storage outside the slots. Separate pools, so that
        # photos waiting for memory or renders waiting for their batch's inference never keep the tasks
        # they wait for from running; twice as many threads as slots, so a thread waiting on storage
        # leaves its core to another. Inferences run side by side when the backend allows it
        # (infer_threadsafe: one ONNX Runtime thread each, acc/inference.py), else one at a time.
        self._compute = threading.Semaphore(opts.workers)
        readers = ThreadPoolExecutor(max_workers=2 * opts.workers, thread_name_prefix="acc-prepare")
        inferring = opts.workers if self.backend.infer_threadsafe else 1
        inferrers = ThreadPoolExecutor(max_workers=inferring, thread_name_prefix="acc-infer")
        writers = ThreadPoolExecutor(max_workers=2 * opts.workers, thread_name_prefix="acc-render")
        chunk_size = opts.batch_size if self.backend.batched else 1
        prepare_window = opts.batch_size + opts.workers  # entries being prepared
        # photos being inferred (up to `inferring` batches beyond the first), rendered and written
        write_window = 2 * opts.workers * chunk_size + (inferring - 1) * opts.batch_size
        plan_items = iter(items)
        # In input order: an Outcome already known, or a chunk being prepared (its jobs, its future).
        preparing: deque[Outcome | tuple[list[Job], Future]] = deque()
        # In input order: an Outcome, or a photo of a chunk being written (_Slot).
        writing: deque[Outcome | _Slot] = deque()
        seq = 0
        exhausted = False

        def submit_prepare(jobs: list[Job], front: bool = False) -> None:
            entry = (jobs, self._submit(readers, self._prepare, jobs))
            preparing.appendleft(entry) if front else preparing.append(entry)

        def fill() -> None:
            nonlocal exhausted, seq
            chunk: list[Job] = []
            while not exhausted and not self._stop_reason and len(preparing) < prepare_window:
                item = next(plan_items, None)
                if item is None:
                    exhausted = True
                elif isinstance(item, Outcome):
                    if chunk:
                        submit_prepare(chunk)
                        chunk = []
                    preparing.append(item)
                else:
                    item.seq, seq = seq, seq + 1
                    chunk.append(item)
                    if len(chunk) == chunk_size:
                        submit_prepare(chunk)
                        chunk = []
            if chunk:
                submit_prepare(chunk)

        try:
            fill()
            while preparing and not self._stop_reason:
                # Take up to batch_size prepared photos in order; failures and skips keep their place.
                taken: list[Outcome | _Slot | _Prepared] = []
                n_ready = 0
                while preparing and n_ready < opts.batch_size:
                    head = preparing[0]
                    if isinstance(head, Outcome):
                        taken.append(preparing.popleft())
                        continue
                    _, future = head
                    if not future.done():
                        # The photos held in this batch may be what a waiting photo needs: infer them first.
                        if n_ready and self.budget.blocked():
                            break
                        wait([future], timeout=0.05)
                        continue
                    preparing.popleft()
                    results, leftover = future.result()
                    if leftover:
                        submit_prepare(leftover, front=True)
                    taken += results
                    n_ready += sum(isinstance(r, _Prepared) for r in results)
                    fill()  # keep the decoders busy while this batch is inferred
                self._render(taken, inferrers, writers, writing, chunk_size)
                self._drain(writing, keep=write_window)
                fill()
            if self._stop_reason:
                self._abandon(preparing)
            self._drain(writing, keep=0)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self._abandon(preparing)
            deadline = time.monotonic() + DRAIN_SECONDS
            self._drain_after_interrupt(writing, deadline)
            # What is still running is a stage of one photo, done in moments: wait for it (within the same
            # bound), so that no thread of this run outlives it, unless one is stuck (a dead share, say).
            for pool in (readers, inferrers, writers):
                pool.shutdown(wait=False, cancel_futures=True)
            wait(self._tasks.copy(), timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for pool in (readers, inferrers, writers):
                pool.shutdown(wait=not (self.summary.interrupted and self._tasks), cancel_futures=True)
            self.summary.seconds = time.perf_counter() - start
            self.summary.bytes_written = self.outdir.bytes_written
            self.summary.stopped = self._stop_reason
        return self.summary

    def _render(self, taken: list[Outcome | _Slot | _Prepared], inferrers: ThreadPoolExecutor,
                writers: ThreadPoolExecutor, writing: deque, chunk_size: int) -> None:  # fmt: skip
        """Queue the inference of the prepared photos of `taken` and their rendering in chunks, each chunk
        waiting for its batch's predictions; results keep input order. `writing` gets the entries only
        once every slot has its future (a Ctrl-C meanwhile leaves it as it was)."""
        batch = [t for t in taken if isinstance(t, _Prepared)]
        predicted = self._submit(inferrers, self._infer_batch, batch) if batch else None
        entries: list[Outcome | _Slot] = []
        chunk: list[tuple[_Prepared, int]] = []
        slots: list[_Slot] = []

        def flush() -> None:
            if chunk:
                future = self._submit(writers, self._finish, predicted, list(chunk))
                for slot in slots:
                    slot.future = future
                chunk.clear()
                slots.clear()

        place = 0  # of the next prepared photo in the batch
        for t in taken:
            if not isinstance(t, _Prepared):  # a planned outcome, or a photo that failed being prepared
                entries.append(t)
                continue
            slot = _Slot(t.job, len(chunk))
            slots.append(slot)
            entries.append(slot)
            chunk.append((t, place))
            place += 1
            if len(chunk) == chunk_size:
                flush()
        flush()
        writing.extend(entries)

    def _abandon(self, preparing: deque) -> None:
        """Drop the photos not yet prepared: they are redone next run (nothing of them was written)."""
        for entry in preparing:
            if not isinstance(entry, Outcome):
                entry[1].cancel()
        preparing.clear()

    def _stop(self, reason: str) -> None:
        with self._stop_lock:
            self._stop_reason = self._stop_reason or reason

    @staticmethod
    def _failed(job: Job, reason: str) -> Outcome:
        return Outcome(job.source.display, "failed", reason)

    def _drain(self, writing: deque, keep: int, deadline: float | None = None) -> bool:
        """Report finished results in order until at most `keep` remain in flight (blocking if needed, until
        `deadline` at most). Returns whether it got there."""
        while writing and (len(writing) > keep or _done(writing[0])):
            head = writing[0]  # taken off only once finished: a Ctrl-C while waiting keeps it queued
            if isinstance(head, Outcome):
                outcome, job = head, None
            elif head.outcome is not None:
                outcome, job = head.outcome, head.job
            else:
                job = head.job
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    outcome = head.future.result(timeout=timeout)[head.index]
                except FutureTimeout:
                    return False
                except Exception as exc:
                    outcome = self._failed(job, describe(exc))
            writing.popleft()
            self._report(job, outcome)
        return True

    def _submit(self, pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Future:
        future = pool.submit(fn, *args)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        return future

    def _drain_after_interrupt(self, writing: deque, deadline: float) -> None:
        """Finish the photos being written, waiting until `deadline` at most, and say what is waited for."""
        busy = [e.job.source.display for e in writing if isinstance(e, _Slot) and not _done(e)]
        if busy:
            self.on_notice(f"stopping: finishing {len(busy)} photo(s) being written: {_listing(busy)} "
                           f"(at most {DRAIN_SECONDS:g} s; interrupt again to stop at once)")  # fmt: skip
        if not self._drain(writing, keep=0, deadline=deadline):
            stuck = [e.job.source.display for e in writing if isinstance(e, _Slot) and not _done(e)]
            self.on_notice(f"stopping without waiting longer for: {_listing(stuck)} (they are redone next run)")

    def _report(self, job: Job | None, outcome: Outcome) -> None:
        if self.journal:
            outcome, stop = journal_result(self.outdir, job.rel if job else None,
                                           str(job.source.path) if job else outcome.display,
                                           job.fingerprint if job else "", outcome)  # fmt: skip
            if stop:
                self._stop(stop)
        self.summary.add(outcome)
        self.on_outcome(outcome)


def _warnings(intake: Intake | None) -> tuple[str, ...]:
    return intake.warnings if intake else ()


def _reason(exc: Exception, warnings: tuple[str, ...]) -> str:
    """A decode failure's reason, with what the decoder said about it."""
    return describe(exc) + (f" ({'; '.join(warnings)})" if warnings else "")


def _listing(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class _Slot:
    """A photo of a chunk being rendered: its result is `future.result()[index]`; or a photo whose result
    is known already (`outcome`: it failed before rendering), kept with its job so that it is journaled
    with its output's name and fingerprint."""

    job: Job
    index: int
    future: Future | None = None  # set when its chunk is submitted, before the runner waits on it
    outcome: Outcome | None = None

    @staticmethod
    def done(job: Job, outcome: Outcome) -> _Slot:
        return _Slot(job, -1, outcome=outcome)


def _done(entry: Outcome | _Slot) -> bool:
    return isinstance(entry, Outcome) or entry.outcome is not None or entry.future.done()
