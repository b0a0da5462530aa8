"""What the C libraries under acc print (libjpeg, libpng, libtiff, ...), caught and told per file.

Decoders report damaged data by writing to the process's stderr (file descriptor 2) and carrying on:
`Corrupt JPEG data: 335 extraneous bytes before marker 0xd9` names no file, and the photo decodes as
if nothing happened. While a LibraryMessages is installed, fd 2 is a pipe that acc reads; Python's own
sys.stderr keeps the terminal (a duplicate of the old fd 2). Each decode runs inside watch(); text that
arrives while exactly one watch is open belongs to that photo. When several photos were decoding at
once the text cannot be told apart: each of them is marked ambiguous and decoded once more alone
(exclusive()), which repeats its own messages and nobody else's. Text that arrives while nothing is
watched is passed to `stray` (acc prints it in its own form), so no raw library line reaches the
terminal.
"""

from __future__ import annotations

import errno
import os
import re
import select
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Watch:
    """The messages of one watched call: `text` (raw bytes, decoded), or `ambiguous` when text arrived
    while other calls were watched too."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.ambiguous = False

    @property
    def messages(self) -> list[str]:
        return [describe(line) for line in self.raw.decode("utf-8", "replace").splitlines() if line.strip()]


class LibraryMessages:
    """Route fd 2 through a pipe and attribute what arrives to the watched calls (module docstring)."""

    def __init__(self, stray: Callable[[str], None] | None = None) -> None:
        self.stray = stray or (lambda text: print(f"acc: note: a library printed: {text}", file=sys.stderr))
        self._lock = threading.Lock()  # guards the pipe reads and the sets below
        self._active: set[Watch] = set()
        self._touched: set[Watch] = set()  # watches open at any time since the pipe was last read
        self._exclusive = threading.Condition()
        self._shared = 0  # watches open in shared mode
        self._alone = False  # an exclusive watch is open or waiting
        self._saved_fd: int | None = None
        self._saved_stderr: TextIO | None = None
        self._read_fd = -1
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()

    # lifecycle ---------------------------------------------------------------------------------------
    def install(self) -> LibraryMessages:
        global _installed
        if _installed is not None:
            raise RuntimeError("library messages are captured already")
        _installed = self
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        if _writes_to_fd2(sys.stderr):
            # Python's own messages (acc's lines, tracebacks, the progress bar) keep going to the terminal.
            self._saved_stderr = sys.stderr
            sys.stderr = open(os.dup(self._saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._read_fd = read_fd
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_forever, name="acc-libmessages", daemon=True)
        self._reader.start()
        return self

    def uninstall(self) -> None:
        global _installed
        if self._saved_fd is None:
            return
        _installed = None
        os.dup2(self._saved_fd, 2)  # the pipe's write end is closed: the reader sees end of file
        os.close(self._saved_fd)
        self._saved_fd = None
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2)
        with self._lock:
            self._drain()
        os.close(self._read_fd)
        self._read_fd = -1
        if self._saved_stderr is not None:
            sys.stderr.close()
            sys.stderr = self._saved_stderr
            self._saved_stderr = None

    def __enter__(self) -> LibraryMessages:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # watching ----------------------------------------------------------------------------------------
    @contextmanager
    def watch(self) -> Iterator[Watch]:
        """Attribute what libraries print during the block to it, shared with other watches."""
        with self._exclusive:
            self._exclusive.wait_for(lambda: not self._alone)
            self._shared += 1
        try:
            with self._watching() as w:
                yield w
        finally:
            with self._exclusive:
                self._shared -= 1
                self._exclusive.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[Watch]:
        """Like watch(), but alone: waits for open watches to end and keeps new ones out meanwhile."""
        with self._exclusive:
            self._exclusive.wait_for(lambda: not self._alone)
            self._alone = True
            self._exclusive.wait_for(lambda: self._shared == 0)
        try:
            with self._watching() as w:
                yield w
        finally:
            with self._exclusive:
                self._alone = False
                self._exclusive.notify_all()

    @contextmanager
    def _watching(self) -> Iterator[Watch]:
        w = Watch()
        with self._lock:
            self._drain()  # what came before belongs to others
            self._active.add(w)
            self._touched.add(w)
        try:
            yield w
        finally:
            with self._lock:
                self._drain()  # a library's write is in the pipe before its call returns: all of w's is read
                self._active.discard(w)
                self._touched.discard(w)

    # the pipe ----------------------------------------------------------------------------------------
    def _read_forever(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._read_fd], [], [], 0.2)
            except (OSError, ValueError):
                return
            if ready:
                with self._lock:
                    if self._drain() is None:
                        return

    def _drain(self) -> bytes | None:
        """Read what is in the pipe and attribute it; None at end of file. Call with _lock held."""
        chunks = []
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EBADF:
                    return None
                raise
            if not chunk:
                if chunks:
                    self._attribute(b"".join(chunks))
                return None
            chunks.append(chunk)
        data = b"".join(chunks)
        if data:
            self._attribute(data)
        return data

    def _attribute(self, data: bytes) -> None:
        owners = self._touched
        self._touched = set(self._active)
        if len(owners) == 1:
            next(iter(owners)).raw += data
        elif owners:
            for w in owners:
                w.ambiguous = True
        else:
            for line in data.decode("utf-8", "replace").splitlines():
                if line.startswith("acc: "):  # acc's own line from a writer made before install
                    print(line, file=sys.stderr)
                elif line.strip():
                    self.stray(describe(line))


_installed: LibraryMessages | None = None


def installed() -> LibraryMessages | None:
    """The capture installed in this process, if any."""
    return _installed


@contextmanager
def captured(stray: Callable[[str], None] | None = None) -> Iterator[LibraryMessages]:
    """The capture installed already (the CLI installs one for every command), or one for the block."""
    if _installed is not None:
        yield _installed
        return
    with LibraryMessages(stray) as messages:
        yield messages


def _writes_to_fd2(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and ValueError
        return False


# What the libraries say, in acc's words: (pattern, replacement), first match wins.
_FORMS = [
    (re.compile(r"^Corrupt JPEG data: (.*)$"), r"corrupt JPEG data (\1)"),
    (re.compile(r"^Premature end of JPEG file$"), "truncated JPEG data (premature end of file)"),
    (re.compile(r"^libpng (?:warning|error): (.*)$"), r"PNG: \1"),
    (re.compile(r"^(?:TIFF\w*|_TIFF\w*): (?:Warning, )?(.*)$"), r"TIFF: \1"),
]


def describe(line: str) -> str:
    """One library line in acc's form: 'Corrupt JPEG data: X' -> 'corrupt JPEG data (X)'."""
    line = line.strip()
    for pattern, form in _FORMS:
        if pattern.match(line):
            return pattern.sub(form, line)
    return line
