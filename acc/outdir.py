"""The output folder: safe target paths, atomic writes, the journal, and one run at a time.

- A target must resolve inside the output folder (no '..', no symlink out of it) and must not be an
  input of the run: inputs are never modified or overwritten.
- A file is written under a hidden temporary name in its final folder, flushed to disk, then renamed:
  a run killed at any moment (SIGKILL included) leaves no partial file under a final name. The folder
  is fsynced after the rename, so a "done" in the journal outlives a power cut. Temporary files a killed
  run left behind are removed by the next run that locks the folder. The temporary name has a fixed,
  short length (a digest of the final name), so any final name the file system allows can be written.
- A full disk, a read-only file system or a vanished output folder is not one photo's problem:
  write() and record() raise OutputFolderError, and the runner stops taking new work.
- The journal (JSON lines, OUTDIR/.acc-journal.jsonl) records each result after its file is in place.
  The next run skips what the journal says is done for the same input and model, and retries the rest.
  Before a file is renamed into place a "writing" line is journaled: a run killed between the rename
  and its result line leaves an output the next run knows as its own, and redoes rather than refuses.
- A lock file keeps a second acc run out of the same folder.

OutputFolder is the writing part alone (safe targets, atomic writes, a failing folder detected): what a
distributed worker uses to write into a folder whose lock and journal its driver holds. OutputDir adds the
lock and the journal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import threading
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any

from acc.errors import AccError

JOURNAL_NAME = ".acc-journal.jsonl"
LOCK_NAME = ".acc-lock"
PARTIAL_SUFFIX = ".acc-partial"


class UnsafeOutput(AccError):
    """A target acc refuses to write; str(exc) is the reason."""


class OutputExists(AccError):
    """The target exists and is not this run's to replace (no --overwrite)."""


class FolderBusy(AccError):
    """Another acc run holds the output folder."""


class OutputFolderError(AccError):
    """The output folder as a whole cannot be written (full, read-only, gone): no photo can be finished."""


# Errors that say the folder, not one file, is unwritable.
_FOLDER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ESTALE}


def path_key(text: str) -> int:
    """A 64-bit digest: the journal index holds these instead of paths, to stay small on huge runs."""
    return int.from_bytes(hashlib.blake2b(os.fsencode(text), digest_size=8).digest(), "little")


def fingerprint(source: Path, recipe: str, st: os.stat_result | None = None) -> str:
    """What makes a finished output still valid: the same input file (path, size, mtime) and recipe (the
    model, and any setting that changes the colours)."""
    st = st or source.stat()
    text = f"{source}\0{st.st_size}\0{st.st_mtime_ns}\0{recipe}"
    return hashlib.blake2b(os.fsencode(text), digest_size=8).hexdigest()  # file names need not be UTF-8


def partial_name(name: str, tag: str = "") -> str:
    """The hidden temporary name for final name `name`: 29 bytes (38 with a tag), whatever the final
    name's length. A tag (OutputFolder's) keeps writers in different processes off each other's files."""
    digest = hashlib.blake2b(os.fsencode(name), digest_size=8).hexdigest()
    return f".{digest}{'.' + tag if tag else ''}{PARTIAL_SUFFIX}"


class OutputFolder:
    """Atomic writes into an existing folder, without its lock or journal (module docstring).

    `tag`: a short name for this writer, part of its temporary file names, so that two processes
    writing the same output at once (a retried task on another machine) never share a temporary file."""

    def __init__(self, root: Path, tag: str = "") -> None:
        self.root = root
        self.tag = tag
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the folder when opened
        self._name_max = 255
        self._count_lock = threading.Lock()
        self.files_written = 0
        self.bytes_written = 0

    def attach(self) -> OutputFolder:
        """Start writing into the folder, which must exist (another process created and locked it)."""
        self.root = self.root.resolve(strict=True)
        st = os.stat(self.root)
        self._identity = (st.st_dev, st.st_ino)
        self._name_max = _name_max(self.root)
        return self

    # targets and writes ------------------------------------------------------------------------------
    def target(self, rel: PurePosixPath) -> Path:
        """The absolute path for output `rel`, refused when it would leave the output folder."""
        if rel.is_absolute() or ".." in rel.parts:
            raise UnsafeOutput(f"output path {rel} would leave the output folder")
        for part in rel.parts:
            if len(os.fsencode(part)) > self._name_max:
                raise UnsafeOutput(f"output name {part} is {len(os.fsencode(part))} bytes long; the file system "
                                   f"allows {self._name_max}")  # fmt: skip
        path = self.root / rel
        if not path.resolve().is_relative_to(self.root):
            raise UnsafeOutput(f"output path {rel} resolves outside the output folder (symlink)")
        return path

    def write(self, path: Path, data: bytes, overwrite: bool) -> None:
        """Write `data` to `path` atomically; without `overwrite` an existing file is never replaced.

        Raises OutputFolderError when the folder as a whole cannot take it (full, read-only, gone)."""
        try:
            self._check_folder()
            self._write(path, data, overwrite)
        except OSError as exc:
            self._check_folder()  # gone meanwhile: that is the reason, not this file's error
            if exc.errno in _FOLDER_ERRNOS or (exc.errno in (errno.EACCES, errno.EPERM)
                                               and not os.access(self.root, os.W_OK)):  # fmt: skip
                raise OutputFolderError(f"cannot write to {self.root}: {exc.strerror or exc}") from exc
            raise
        with self._count_lock:
            self.files_written += 1
            self.bytes_written += len(data)

    def _check_folder(self) -> None:
        """Refuse to go on when the output folder was removed or replaced: mkdir would quietly make a new
        one, away from the journal the run is appending to."""
        try:
            st = os.stat(self.root)
        except OSError as exc:
            raise OutputFolderError(f"the output folder {self.root} is gone ({exc.strerror})") from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise OutputFolderError(f"the output folder {self.root} was replaced while acc was writing to it")

    def _write(self, path: Path, data: bytes, overwrite: bool) -> None:
        folder = self.root
        for part in path.parent.relative_to(self.root).parts:  # never the root itself: it must exist
            folder = folder / part
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
        if not path.parent.resolve().is_relative_to(self.root):  # a folder swapped for a symlink meanwhile
            raise UnsafeOutput(f"output folder {path.parent} resolves outside the output folder")
        partial = path.with_name(partial_name(path.name, self.tag))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the journal will say "done": the bytes must be on disk first
            if not overwrite and os.path.lexists(path):
                raise OutputExists(f"output {path} already exists (use --overwrite to replace it)")
            os.replace(partial, path)
            _fsync_folder(path.parent)  # make the rename itself durable before the journal says done
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


class OutputDir(OutputFolder):
    """The output folder of a run: OutputFolder's writes, plus the lock and the journal."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._lock: IO[str] | None = None
        self._journal: IO[str] | None = None
        self._done: dict[int, str] = {}  # key(output rel path) -> fingerprint of its finished result
        self._started: dict[int, str] = {}  # key -> fingerprint of a write begun but never journaled as ended
        self._journal_lock = threading.Lock()  # results are journaled by the runner, "writing" by workers
        self.stale_removed = 0  # temporary files of a killed run removed by open()

    # lifecycle ---------------------------------------------------------------------------------------
    def open(self) -> OutputDir:
        """Create and lock the folder, read the journal, and open it for appending."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()
        self._lock = open(self.root / LOCK_NAME, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise FolderBusy(f"another acc run is writing to {self.root}") from None
        self.attach()
        self._load_journal()
        self._journal = open(self.root / JOURNAL_NAME, "a", encoding="utf-8")
        if self._journal.tell() and _last_byte(self.root / JOURNAL_NAME) != b"\n":
            self._journal.write("\n")  # end a line a killed run cut short, so the next line stands alone
        self.stale_removed = self._remove_stale_partials()
        return self

    def _remove_stale_partials(self) -> int:
        """Delete the hidden temporary files (`.NAME.acc-partial`, regular files only, symlinks not
        followed) that a killed run left. Safe only under the lock: no other run writes here."""
        removed = 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                ours = name.startswith(".") and name.endswith(PARTIAL_SUFFIX)  # names checked before any stat
                if ours and path.is_file() and not path.is_symlink():
                    path.unlink()
                    removed += 1
        return removed

    def peek(self) -> OutputDir:
        """Read the journal of an existing folder without creating, locking or writing anything (dry runs)."""
        if self.root.is_dir():
            self.root = self.root.resolve()
            self._load_journal()
        else:
            self.root = self.root.absolute()
        return self

    def close(self) -> None:
        if self._journal:
            try:
                self._journal.flush()
                os.fsync(self._journal.fileno())
                self._journal.close()
            except OSError:
                pass  # a full disk: the lines that made it are whole, a cut one is skipped when read
            self._journal = None
        if self._lock:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def __enter__(self) -> OutputDir:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # journal -----------------------------------------------------------------------------------------
    def _load_journal(self) -> None:
        path = self.root / JOURNAL_NAME
        if not path.exists():
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    out, status = entry["output"], entry["status"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a killed run: that result is simply redone
                if not isinstance(out, str):
                    continue  # an input refused before it had an output name (missing, clashing, unsafe)
                key = path_key(out)
                if status == "writing":
                    self._started[key] = entry.get("fingerprint", "")
                    continue
                self._started.pop(key, None)
                if status == "ok":
                    self._done[key] = entry.get("fingerprint", "")
                else:
                    self._done.pop(key, None)

    def is_done(self, rel: PurePosixPath, fp: str) -> bool:
        """Whether the journal holds a finished result for this output from the same input and model."""
        return self._done.get(path_key(str(rel))) == fp and (self.root / rel).is_file()

    def was_started(self, rel: PurePosixPath, fp: str) -> bool:
        """Whether a killed run had begun writing this output for the same input and model: the file
        there, if any, is acc's own (complete, since only whole files are renamed into place)."""
        return self._started.get(path_key(str(rel))) == fp

    def record(
        self, rel: PurePosixPath | None, source: str, status: str, reason: str | None, fp: str = "",
        warnings: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        entry: dict[str, Any] = {"output": str(rel) if rel else None, "input": source, "status": status}
        if reason:
            entry["reason"] = reason
        if warnings:
            entry["warnings"] = list(warnings)
        if fp:
            entry["fingerprint"] = fp
        entry["time"] = round(time.time(), 3)
        assert self._journal is not None, "output folder is not open"
        with self._journal_lock:
            try:
                self._journal.write(json.dumps(entry) + "\n")
                self._journal.flush()  # one write per line: a kill leaves at most one cut line, which loading skips
            except OSError as exc:
                raise OutputFolderError(f"cannot write the journal in {self.root}: {exc.strerror or exc}") from exc

def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
