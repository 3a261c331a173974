"""The `csm-sync` command line: validate, plan, run-job, run, status, explain, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from rich.console import Console

from worker import commands
from worker.clock import AS_OF_ENV, AsOfError, parse_as_of
from worker.demo import run_demo
from worker.runner import ExitCode

HELP_EXIT = """exit codes:
  0  ok: everything planned was written
  1  partial: some records or stores failed (kept and retried next run) or a limit stopped the run
  2  config or mapping error: nothing was written
  3  Salesforce unavailable (login refused, network): nothing lost, retry later
  4  the safety check refused a surprising plan: review with `plan`, rerun with --force
  5  another run of the same job holds the lock
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="csm-sync",
        description="Keep Salesforce in step with what dispensary clients experience.",
        epilog=HELP_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CSM_SYNC_CONFIG", "config.toml")),
        help="config file (default: $CSM_SYNC_CONFIG or ./config.toml)",
    )
    p.add_argument(
        "--as-of",
        default=os.environ.get(AS_OF_ENV) or None,
        metavar="TIME",
        help=f"run as if the clock read TIME (ISO 8601 with offset) and advanced from there; to reproduce a "
        f"run or the demo on another day, never in production (default: ${AS_OF_ENV}, else the real clock)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check config and mapping files, and the mappings against the org")
    v.add_argument("--offline", action="store_true", help="skip the check against the org's describe")
    pl = sub.add_parser("plan", help="show what a job would change in Salesforce (writes nothing)")
    pl.add_argument("job")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.add_argument("--store", action="append", help="only these stores (repeatable)")
    rj = sub.add_parser("run-job", help="run one job now and apply its plan")
    rj.add_argument("job")
    rj.add_argument("--force", action="store_true", help="apply even if the safety check would refuse")
    rj.add_argument("--full-refresh", action="store_true", help="pull: ignore cursors, re-read history")
    rj.add_argument("--since", type=date.fromisoformat, help="pull: start from this date (YYYY-MM-DD)")
    rj.add_argument("--store", action="append", help="only these stores (repeatable)")
    rj.add_argument(
        "--from", dest="from_day", type=date.fromisoformat, help="snapshots: backfill from (YYYY-MM-DD)"
    )
    rj.add_argument(
        "--to", dest="to_day", type=date.fromisoformat, help="snapshots: backfill to (YYYY-MM-DD)"
    )
    sub.add_parser("run", help="run the scheduler: every enabled job on its cron schedule")
    sub.add_parser("status", help="recent runs, data freshness, outbox and rejected records")
    ex = sub.add_parser("explain", help="why a store has its score and flags: every component and rule")
    ex.add_argument("store")
    ex.add_argument("--json", action="store_true")
    d = sub.add_parser("demo", help="start the local sandbox, run every job once and summarise")
    d.add_argument("--serve", action="store_true", help="keep the sandbox running and print how to use it")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--workdir", type=Path, default=Path(".demo"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=False, soft_wrap=False)
    if args.command == "demo":
        return int(run_demo(console, seed=args.seed, workdir=args.workdir, serve=args.serve))
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except AsOfError as exc:
        console.print(str(exc), markup=False, highlight=False)
        return int(ExitCode.CONFIG)
    try:
        app = commands.load_app(args.config, as_of)
    except commands.ConfigError as exc:
        for problem in exc.problems:
            console.print(problem, markup=False, highlight=False)
        return int(ExitCode.CONFIG)
    handlers = {
        "validate": lambda: commands.validate(app, console, offline=args.offline),
        "plan": lambda: commands.plan(app, console, args.job, as_json=args.json, stores=args.store),
        "run-job": lambda: commands.run_job(
            app,
            console,
            args.job,
            force=args.force,
            full_refresh=args.full_refresh,
            since=args.since,
            stores=args.store,
            backfill=(args.from_day, args.to_day or args.from_day) if args.from_day else None,
        ),
        "run": lambda: commands.run_scheduler(app, console),
        "status": lambda: commands.status(app, console),
        "explain": lambda: commands.explain(app, console, args.store, as_json=args.json),
    }
    return int(handlers[args.command]())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
