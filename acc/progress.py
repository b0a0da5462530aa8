"""Progress for long runs: a bar with images/s on a terminal, plain periodic lines elsewhere.

Every failure gets one line on stderr, `acc: failed: <input>: <reason>`, and every decoder warning
one line `acc: warning: <input>: <what the decoder said>`, in both modes. Off a terminal, progress is
a line every `interval` seconds that scripts can parse:
`acc: progress done=120 total=1000 ok=117 failed=2 skipped=1 rate=8.3/s`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from acc.pipeline import Outcome, Summary


class Progress:
    def __init__(self, total: int | None, stream: TextIO = sys.stderr, interval: float = 10.0) -> None:
        self.summary = Summary()  # what this progress was told: one count per outcome it was given
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
        self.summary.add(outcome)
        if outcome.status == "failed":
            self._write(f"acc: failed: {outcome.display}: {outcome.reason}")
        for warning in outcome.warnings:
            self._write(f"acc: warning: {outcome.display}: {warning}")
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

    def notice(self, text: str) -> None:
        """A one-line notice from the run (what a stopping run waits for, a library's stray message)."""
        self._write(f"acc: {text}")

    def _write(self, text: str) -> None:
        text = one_line(text)
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    r"""`text` as one printable line: control characters escaped (a file may be named 'a\nb.jpg'), and
    bytes that are not UTF-8 in a file name (decoded by Python as surrogates) shown as \\xNN."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # surrogateescape: the raw byte 0x80..0xFF
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def summary_lines(summary: Summary) -> list[str]:
    """The end-of-run report: counts and speed, then what was passed over and why the run stopped early."""
    rate = summary.ok / summary.seconds if summary.seconds > 0 else 0.0
    mp = summary.pixels / 1e6 / summary.seconds if summary.seconds > 0 else 0.0
    warned = f" ({summary.warned} with warnings)" if summary.warned else ""
    lines = [
        f"{summary.ok} colorized{warned}, {summary.skipped} skipped (done before), {summary.failed} failed "
        f"in {summary.seconds:.1f} s ({rate:.2f} images/s, {mp:.1f} MP/s)"
        + (" - interrupted, run again to resume" if summary.interrupted else "")
    ]
    if summary.ignored:
        by_count = sorted(summary.ignored.items(), key=lambda kv: (-kv[1], kv[0]))
        kinds = ", ".join(f"{suffix} x{n}" for suffix, n in by_count)
        total = sum(summary.ignored.values())
        lines.append(f"ignored: {total} file{'s' if total != 1 else ''} of unsupported types ({kinds})")
    if summary.stopped:
        lines.append(f"stopped early: {summary.stopped}; {summary.bytes_written / 1e6:.1f} MB written in this run"
                     f"{f', {summary.unfinished} photo(s) left unfinished' if summary.unfinished else ''}"
                     " - run again to resume")  # fmt: skip
    return lines
