"""Progress of each phase of a run: done/total, rate and time left.

Each phase (evaluation, the front, writing the tables, the report) has its own `Progress`. The
rate counts only the work done since it started: points found already stored (`resumed`)
advance it but not the rate. Nothing is shown during the first two seconds (short runs print
nothing), nor when asked to be quiet. Where it is shown:

* a terminal or a Jupyter notebook: a tqdm bar (`tqdm.auto`: a widget in notebooks);
* anything else (a log file, a CI job): a plain line every 10 seconds, no carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Any

_DELAY_S = 2.0  # show nothing for runs shorter than this
_EVERY_S = 0.2  # redraw a bar at most this often
_LOG_EVERY_S = 10.0  # a log line at most this often


def _in_notebook() -> bool:
    """Running in a Jupyter kernel (stderr there is no terminal, but a bar shows)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """One phase's progress: `update(n)` as work is done, `resumed(n)` for work found done,
    `close()` at the end."""

    def __init__(self, total: int, label: str = "points", quiet: bool = False, stream=None):
        self.total, self.label, self.done, self.skipped = total, label, 0, 0
        self.stream = stream or sys.stderr
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.mode = None if quiet else ("bar" if tty or _in_notebook() else "log")
        self.start = time.perf_counter()
        self._last = 0.0
        self._drawn = False
        self._bar: Any = None

    @property
    def enabled(self) -> bool:
        """Shown as a bar (a terminal or a notebook)."""
        return self.mode == "bar"

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        every = _EVERY_S if self.mode == "bar" else _LOG_EVERY_S
        if self.mode and now - self.start > _DELAY_S and now - self._last > every:
            self._last = now
            self._draw(now)

    def resumed(self, n: int) -> None:
        """Count `n` items done before this run (they do not enter the rate)."""
        self.skipped += n
        self.update(n)

    def status(self, now: float | None = None) -> str:
        """'950/1,000 points 5/s, 10 s left': the rate over the work of this run only."""
        elapsed = (time.perf_counter() if now is None else now) - self.start
        rate = (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return f"{self.done:,}/{self.total:,} {self.label} {rate:,.0f}/s, {left:,.0f} s left"

    def _draw(self, now: float) -> None:
        if self.mode == "log":
            self.stream.write(f"dse: {self.status(now)}\n")
            self.stream.flush()
        else:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.total, file=self.stream, ascii=" #", mininterval=0,
                                 bar_format="{bar:30}| {desc}", leave=True)  # fmt: skip
            self._bar.n = self.done
            self._bar.set_description_str(self.status(now), refresh=True)
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._draw(time.perf_counter())
            if self._bar is not None:
                self._bar.close()
