"""The Account fields a lifecycle job reads or writes, checked against the org before the job runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mappings.expressions import did_you_mean
from mappings.issues import MappingIssue


def _paths(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _paths(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


def check_account_fields(
    label: str, raw: Mapping[str, Any], fields: Iterable[str], account_describe: Mapping[str, Any]
) -> list[MappingIssue]:
    """An issue per field the Account lacks, at the key of the job's file that names it (when one does).

    `raw` is the job's file as TOML; fields built into the job rather than named in the file are
    reported against the file as a whole (the org lacks csm-sync's metadata: deploy `salesforce/`).
    """
    known = {str(f.get("name")) for f in account_describe.get("fields") or () if isinstance(f, Mapping)}
    where = {str(v): p for p, v in _paths(raw) if isinstance(v, str)}
    issues = []
    for name in sorted(set(fields) - known - {""}):
        path = where.get(name, "")
        fix = "fix the name in the file" if path else "deploy salesforce/ (csm-sync's metadata) to the org"
        issues.append(
            MappingIssue(label, "", path, f"Account has no field {name}{did_you_mean(name, known)}; {fix}")
        )
    return issues
