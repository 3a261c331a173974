"""SOQL errors carry the offset they point at, so messages can show Salesforce's caret."""

from __future__ import annotations


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, …"""

    def __init__(self, code: str, message: str, pos: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.pos = pos

    def render(self, source: str) -> str:
        """Salesforce's layout: the offending line, a caret, the row and column, then the message."""
        before = source[: self.pos]
        row = before.count("\n") + 1
        line_start = before.rfind("\n") + 1
        line_end = source.find("\n", self.pos)
        line = source[line_start : None if line_end < 0 else line_end]
        column = self.pos - line_start
        return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{self.message}"
