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


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Console rendering on a TTY, one JSON object per line otherwise (what log shippers want)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def install(level: str = "info", fmt: str = "auto") -> None:
    """What every CLI command calls once its settings are known: logs on stderr through `redact`.

    A program that embeds the CLI and configured structlog itself (the tests do, with `configure`)
    keeps its own configuration.
    """
    if not structlog.is_configured():
        configure(level, fmt)
