"""What a person or a log shipper sees of a long run: a rich progress bar on a terminal, otherwise one
`progress` log line per step every PROGRESS_LOG_SECONDS (and when the step ends)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jobs import progress as job_progress

log = structlog.get_logger(__name__)

PROGRESS_LOG_SECONDS = 10.0


class LogSink:
    """Progress as periodic one-line events: `progress task=… done=… total=…`, at most one per interval."""

    def __init__(
        self,
        emit: Callable[[str, int, int | None, bool], None] | None = None,
        interval: float = PROGRESS_LOG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit or _log_event
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # (task, run id) -> [done, total, last emitted at]: the scheduler runs several jobs at once
        self._tasks: dict[tuple[str, str], list[Any]] = {}

    def start(self, task: str, total: int | None) -> None:
        with self._lock:
            self._tasks[_key(task)] = [0, total, self._clock()]

    def advance(self, task: str, n: int = 1) -> None:
        with self._lock:
            state = self._tasks.setdefault(_key(task), [0, None, self._clock()])
            state[0] += n
            now = self._clock()
            due = now - state[2] >= self._interval
            if due:
                state[2] = now
            done, total = state[0], state[1]
        if due:
            self._emit(task, done, total, False)

    def finish(self, task: str) -> None:
        with self._lock:
            state = self._tasks.pop(_key(task), None)
        if state is not None:
            self._emit(task, state[0], state[1], True)


def _key(task: str) -> tuple[str, str]:
    return task, str(structlog.contextvars.get_contextvars().get("run_id", ""))


def _log_event(task: str, done: int, total: int | None, finished: bool) -> None:
    log.info("progress", task=task, done=done, total=total, finished=finished)


def progress_line(task: str, done: int, total: int | None, finished: bool) -> str:
    of = f" of {total:,}" if total is not None else ""
    return f"{task}: {done:,}{of}{' (done)' if finished else ''}"


class BarSink:
    """Progress bars on the terminal (stderr), one per step, removed when the step ends."""

    def __init__(self) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._ids: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self, task: str, total: int | None) -> None:
        with self._lock:
            if task in self._ids:
                self.bars.reset(self._ids[task], total=total)
            else:
                self._ids[task] = self.bars.add_task(task, total=total)

    def advance(self, task: str, n: int = 1) -> None:
        with self._lock:
            if task not in self._ids:
                self._ids[task] = self.bars.add_task(task, total=None)
            self.bars.advance(self._ids[task], n)

    def finish(self, task: str) -> None:
        with self._lock:
            tid = self._ids.pop(task, None)
        if tid is not None:
            self.bars.remove_task(tid)


@contextmanager
def reporting(emit: Callable[[str, int, int | None, bool], None] | None = None) -> Iterator[None]:
    """Show the progress of the runs inside the block: bars when stderr is a terminal, else `emit`
    (default: a `progress` log event) every PROGRESS_LOG_SECONDS per step."""
    if sys.stderr.isatty():
        sink = BarSink()
        with sink.bars, job_progress.watching(sink):
            yield
        return
    with job_progress.watching(LogSink(emit)):
        yield
