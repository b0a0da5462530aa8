"""The memory budget: how many bytes of photos the runner may hold at once, whatever their sizes.

A count of photos in flight bounds memory only when photos are alike; four 99 MP scans need more than
a machine of 24 GB has with some backends. So each photo is charged, before its pixels exist, what it
will hold at its peak (its encoded bytes plus the backend's estimate for its size, Backend.host_bytes),
and admitted only while the charges fit the budget. Admission is in input order, so a large photo is
not overtaken forever by small ones, and a photo larger than the whole budget still runs: alone, once
nothing else is held.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """'6G', '512M', '1.5g', '800000000' -> bytes (binary units: 1K = 1024). Raises ValueError."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
        if not match:
            raise ValueError(f"not a size: {text!r} (examples: 6G, 512M, 800000000)")
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return value


def machine_memory() -> int:
    """Physical memory, or the cgroup's limit when this process runs under a smaller one (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_limit() -> int:
    """Half of the machine's memory: the rest stays for the system, the page cache and other programs."""
    return machine_memory() // 2


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemoryBudget:
    """Ordered admission of charges against `limit` bytes (module docstring).

    acquire(seq, cost) blocks until it is seq's turn (seq counts up from 0, one per photo, in input
    order) and the cost fits, or nothing is held; release(cost) gives a charge back. A number that
    will never be acquired (a photo that failed before its turn) must be passed to skip(seq).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._next = 0
        self._skipped: set[int] = set()
        self._waiting: set[int] = set()
        self._cond = threading.Condition()

    def acquire(self, seq: int, cost: int) -> None:
        with self._cond:
            self._waiting.add(seq)
            try:
                self._cond.wait_for(lambda: seq == self._next and (self.held == 0 or self.held + cost <= self.limit))
            finally:
                self._waiting.discard(seq)
            self.held += cost
            self.peak = max(self.peak, self.held)
            self._advance()

    def try_acquire(self, seq: int, cost: int) -> bool:
        """acquire without waiting: True when it was seq's turn and the cost fitted (then it is held)."""
        with self._cond:
            if seq != self._next or self.held + cost > self.limit:
                return False
            self.held += cost
            self.peak = max(self.peak, self.held)
            self._advance()
            return True

    def skip(self, seq: int) -> None:
        with self._cond:
            if seq == self._next:
                self._advance()
            elif seq > self._next:
                self._skipped.add(seq)

    def release(self, cost: int) -> None:
        with self._cond:
            self.held -= cost
            self._cond.notify_all()

    def blocked(self) -> bool:
        """Whether a photo is waiting for memory that only photos already admitted can give back."""
        with self._cond:
            return self._next in self._waiting and self.held > 0

    def _advance(self) -> None:
        self._next += 1
        while self._next in self._skipped:
            self._skipped.discard(self._next)
            self._next += 1
        self._cond.notify_all()
