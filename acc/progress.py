"""Progress for long runs: a bar with images/s on a terminal, plain periodic lines elsewhere.

Every failure gets one line on stderr, `acc: failed: <input>: <reason>`, in both modes. Off a
terminal, progress is a line every `interval` seconds that scripts can parse:
`acc: progress done=120 total=1000 ok=117 failed=2 skipped=1 rate=8.3/s`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from acc.pipeline import Outcome, Summary


class Progress:
    def __init__(
        self, summary: Summary, total: int | None, stream: TextIO = sys.stderr, interval: float = 10.0
    ) -> None:
        self.summary = summary  # the runner's, read here, never counted twice
        self.total = total
        self.stream = stream
        self.interval = interval
        self._start = time.perf_counter()
        self._last_line = self._start
        self._bar = None
        if stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="img", file=stream, dynamic_ncols=True, smoothing=0.1)

    def __call__(self, outcome: Outcome) -> None:
        if outcome.status == "failed":
            self._write(f"acc: failed: {outcome.display}: {outcome.reason}")
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(failed=self.summary.failed, refresh=False)
            return
        now = time.perf_counter()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._write(self.line())

    def line(self) -> str:
        s = self.summary
        done = s.ok + s.failed + s.skipped
        rate = s.ok / max(time.perf_counter() - self._start, 1e-9)
        total = self.total if self.total is not None else "?"
        return f"acc: progress done={done} total={total} ok={s.ok} failed={s.failed} skipped={s.skipped} rate={rate:.1f}/s"

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def summary_line(summary: Summary) -> str:
    rate = summary.ok / summary.seconds if summary.seconds > 0 else 0.0
    mp = summary.pixels / 1e6 / summary.seconds if summary.seconds > 0 else 0.0
    text = (
        f"{summary.ok} colorized, {summary.skipped} skipped (done before), {summary.failed} failed "
        f"in {summary.seconds:.1f} s ({rate:.2f} images/s, {mp:.1f} MP/s)"
    )
    return text + (" - interrupted, run again to resume" if summary.interrupted else "")
