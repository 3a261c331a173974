"""Progress: jobs report through a context-local sink; off a terminal, one line per interval per step."""

from __future__ import annotations

import contextvars
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from jobs import progress
from worker.progress import LogSink, progress_line, reporting


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_log_sink_emits_at_most_once_per_interval_and_when_a_step_ends() -> None:
    lines: list[str] = []
    clock = Ticks()
    sink = LogSink(lambda *a: lines.append(progress_line(*a)), interval=10.0, clock=clock)
    with progress.watching(sink):
        progress.start("pull pos: stores", 40)
        for i in range(40):
            clock.t = i  # one store a second
            progress.advance("pull pos: stores")
        progress.finish("pull pos: stores")
    assert lines == [
        "pull pos: stores: 11 of 40",
        "pull pos: stores: 21 of 40",
        "pull pos: stores: 31 of 40",
        "pull pos: stores: 40 of 40 (done)",
    ]


def test_pool_threads_with_the_callers_context_report_to_its_sink() -> None:
    lines: list[str] = []
    sink = LogSink(lambda *a: lines.append(progress_line(*a)), interval=1e9)
    with progress.watching(sink):
        progress.start("plan qbr: accounts", 8)
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: ctx.copy().run(progress.advance, "plan qbr: accounts"), range(8)))
        progress.finish("plan qbr: accounts")
    assert lines == ["plan qbr: accounts: 8 of 8 (done)"]
    progress.advance("plan qbr: accounts")  # nobody watching: nothing happens, nothing fails


def test_a_process_wide_sink_serves_threads_without_a_context() -> None:
    lines: list[str] = []
    progress.install(LogSink(lambda *a: lines.append(progress_line(*a)), interval=1e9))
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                lambda: (progress.start("w", None), progress.advance("w", 3), progress.finish("w"))
            ).result()
    finally:
        progress.install(None)
    assert lines == ["w: 3 (done)"]


def test_on_a_terminal_the_steps_show_as_bars_and_leave_no_log_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with reporting():
        progress.start("pull pos: stores", 3)
        for _ in range(3):
            progress.advance("pull pos: stores")
        progress.finish("pull pos: stores")
        progress.advance("Salesforce writes: records", 5)  # a step nobody started still shows
    captured = capsys.readouterr()
    assert captured.out == "" and '"event": "progress"' not in captured.err
