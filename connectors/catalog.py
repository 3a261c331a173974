"""The source catalog: built-in kinds registered, `[[sources]]` validated (all errors listed), built."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from configfiles import FileIssue, item_label, keyed_issue, pydantic_issues
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


def parse_sources(
    raw: Sequence[Mapping[str, Any]],
    origin: str = "config",
    env: Mapping[str, str] | None = None,
    *,
    check_secrets: bool = True,
) -> tuple[SourceConfig, ...]:
    """Validate `[[sources]]`: the common keys, the kind, the kind's options and (optionally) secrets."""
    env = os.environ if env is None else env
    issues: list[FileIssue] = []
    configs: list[SourceConfig] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(raw):
        where = item_label("sources", i, entry)
        try:
            cfg = SourceConfig.model_validate(entry)
        except ValidationError as exc:
            issues += pydantic_issues(origin, exc, model=SourceConfig, where=where)
            continue
        if cfg.name in seen:  # two entries of one name: named by position, the name says nothing
            used = f"{cfg.name!r} is already used by {seen[cfg.name]}"
            issues.append(FileIssue(origin, f"sources[{i}]", "name", used))
        seen.setdefault(cfg.name, f"sources[{i}]")
        try:
            cls = lookup(cfg.kind)
        except UnknownConnectorError as exc:
            issues.append(FileIssue(origin, where, "kind", str(exc)))
            continue
        options_model = getattr(cls, "options_model", None)
        if options_model is not None:
            try:
                options = options_model.model_validate(cfg.options)
            except ValidationError as exc:
                issues += pydantic_issues(origin, exc, model=options_model, where=where, prefix=("options",))
                continue
            if cfg.kind == "rest":
                try:
                    rest.resolve_spec(options)
                except rest.SpecError as exc:
                    issues += exc.issues
                except SourceError as exc:
                    issues.append(FileIssue(origin, where, "options.spec", str(exc)))
        try:
            load_plausible(cfg.limits.plausible_file)
        except PlausibleError as exc:
            issues.append(FileIssue(origin, where, "limits.plausible_file", str(exc)))
        if check_secrets and cfg.enabled:
            issues += [keyed_issue(origin, p, where=where) for p in cfg.auth.problems(env)]
        configs.append(cfg)
    if issues:
        raise SourceConfigError([str(i) for i in issues])
    return tuple(configs)


def build_source(cfg: SourceConfig, runtime: Runtime | None = None) -> Source:
    """The source for a config entry; an unknown kind lists the valid ones."""
    factory = lookup(cfg.kind)
    source: Source = factory(cfg, runtime)
    return source


def build_sources(configs: Sequence[SourceConfig], runtime: Runtime | None = None) -> list[Source]:
    return [build_source(cfg, runtime) for cfg in configs if cfg.enabled]


__all__ = ["SourceConfigError", "build_source", "build_sources", "parse_sources", "registered"]
