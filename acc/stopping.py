"""How `acc` stops on Ctrl-C, SIGTERM or SIGHUP: cleanly the first time, at once the second.

The first signal raises KeyboardInterrupt in the main thread: the runner stops taking work, finishes
what is being written (waiting a bounded time, acc/pipeline.py DRAIN_SECONDS) and journals it. A
second signal ends the process within moments, exit status 130, whatever any thread is blocked in:
the journal holds whole lines (a cut one is skipped when read) and outputs appear only by rename,
so nothing half-written stands under a final name.

Python runs signal handlers only in the main thread, between bytecodes; a main thread blocked in a
system call or in C code would delay them. So the C-level handler's wake-up byte (signal.set_wakeup_fd)
is read by a watchdog thread, which counts signals and exits on the second, and exits too when the
first one's clean stop overruns its bound.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

EXIT_INTERRUPTED = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Install in the main thread for the duration of a command (a context manager)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace  # seconds the clean stop may take before the watchdog ends the process
        self._raised = False
        self._previous: dict[int, object] = {}
        self._wakeup_r = self._wakeup_w = -1
        self._old_wakeup = -1

    def __enter__(self) -> StopSignals:
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_w, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        threading.Thread(target=self._watch, name="acc-stop-watchdog", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self._wakeup_w)  # the watchdog reads end of file and ends

    def _handle(self, signum: int, frame: object) -> None:
        if not self._raised:  # later signals are the watchdog's
            self._raised = True
            raise KeyboardInterrupt

    def _watch(self) -> None:
        first: float | None = None
        while True:
            timeout = None if first is None else max(0.0, first + self.grace - time.monotonic())
            if not _readable(self._wakeup_r, timeout):
                _exit_now(f"acc: the clean stop took more than {self.grace:g} s; stopped")
            try:
                data = os.read(self._wakeup_r, 64)
            except OSError:
                data = b""
            if not data:
                os.close(self._wakeup_r)
                return
            if any(byte in SIGNALS for byte in data):
                if first is not None or sum(byte in SIGNALS for byte in data) > 1:
                    _exit_now("acc: interrupted again; stopped at once (unfinished photos are redone next run)")
                first = time.monotonic()


def _readable(fd: int, timeout: float | None) -> bool:
    import select

    ready, _, _ = select.select([fd], [], [], timeout)
    return bool(ready)


def _exit_now(message: str) -> None:
    try:
        os.write(sys.stderr.fileno(), (message + "\n").encode())
    except (OSError, ValueError):
        pass
    os._exit(EXIT_INTERRUPTED)
