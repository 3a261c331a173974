"""One problem in one file, located by the item it is in and the key path inside that."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FileIssue:
    """`file: where → path: message — fix`; `where` names an item (rule "menu_sync"), `path` a key."""

    file: str
    where: str = ""  # rule "menu_sync", source "pos", milestone "go_live"
    path: str = ""  # task.priority, salesforce.timeout_seconds, line 3, column 7
    message: str = ""
    fix: str = ""  # what to write instead, when the problem alone does not say it

    def __str__(self) -> str:
        location = " → ".join(p for p in (self.where, self.path) if p)
        head = f"{self.file}: {location}: {self.message}" if location else f"{self.file}: {self.message}"
        return f"{head} — {self.fix}" if self.fix else head


def unique_issues(issues: Iterable[FileIssue]) -> list[FileIssue]:
    """The issues in order, each said once (a union type or a repeated check can say one thing twice)."""
    seen: set[str] = set()
    out: list[FileIssue] = []
    for issue in issues:
        if str(issue) not in seen:
            seen.add(str(issue))
            out.append(issue)
    return out


class FileProblems(Exception):
    """A file (or files) could not be used; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[FileIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues
