"""Mapping problems as located sentences, and the mapping file names they point at."""

from __future__ import annotations

from dataclasses import dataclass

SOURCES_FILE = "sources.toml"
HEALTH_FILE = "account_health.toml"
RISK_FILE = "risk_rules.toml"
FILES = (SOURCES_FILE, HEALTH_FILE, RISK_FILE)


@dataclass(frozen=True)
class MappingIssue:
    """One problem, located by file, the rule/field/component it is in, and the key path inside that."""

    file: str
    where: str = ""  # rule "menu_sync", component "usage", field "AOV_Online__c"
    path: str = ""  # task.priority
    message: str = ""

    def __str__(self) -> str:
        location = " → ".join(p for p in (self.where, self.path) if p)
        return f"{self.file}: {location}: {self.message}" if location else f"{self.file}: {self.message}"


class MappingError(Exception):
    """The mapping files are not valid; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[MappingIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues
