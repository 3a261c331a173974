"""What each CLI command does, on an App; output through rich, exit codes from the runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

import mappings
from connectors.salesforce.client import SalesforceClient, SalesforceUnavailable
from jobs import registry
from jobs.sync import JobOptions, JobResult, plan_job
from jobs.sync import run_job as run_mapping_job
from mappings.load import MappingError, MappingSet, load_mapping_set, validate_against_describe
from worker.app import App
from worker.clock import anchored_clock
from worker.locks import Busy, run_exclusive
from worker.metrics import write_textfile
from worker.render import print_plan, status_board
from worker.runner import ExitCode, Outcome
from worker.settings import ConfigError, load_settings

__all__ = ["ConfigError", "load_app"]


def load_app(path: Path, as_of: datetime | None = None) -> App:
    """The app for a command; `as_of` anchors its clock there (see `anchored_clock`)."""
    if as_of is None:
        return App(load_settings(path))
    return App(load_settings(path), clock=anchored_clock(as_of))


def mapping_dir(app: App) -> Path:
    configured = app.settings.sync.mappings_dir
    return Path(configured) if configured else Path(mappings.__file__).parent


def load_mappings(app: App) -> MappingSet:
    return load_mapping_set(mapping_dir(app))


def _print_mapping_error(console: Console, exc: MappingError) -> None:
    for issue in exc.issues:
        console.print(str(issue), markup=False, highlight=False)
    console.print(f"{len(exc.issues)} problem(s); nothing was written.", markup=False)


def validate(app: App, console: Console, offline: bool = False) -> ExitCode:
    try:
        ms = load_mappings(app)
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
    try:
        jobs = registry.build_all(ms)
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
    if not offline:
        try:
            org = app.org()
            describes = {o: org.describe(o) for o in sorted(ms.objects)}
        except SalesforceUnavailable as exc:
            console.print(f"Salesforce unavailable, describe check skipped: {exc}", markup=False)
            return ExitCode.UNAVAILABLE
        issues = validate_against_describe(ms, describes)
        if issues:
            for issue in issues:
                console.print(str(issue), markup=False, highlight=False)
            console.print(f"{len(issues)} problem(s) against the org; nothing was written.", markup=False)
            return ExitCode.CONFIG
    console.print(
        f"OK: {ms.summary}; {len(jobs)} jobs built"
        + (" (describe check skipped)" if offline else " (checked against the org)")
    )
    return ExitCode.OK


def plan(
    app: App, console: Console, job: str, as_json: bool = False, stores: Sequence[str] | None = None
) -> ExitCode:
    try:
        ms = load_mappings(app)
        mjob = registry.build(job, ms)
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
    except registry.UnknownJob as exc:
        console.print(str(exc), markup=False)
        return ExitCode.CONFIG
    org = app.org()
    try:
        opts = options_for(app, mjob)
        result = plan_job(app.engine, org, mjob, app.clock(), opts, app.describer(org), stores)
    except SalesforceUnavailable as exc:
        console.print(f"Salesforce unavailable: {exc}", markup=False)
        return ExitCode.UNAVAILABLE
    if as_json:
        console.print_json(json.dumps({**result.plan.data, "unmatched": result.unmatched}, default=str))
    else:
        print_plan(console, result.plan, job, result.unmatched)
    return ExitCode.OK


def run_job(
    app: App,
    console: Console,
    job: str,
    force: bool = False,
    full_refresh: bool = False,
    since: date | None = None,
    stores: Sequence[str] | None = None,
    backfill: tuple[date, date] | None = None,
) -> ExitCode:
    if job not in registry.job_names():
        console.print(str(registry.UnknownJob(job)), markup=False)
        return ExitCode.CONFIG
    try:  # one run of a job at a time, across processes and machines (the job lock in the state store)
        result = run_exclusive(
            app, job, lambda run_id: run_one(app, job, run_id, force, full_refresh, since, stores)
        )
    except Busy as exc:
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        console.print(f"{job}: exit {int(ExitCode.BUSY)} (busy)", markup=False)
        return ExitCode.BUSY
    write_textfile(app)
    summarise(console, job, result.exit_code, result.outcome, result.error)
    return result.exit_code


def run_one(
    app: App,
    job: str,
    run_id: str,
    force: bool = False,
    full_refresh: bool = False,
    since: date | None = None,
    stores: Sequence[str] | None = None,
    backfill: tuple[date, date] | None = None,
    shard: int | None = None,
) -> Outcome:
    """The body of one recorded run of `job` (shared by run-job, the scheduler and the demo).

    `shard` is the firing's shard number when `stores` are one shard of it: the pull then leaves the
    directory listing to the firing's owner and account-wide sources to shard 0.
    """
    if job == "pull":
        report = registry.run_pull(
            app.settings.sources,
            app.engine,
            app.clock(),
            run_id,
            full_refresh,
            since,
            stores,
            app.environ,
            list_directory=shard is None or stores is None,
            account_wide=shard is None or shard == 0,
        )
        return Outcome(counts=report.data, partial=report.partial, summary=report)
    ms = load_mappings(app)
    mjob = registry.build(job, ms)
    if backfill is not None and hasattr(mjob, "backfill"):
        mjob = mjob.backfill(*backfill)
    org: SalesforceClient = app.org()
    result: JobResult = run_mapping_job(
        app.engine, org, mjob, run_id, app.clock(), options_for(app, mjob, force), app.describer(org), stores
    )
    return Outcome(
        counts=result.data,
        partial=result.partial,
        api_calls=org.usage.calls,
        api_used=org.usage.used,
        api_max=org.usage.max,
        summary=result,
        org=org,
    )


def options_for(app: App, job: object, force: bool = False) -> JobOptions:
    """The run's options, with the history the job needs (QBR compares quarters, backfills reach back)."""
    opts = app.job_options(force)
    today = app.clock().date()
    need = getattr(job, "history_days", 0) or 0
    if hasattr(job, "history_days_for"):
        need = max(need, job.history_days_for(today, opts.history_days))
    return replace(opts, history_days=max(opts.history_days, need))


def summarise(console: Console, job: str, code: ExitCode, outcome: Outcome | None, error: str) -> None:
    if error:
        console.print(f"{job}: {error}", markup=False, highlight=False)
    if outcome is not None:
        counts: dict[str, Any] = outcome.counts
        console.print(f"{job}: " + json.dumps(counts, default=str), markup=False, highlight=False)
        if outcome.api_calls:
            console.print(f"{job}: {outcome.api_calls} Salesforce API calls", markup=False)
    console.print(f"{job}: exit {int(code)} ({code.name.lower()})", markup=False)


def run_scheduler(app: App, console: Console) -> ExitCode:
    from worker.scheduler import serve  # noqa: PLC0415 - only the long-running mode needs APScheduler

    return serve(app, console)


def status(app: App, console: Console) -> ExitCode:
    status_board(console, app.engine, app.clock())
    return ExitCode.OK


def explain(app: App, console: Console, store: str, as_json: bool = False) -> ExitCode:
    try:
        ms = load_mappings(app)
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
    org = app.org()
    try:
        trace = registry.explain(app.engine, org, ms, store, app.clock(), app.job_options())
    except SalesforceUnavailable as exc:
        console.print(f"Salesforce unavailable: {exc}", markup=False)
        return ExitCode.UNAVAILABLE
    except KeyError as exc:
        console.print(str(exc).strip("'\""), markup=False)
        return ExitCode.CONFIG
    if as_json:
        console.print_json(json.dumps(trace, default=str))
    else:
        console.print(trace["text"], markup=False, highlight=False)
        for name, inputs in trace["jobs"].items():
            console.print(f"\n[bold]{name}[/bold]")
            console.print_json(json.dumps(inputs, default=str))
    return ExitCode.OK
