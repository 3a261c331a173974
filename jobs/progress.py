"""Progress of the long steps (a pull's stores, a plan's accounts, the outbox's writes) for whoever watches.

Jobs report through these functions; the worker decides what a watcher sees (a progress bar on a
terminal, a periodic log line otherwise) by installing a sink for the run with `watching`. The sink is
context-local, so pool threads started with a copy of the context report to the same one, and a run
nobody watches (tests, benchmarks) pays one lookup per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Sink(Protocol):
    def start(self, task: str, total: int | None) -> None: ...

    def advance(self, task: str, n: int = 1) -> None: ...

    def finish(self, task: str) -> None: ...


_sink: ContextVar[Sink | None] = ContextVar("csm_sync_progress", default=None)
_process_sink: Sink | None = None  # for threads that do not inherit a context (the scheduler's pool)


def install(sink: Sink | None) -> None:
    """Report every run of this process without a sink of its own to `sink` (None: stop)."""
    global _process_sink  # noqa: PLW0603 - one process-wide default, set by the long-running mode
    _process_sink = sink


def _current() -> Sink | None:
    return _sink.get() or _process_sink


@contextmanager
def watching(sink: Sink | None) -> Iterator[None]:
    """Report progress to `sink` inside the block (None: to nobody)."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def start(task: str, total: int | None) -> None:
    """A step of `total` units begins (None: unknown); starting it again resets its count."""
    sink = _current()
    if sink is not None:
        sink.start(task, total)


def advance(task: str, n: int = 1) -> None:
    sink = _current()
    if sink is not None and n:
        sink.advance(task, n)


def finish(task: str) -> None:
    sink = _current()
    if sink is not None:
        sink.finish(task)
