"""The source catalog: built-in kinds registered, `[[sources]]` validated (all errors listed), built."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from connectors import csv_folder, dutchie, metrc, platform, rest, sql, treez
from connectors.base import Runtime, Source, SourceError, UnknownConnectorError, lookup, registered
from connectors.bounds import PlausibleError, load_plausible
from connectors.config import SourceConfig

BUILTIN_MODULES = (
    csv_folder,
    dutchie,
    metrc,
    platform,
    rest,
    sql,
    treez,
)  # importing them registers the kinds


class SourceConfigError(ValueError):
    """Bad `[[sources]]` entries: every problem, each with file and key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _where(err: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"] if p != "__root__")


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if got is not None and not isinstance(got, dict | list) and err["type"] != "value_error":
        return f"{msg} (got {got!r})"
    return msg


def parse_sources(
    raw: Sequence[Mapping[str, Any]],
    origin: str = "config",
    env: Mapping[str, str] | None = None,
    *,
    check_secrets: bool = True,
) -> tuple[SourceConfig, ...]:
    """Validate `[[sources]]`: the common keys, the kind, the kind's options and (optionally) secrets."""
    env = os.environ if env is None else env
    problems: list[str] = []
    configs: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        label = f"{origin}: sources[{i}]" + (f" ({name})" if isinstance(name, str) else "")
        try:
            cfg = SourceConfig.model_validate(entry)
        except ValidationError as exc:
            problems.extend(
                f"{label}.{_where(e)}: {_message(e)}" if _where(e) else f"{label}: {_message(e)}"
                for e in exc.errors()
            )
            continue
        if cfg.name in seen:
            problems.append(f"{label}.name: {cfg.name!r} is already used by sources[{seen[cfg.name]}]")
        seen.setdefault(cfg.name, i)
        try:
            cls = lookup(cfg.kind)
        except UnknownConnectorError as exc:
            problems.append(f"{label}.kind: {exc}")
            continue
        options_model = getattr(cls, "options_model", None)
        if options_model is not None:
            try:
                options = options_model.model_validate(cfg.options)
            except ValidationError as exc:
                problems.extend(f"{label}.options.{_where(e)}: {_message(e)}" for e in exc.errors())
                continue
            if cfg.kind == "rest":
                try:
                    rest.resolve_spec(options)
                except SourceError as exc:
                    problems.append(f"{label}.options.spec: {exc}")
        try:
            load_plausible(cfg.limits.plausible_file)
        except PlausibleError as exc:
            problems.append(f"{label}.limits.plausible_file: {exc}")
        if check_secrets and cfg.enabled:
            problems.extend(f"{label}.{p}" for p in cfg.auth.problems(env))
        configs.append(cfg)
    if problems:
        raise SourceConfigError(problems)
    return tuple(configs)


def build_source(cfg: SourceConfig, runtime: Runtime | None = None) -> Source:
    """The source for a config entry; an unknown kind lists the valid ones."""
    factory = lookup(cfg.kind)
    source: Source = factory(cfg, runtime)
    return source


def build_sources(configs: Sequence[SourceConfig], runtime: Runtime | None = None) -> list[Source]:
    return [build_source(cfg, runtime) for cfg in configs if cfg.enabled]


__all__ = ["SourceConfigError", "build_source", "build_sources", "parse_sources", "registered"]
