"""`csm-sync --help` answers at once: the CLI imports what a command needs only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.bench_cli_startup import HEAVY  # the modules the benchmark measures the CLI without
from jobs.names import RUN_ORDER


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import json, sys, worker.cli\n"
        "worker.cli.parser()\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_help_lists_every_command_and_the_jobs() -> None:
    from worker.cli import parser  # noqa: PLC0415

    text = parser().format_help()
    for command in ("validate", "plan", "run-job", "run", "status", "explain", "demo"):
        assert f"    {command} " in text
    sub = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "one of: " + ", ".join(RUN_ORDER) in " ".join(sub["run-job"].format_help().split())
    assert "--run RUN_ID" in sub["status"].format_help() and "--csv" in sub["status"].format_help()
