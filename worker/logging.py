"""Structured logging: named events with bound context, JSON off a TTY, secrets redacted everywhere."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_SENSITIVE_KEYS = ("password", "secret", "token", "authorization", "api_key", "apikey", "private_key")
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so any log event containing them shows *** instead."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: ("***" if _is_sensitive(k) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _is_sensitive(key: Any) -> bool:
    k = str(key).lower()
    return any(s in k for s in _SENSITIVE_KEYS)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop sensitive keys' values and any registered secret inside values."""
    for key in list(event):
        event[key] = "***" if _is_sensitive(key) else _scrub(event[key])
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
