"""The `csm-sync` command line: validate, plan, run-job, run, status, explain, demo.

Only argparse is imported up front: each command imports what it needs when it runs, so `--help`
and `--version` answer at once (bench/bench_cli_startup.py measures it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.names import MAPPING_JOBS, RUN_ORDER
from worker.clock import AS_OF_ENV, AsOfError, parse_as_of

if TYPE_CHECKING:
    from worker.output import Output

HELP_EXIT = """exit codes:
  0  ok: everything planned was written (plan --detailed-exitcode: nothing to change)
  1  partial: some records or stores failed (kept and retried next run) or a limit stopped the run
  2  config or mapping error: nothing was written (plan --detailed-exitcode: changes to make)
  3  Salesforce unavailable (login refused, network): nothing lost, retry later
  4  the safety check refused a surprising plan: review with `plan`, rerun with --force
  5  another run of the same job holds the lock

output: results on stdout (--json: one envelope {command, exit_code, status, result, warnings,
errors}); log events on stderr, as [logging] level and format in the config say.
"""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


class _Version(argparse.Action):
    """`--version`, read from the installed distribution only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kw: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            v = version("csm-sync")
        except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
            v = "unknown (not installed)"
        sys.stdout.write(f"csm-sync {v}\n")
        parser.exit(0)


def parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="csm-sync",
        description="Keep Salesforce in step with what dispensary clients experience.",
        epilog=HELP_EXIT,
        formatter_class=fmt,
    )
    p.add_argument("--version", action=_Version, help="print the version and exit")
    p.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CSM_SYNC_CONFIG", "config.toml")),
        help="config file (default: $CSM_SYNC_CONFIG or ./config.toml)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON envelope on stdout (any command)")
    p.add_argument(
        "--as-of",
        default=os.environ.get(AS_OF_ENV) or None,
        metavar="TIME",
        help=f"run as if the clock read TIME (ISO 8601 with offset) and advanced from there; to reproduce a "
        f"run or the demo on another day, never in production (default: ${AS_OF_ENV}, else the real clock)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as one JSON envelope {command, exit_code, status, result, warnings, errors}",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common], formatter_class=fmt)

    def stores(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--store", action="append", metavar="STORE_ID", help="only this store, e.g. NV-001 (repeatable)"
        )

    v = add(
        "validate", "check config and mapping files, and the mappings against the org; every problem at once"
    )
    v.add_argument(
        "--offline", action="store_true", help="skip the org's describe check; secrets need not be present"
    )

    pl = add("plan", "show what a job would change in Salesforce (writes nothing)")
    pl.add_argument("job", metavar="JOB", help="one of: " + ", ".join(MAPPING_JOBS))
    stores(pl)
    pl.add_argument("--full", action="store_true", help="show long text (evidence, descriptions) whole")
    pl.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there is nothing to change, 2 when there are changes (other codes as usual)",
    )

    rj = add("run-job", "run one job now and apply its plan")
    rj.add_argument("job", metavar="JOB", help="one of: " + ", ".join(RUN_ORDER))
    rj.add_argument("--force", action="store_true", help="apply even if the safety check would refuse")
    rj.add_argument("--full-refresh", action="store_true", help="pull: ignore cursors, re-read history")
    rj.add_argument(
        "--since", type=_date, metavar="YYYY-MM-DD", help="pull: start every stream from this date"
    )
    stores(rj)
    rj.add_argument(
        "--from", dest="from_day", type=_date, metavar="YYYY-MM-DD", help="snapshots: backfill from"
    )
    rj.add_argument("--to", dest="to_day", type=_date, metavar="YYYY-MM-DD", help="snapshots: backfill to")

    add("run", "run the scheduler: every enabled job on its cron schedule, until SIGTERM")

    st = add("status", "recent runs, data freshness, outbox and rejected records; one run's rejected records")
    st.add_argument("--job", metavar="JOB", help="only runs of this job: one of " + ", ".join(RUN_ORDER))
    st.add_argument("--run", metavar="RUN_ID", help="one run: its counts and every record rejected in it")
    st.add_argument("--csv", action="store_true", help="with --run: the rejected records as CSV on stdout")
    st.add_argument("--limit", type=int, default=15, metavar="N", help="how many recent runs (default 15)")

    ex = add("explain", "why a store has its score and flags: every component and rule, with the values")
    ex.add_argument("store", metavar="STORE_ID", help="the store's id (Account.Store_Id__c), e.g. NV-001")

    qp = add(
        "qbr-pack", "render one account's QBR pack (PDF with charts and the ROI) and upload it as a File"
    )
    qp.add_argument(
        "store",
        metavar="STORE_ID",
        help="the Account's Store_Id__c: a store, or an MSO parent for all its locations",
    )
    qp.add_argument("--quarter", required=True, metavar="YYYYQN", help="the quarter, e.g. 2026Q4")
    qp.add_argument("--out", type=Path, metavar="FILE", help="also write the PDF to this file")
    qp.add_argument(
        "--no-upload", action="store_true", help="only render (with --out): write nothing to Salesforce"
    )

    d = add("demo", "start the local sandbox, run every job once and summarise")
    d.add_argument("--serve", action="store_true", help="keep the sandbox running and print how to use it")
    d.add_argument("--seed", type=int, default=7, help="the sandbox portfolio's random seed (default 7)")
    d.add_argument(
        "--workdir", type=Path, default=Path(".demo"), help="where the demo keeps its files (default .demo)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from worker.logging import configure  # noqa: PLC0415 - see the module docstring
    from worker.output import Output  # noqa: PLC0415

    configure()  # stderr, until the config's [logging] says otherwise
    out = Output(args.command, as_json=args.json)
    return out.finish(_dispatch(args, out))


def _dispatch(args: argparse.Namespace, out: Output) -> int:
    if args.command == "demo":
        from worker.demo import run_demo  # noqa: PLC0415

        return int(run_demo(out, seed=args.seed, workdir=args.workdir, serve=args.serve))
    from worker import commands  # noqa: PLC0415
    from worker.runner import ExitCode  # noqa: PLC0415

    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
    except AsOfError as exc:
        out.error(str(exc))
        return int(ExitCode.CONFIG)
    if args.command == "validate":
        return int(commands.validate(args.config, out, offline=args.offline))
    try:
        app = commands.load_app(args.config, as_of)
    except commands.ConfigError as exc:
        for problem in exc.problems:
            out.error(problem)
        return int(ExitCode.CONFIG)
    handlers: dict[str, Callable[[], int]] = {
        "plan": lambda: commands.plan(
            app, out, args.job, stores=args.store, full=args.full, detailed_exitcode=args.detailed_exitcode
        ),
        "run-job": lambda: commands.run_job(
            app,
            out,
            args.job,
            force=args.force,
            full_refresh=args.full_refresh,
            since=args.since,
            stores=args.store,
            backfill=(args.from_day, args.to_day or args.from_day) if args.from_day else None,
        ),
        "qbr-pack": lambda: commands.qbr_pack_command(
            app, out, args.store, args.quarter, pdf_path=args.out, upload=not args.no_upload
        ),
        "run": lambda: commands.run_scheduler(app, out),
        "status": lambda: commands.status(
            app, out, job=args.job, run=args.run, csv=args.csv, limit=args.limit
        ),
        "explain": lambda: commands.explain(app, out, args.store),
    }
    return int(handlers[args.command]())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
