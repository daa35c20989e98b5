"""Progress bars that work in a terminal (rich) and in logs (Prefect workers, CI)."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
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


_LIVE: dict = {"prog": None, "users": 0}  # one rich display, shared by concurrent stages
_LIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def progress_bar(desc: str, total: int, unit: str = "items") -> Iterator[_Bar]:
    """A rich progress bar on a TTY, periodic log lines elsewhere (Prefect picks those up).

    Stages running at the same time (``ctrl run`` runs independent steps concurrently) share one
    rich display, one bar each: rich allows a single live display per process."""
    bar = _Bar(desc, total, unit)
    if not sys.stderr.isatty():
        yield bar
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    with _LIVE_LOCK:
        if _LIVE["prog"] is None:
            _LIVE["prog"] = Progress(TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TimeRemainingColumn(), transient=False)
            _LIVE["prog"].start()
        _LIVE["users"] += 1
        prog = _LIVE["prog"]
        task = prog.add_task(desc, total=total)
    bar._rich = (prog, task)
    try:
        yield bar
    finally:
        with _LIVE_LOCK:
            _LIVE["users"] -= 1
            if _LIVE["users"] == 0:
                prog.stop()
                _LIVE["prog"] = None
