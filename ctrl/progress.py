"""Progress bars that work in a terminal (rich) and in logs (Prefect workers, CI)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Iterator

log = logging.getLogger("ctrl.progress")


class _Bar:
    def __init__(self, desc: str, total: int, unit: str) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n = 0
        self.t0 = time.monotonic()
        self._last_log = 0.0
        self.postfix = ""
        self._rich = None

    def advance(self, k: int = 1, **postfix: float) -> None:
        self.n += k
        if postfix:
            self.postfix = " ".join(f"{a}={b:.3g}" for a, b in postfix.items())
        if self._rich is not None:
            prog, task = self._rich
            prog.update(task, advance=k, description=f"{self.desc} {self.postfix}")
        now = time.monotonic()
        if self._rich is None and (now - self._last_log > 10 or self.n >= self.total):
            self._last_log = now
            rate = self.n / max(now - self.t0, 1e-9)
            log.info("%s: %d/%d %s (%.2f/s) %s", self.desc, self.n, self.total, self.unit, rate, self.postfix)


@contextlib.contextmanager
def progress_bar(desc: str, total: int, unit: str = "items") -> Iterator[_Bar]:
    """A rich progress bar on a TTY, periodic log lines elsewhere (Prefect picks those up)."""
    bar = _Bar(desc, total, unit)
    if sys.stderr.isatty():
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), transient=False) as prog:
            task = prog.add_task(desc, total=total)
            bar._rich = (prog, task)
            yield bar
    else:
        yield bar
