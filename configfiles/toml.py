"""Reading a TOML file people edit: a missing file, bytes that are not UTF-8 and TOML mistakes become issues
that name the file, the line and the fix, instead of a decoder's traceback."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from configfiles.issues import FileIssue

_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)")

# tomllib's wording of the common mistakes → (what went wrong, how to fix it)
_SYNTAX: tuple[tuple[str, str, str], ...] = (
    (
        "illegal character '\\n'",
        "a quoted text is not closed on its line",
        'close the quote on the same line, or use triple quotes (""") for text over several lines',
    ),
    (
        "unterminated string",
        "a quoted text is not closed before the end of the file",
        'close the quote, or use triple quotes (""") for text over several lines',
    ),
    (
        'expected "\'"',
        "a quoted text is not closed",
        "close the quote on the same line, or use triple quotes for text over several lines",
    ),
    (
        "cannot overwrite a value",
        "this key is set a second time",
        "set each key once in its table (remove or rename one)",
    ),
    (
        "cannot declare",
        "this table is declared a second time",
        "declare each [table] once; use [[table]] for a list of tables",
    ),
    (
        "invalid value",
        "a value is not valid TOML",
        'quote text ("like this"); write numbers, true/false and dates without quotes',
    ),
)


def read_toml(
    path: Path, label: str, *, missing_fix: str = ""
) -> tuple[dict[str, Any] | None, list[FileIssue]]:
    """The file's TOML table, or (None, the issue saying why it could not be read)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [FileIssue(label, message="file not found", fix=missing_fix)]
    except IsADirectoryError:
        return None, [FileIssue(label, message="is a folder, not a file", fix=missing_fix)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start : exc.start + 1].hex()
        return None, [
            FileIssue(
                label,
                path=f"line {line}, column {column}",
                message=f"the file is not UTF-8 text (byte 0x{byte})",
                fix="save the file as UTF-8",
            )
        ]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [syntax_issue(label, exc)]


def syntax_issue(label: str, exc: tomllib.TOMLDecodeError) -> FileIssue:
    """A TOML decoding error as an issue: the line and column, what is wrong, and the fix when known."""
    text = str(exc)
    m = _AT.search(text)
    where = f"line {m.group(1)}, column {m.group(2)}" if m and m.group(1) else "end of file"
    what = _AT.sub("", text)
    what = what[:1].lower() + what[1:]
    fix = ""
    for start, words, how in _SYNTAX:
        if what.lower().startswith(start):
            what, fix = words, how
            break
    return FileIssue(label, path=where, message=f"TOML syntax error: {what}", fix=fix)
