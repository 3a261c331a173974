"""Structured logging: named events with bound context, JSON off a TTY, secrets redacted everywhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from connectors import redact as redaction


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so any log line, stored error or Salesforce write shows *** instead."""
    redaction.register(values)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the shared redaction step (connectors/redact.py) over every event value."""
    for key in list(event):
        event[key] = redaction.MASK if redaction.is_sensitive_key(key) else redaction.value(event[key])
    return event


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time, so a swapped stream (a test's capture) is followed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def processors(renderer: Any) -> list[Any]:
    """The processor chain every command logs through; redaction runs last before rendering.

    The one place to add a processor that must see every event (e.g. a stricter redaction step).
    """
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
        renderer,
    ]


def use_json(fmt: str, stream: TextIO | _CurrentStderr) -> bool:
    """`json` and `console` as asked; `auto`: console lines on a terminal, JSON lines otherwise."""
    return fmt == "json" or (fmt == "auto" and not stream.isatty())


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Log events to stderr (stdout carries results): console lines on a TTY, JSON lines otherwise."""
    out: TextIO | _CurrentStderr = stream if stream is not None else _CurrentStderr()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json(fmt, out)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=processors(renderer),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
