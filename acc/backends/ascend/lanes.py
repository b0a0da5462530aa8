"""Lanes: a stream with its own DVPP channel, lent to one worker thread at a time.

Work is queued on a lane's stream and completes at lane.sync(); what the queued work uses (picture
descriptions, data buffers, device memory) is released only after that, by callbacks registered with
lane.after_sync(). More than one lane lets DVPP work on several channels at once (how much that gains
is not documented for acl.media; docs/ascend.md), and keeps one thread's synchronize from waiting on
another's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from acc.backends.ascend.dvpp import Dvpp
from acc.backends.ascend.memory import MemoryPool
from acc.backends.ascend.runtime import Runtime

MAX_LANES = 4


class Lane:
    def __init__(self, runtime: Runtime, pool: MemoryPool) -> None:
        self.acl = runtime.acl
        self.stream = self.acl("rt.create_stream")
        runtime.defer(self.acl, "rt.destroy_stream", self.stream)
        self.dvpp = Dvpp(runtime, pool)
        self._after: list[tuple[Callable[..., Any], tuple]] = []
        runtime.defer(self._flush)  # runs first at close: releases still waiting for a sync go before the stream

    def _flush(self) -> None:
        if self._after:
            self.sync()

    def after_sync(self, release: Callable[..., Any], *args: Any) -> None:
        self._after.append((release, args))

    @contextmanager
    def holding(self, release: Callable[..., Any], *args: Any) -> Iterator[None]:
        """Use something queued work needs in the block; at its end the work has synced (the block syncs),
        so it is released at once; if the block fails, only after the lane is drained."""
        try:
            yield
        except BaseException:
            self.after_sync(release, *args)
            raise
        release(*args)

    def sync(self) -> None:
        """Wait for everything queued, then release what it used (also when it failed)."""
        try:
            self.acl("rt.synchronize_stream", self.stream)
        finally:
            after, self._after = self._after, []
            for release, args in after:
                release(*args)


class LanePool:
    def __init__(self, runtime: Runtime, pool: MemoryPool, max_lanes: int = MAX_LANES) -> None:
        self.runtime = runtime
        self.pool = pool
        self.max_lanes = max_lanes
        self._idle: list[Lane] = []
        self._count = 0
        self._cond = threading.Condition()

    @contextmanager
    def lane(self) -> Iterator[Lane]:
        """A lane for this thread's work; queued work left by a failure is drained before it is lent again."""
        self.runtime.bind_thread()
        with self._cond:
            while not self._idle and self._count >= self.max_lanes:
                self._cond.wait()
            if self._idle:
                lane = self._idle.pop()
            else:
                self._count += 1
                lane = None
        if lane is None:
            try:
                lane = Lane(self.runtime, self.pool)
            except BaseException:
                with self._cond:
                    self._count -= 1
                    self._cond.notify()
                raise
        try:
            yield lane
        except BaseException:
            with suppress(Exception):  # the failure being raised already says what went wrong
                lane.sync()
            raise
        finally:
            with self._cond:
                self._idle.append(lane)
                self._cond.notify()
