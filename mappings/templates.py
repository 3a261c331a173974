"""Templates with {name} placeholders: checked at load, rendered without str.format's attribute access."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def placeholders(template: str) -> tuple[list[str], list[str]]:
    """The placeholder names a template uses, and what is malformed in it."""
    names: list[str] = []
    problems: list[str] = []
    for m in _TOKEN.finditer(template):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            problems.append(f'unmatched "{token}" (write {token}{token} for a literal brace)')
            continue
        name = m.group(1).strip()
        if not _NAME.match(name):
            problems.append(f"placeholder {{{m.group(1)}}} must be a plain name such as {{store_id}}")
            continue
        names.append(name)
    return names, problems


def unknown_placeholders(template: str, known: Iterable[str]) -> list[tuple[str, str]]:
    """(placeholder, closest known name or "") for every placeholder that is not known."""
    allowed = set(known)
    names, _ = placeholders(template)
    out: list[tuple[str, str]] = []
    for name in names:
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
            out.append((name, close[0] if close else ""))
    return out


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} by values[name] (missing names render as "n/a"); {{ and }} are literal braces."""

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text in ("{{", "}}"):
            return text[0]
        if m.group(1) is None:
            return text
        return values.get(m.group(1).strip(), "n/a")

    return _TOKEN.sub(sub, template)


def constant_length(template: str) -> int:
    """Length of the template's fixed text (placeholders count as empty): a lower bound of the result."""
    return len(render(template, _Empty()))


class _Empty(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return ""
