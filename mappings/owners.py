"""Who rule actions assign their Tasks and Cases to, checked against the org's queues before a run."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from mappings.expressions import did_you_mean
from mappings.issues import RISK_FILE, MappingIssue

if TYPE_CHECKING:
    from mappings.load import MappingSet


def queue_refs(ms: MappingSet) -> Iterator[tuple[str, str, str]]:
    """(rule, "task.owner" | "case.owner", queue name) for every action owned by a queue."""
    for rule in ms.rules:
        spec = rule.spec
        for path, action in (("task.owner", spec.task), ("case.owner", spec.case)):
            owner = action.owner if action is not None else ""
            if owner.startswith("queue:"):
                yield spec.name, path, owner.partition(":")[2]


def validate_queues(ms: MappingSet, queues: Collection[str]) -> list[MappingIssue]:
    """Every action naming a queue the org lacks (`queues`: its queues' API names and labels).

    A run would hold such a Case or Task back rather than give it to somebody else, so `validate`
    reports it as an error before it happens.
    """
    issues = []
    for rule, path, name in queue_refs(ms):
        if name not in queues:
            known = ", ".join(sorted(queues)) or "none"
            hint = did_you_mean(name, queues)
            issues.append(
                MappingIssue(
                    ms.file_label(RISK_FILE),
                    f'rule "{rule}"',
                    path,
                    f'the org has no queue "{name}" (its queues: {known}){hint}; '
                    "name an existing queue by its API name or label, or create it",
                )
            )
    return issues
