"""A one-line progress bar on stderr: done/total, rate and time left.

Each phase of a run (evaluation, the front, writing the tables, the report) has its own bar. The
rate counts only the work done since the bar started: points found already stored (`resumed`)
advance the bar but not the rate.

It stays silent when asked to, when stderr is not a terminal, and during the first two seconds
of a run (short runs print nothing).
"""

from __future__ import annotations

import sys
import time

_DELAY_S = 2.0  # show nothing for runs shorter than this
_EVERY_S = 0.2  # redraw at most this often


class Progress:
    def __init__(self, total: int, label: str = "points", quiet: bool = False, stream=None):
        self.total, self.label, self.done, self.skipped = total, label, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = not quiet and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self._last = 0.0
        self._drawn = False

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and now - self.start > _DELAY_S and now - self._last > _EVERY_S:
            self._last = now
            self._draw(now)

    def resumed(self, n: int) -> None:
        """Count `n` items done before this run (they do not enter the rate)."""
        self.skipped += n
        self.update(n)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        self.stream.write(
            f"\r[{bar}] {self.done:,}/{self.total:,} {self.label} "
            f"{rate:,.0f}/s, {left:,.0f} s left   "
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
