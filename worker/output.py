"""What a command prints on stdout: rich text for people, or one JSON envelope with `--json`.

Log events go to stderr (worker.logging), so stdout holds only the result and can be piped:
`csm-sync status --json | jq .result`. The envelope is the same for every command:

    {"command": "plan", "exit_code": 0, "status": "ok", "result": {...}, "warnings": [], "errors": []}
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console

# Off a terminal nothing is cut or wrapped: a pipe or a log file gets whole lines.
PIPE_WIDTH = 10_000


def console_for(stream: TextIO) -> Console:
    """A rich console on `stream`: the terminal's width on a TTY; never truncating or wrapping off one."""
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=PIPE_WIDTH, soft_wrap=True, no_color=True, highlight=False)


class Output:
    """One command's output. Human text is printed as it comes; the JSON envelope once, at the end."""

    def __init__(self, command: str, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.command = command
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.console = console_for(self.stream)
        self.console.quiet = as_json  # what prints as it goes (the scheduler's lines) stays off stdout
        self.result: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self._sent = False
        self.status = ""  # a command's own word for its exit code (plan --detailed-exitcode: "changes")

    def print(self, *objects: Any, markup: bool = True) -> None:
        """Human output only (tables, summaries); `--json` carries the same facts in `result`."""
        if not self.as_json:
            self.console.print(*objects, markup=markup, highlight=False)

    def text(self, line: str) -> None:
        """A line of human output printed as written (no rich markup: store ids, errors, SOQL)."""
        self.print(line, markup=False)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if not self.as_json:
            self.console.print(message, style="yellow", markup=False, highlight=False)

    def note(self, line: str) -> None:
        """A progress line: on stdout for a person, on stderr beside the envelope with `--json`."""
        if self.as_json:
            sys.stderr.write(line + "\n")
        else:
            self.text(line)

    def error(self, message: str) -> None:
        """A problem that decides the exit code: in `errors`, or printed for a person."""
        self.errors.append(message)
        self.text(message)

    def envelope(self, code: int) -> dict[str, Any]:
        from worker.runner import ExitCode  # noqa: PLC0415 - the runner pulls in the state store

        return {
            "command": self.command,
            "exit_code": int(code),
            "status": self.status or ExitCode(code).name.lower(),
            "result": self.result,
            "warnings": self.warnings,
            "errors": self.errors,
        }

    def send_envelope(self, code: int) -> None:
        """Print the envelope now (with `--json`; once): a command that keeps running after its result."""
        if self.as_json and not self._sent:
            self._sent = True
            self.stream.write(json.dumps(self.envelope(code), default=str, ensure_ascii=False) + "\n")
            self.stream.flush()

    def finish(self, code: int) -> int:
        """Print the envelope (with `--json`) and hand back the exit code."""
        self.send_envelope(code)
        return int(code)
