"""What each CLI command does, on an App; output through rich, exit codes from the runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

import mappings
from connectors.salesforce.client import SalesforceClient, SalesforceUnavailable
from jobs import qbr_figures, qbr_pack, registry, snapshots
from jobs.sync import JobOptions, JobResult, plan_job
from jobs.sync import run_job as run_mapping_job
from mappings.lifecycle import Quarter
from mappings.load import MappingError, MappingSet, load_mapping_set, validate_against_describe
from mappings.owners import validate_queues
from worker.app import App
from worker.locks import Busy, run_exclusive
from worker.metrics import write_textfile
from worker.render import print_plan, status_board
from worker.runner import ExitCode, Outcome
from worker.settings import ConfigError, load_settings

__all__ = ["ConfigError", "load_app"]


def load_app(path: Path) -> App:
    return App(load_settings(path))


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
        issues = validate_against_describe(ms, describes) + validate_queues(ms, registry.read_queues(org))
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
        preflight(app, org, job, ms)
        opts = options_for(app, mjob)
        result = plan_job(app.engine, org, mjob, app.clock(), opts, app.describer(org), stores)
    except SalesforceUnavailable as exc:
        console.print(f"Salesforce unavailable: {exc}", markup=False)
        return ExitCode.UNAVAILABLE
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
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
    if backfill is not None and (problem := backfill_problem(job, backfill)):
        console.print(problem, markup=False, highlight=False)
        return ExitCode.CONFIG
    try:  # one run of a job at a time, across processes and machines (the job lock in the state store)
        result = run_exclusive(
            app,
            job,
            lambda run_id: run_one(app, job, run_id, force, full_refresh, since, stores, backfill),
        )
    except Busy as exc:
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        console.print(f"{job}: exit {int(ExitCode.BUSY)} (busy)", markup=False)
        return ExitCode.BUSY
    write_textfile(app)
    summarise(console, job, result.exit_code, result.outcome, result.error)
    return result.exit_code


def backfill_problem(job: str, days: tuple[date, date]) -> str:
    """Why `--from/--to` cannot be run for `job` ('' when it can): only snapshots backfill."""
    if job != "snapshots":
        return f"--from/--to: only the snapshots job backfills a range, not {job}"
    start, end = days
    if end < start:
        return f"--from/--to: the range ends ({end}) before it starts ({start}); fix --to"
    if (end - start).days + 1 > snapshots.MAX_BACKFILL_DAYS:
        return f"--from/--to: at most {snapshots.MAX_BACKFILL_DAYS} days can be backfilled at once"
    return ""


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
    if job == qbr_pack.NAME:
        return run_packs(app, run_id, stores)
    ms = load_mappings(app)
    mjob = registry.build(job, ms)
    if backfill is not None and hasattr(mjob, "backfill"):
        mjob = mjob.backfill(*backfill)
    org: SalesforceClient = app.org()
    preflight(app, org, job, ms)
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


def run_packs(
    app: App,
    run_id: str,
    stores: Sequence[str] | None = None,
    quarters: Sequence[Quarter] | None = None,
    upload: bool = True,
) -> Outcome:
    """The QBR packs: rendered and uploaded where their figures changed (`qbr-pack` and the schedule)."""
    cfg = qbr_pack.load(mapping_dir(app))
    org: SalesforceClient = app.org()
    if not cfg.enabled and quarters is None:
        return Outcome(counts={"disabled": True})
    report = qbr_pack.run_packs(
        app.engine,
        org,
        cfg,
        app.clock(),
        run_id,
        app.job_options().apply,
        stores=stores,
        quarters=quarters,
        upload=upload,
        keep_pdf=quarters is not None,
    )
    return Outcome(
        counts=report.data,
        partial=report.partial,
        api_calls=org.usage.calls,
        api_used=org.usage.used,
        api_max=org.usage.max,
        summary=report,
        org=org,
    )


def qbr_pack_command(
    app: App, console: Console, store: str, quarter: str, out: Path | None = None, upload: bool = True
) -> ExitCode:
    """`csm-sync qbr-pack STORE --quarter 2026Q4 [--out FILE]`: one account's pack, now."""
    try:
        q = qbr_figures.parse_quarter(quarter)
    except ValueError as exc:
        console.print(f"--quarter: {exc}", markup=False)
        return ExitCode.CONFIG
    try:
        qbr_pack.load(mapping_dir(app))
    except MappingError as exc:
        _print_mapping_error(console, exc)
        return ExitCode.CONFIG
    try:  # the packs' job lock: a scheduled qbr_pack run and this one never upload side by side
        result = run_exclusive(
            app, qbr_pack.NAME, lambda run_id: run_packs(app, run_id, [store], [q], upload)
        )
    except Busy as exc:
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return ExitCode.BUSY
    report = result.outcome.summary if result.outcome is not None else None
    if result.error:
        console.print(f"qbr-pack: {result.error}", markup=False, highlight=False)
    if not isinstance(report, qbr_pack.PackReport):
        return result.exit_code
    packs = [p for p in report.packs if p.store_id == store]
    if not packs or packs[0].status == "no_account":
        why = packs[0].error if packs else "not found"
        console.print(f"{store}: {why}; no pack was made.", markup=False)
        return ExitCode.CONFIG
    pack = packs[0]
    figs = pack.figures
    if figs is not None:
        console.print(f"{store} {q}: {figs.coverage}.", markup=False, highlight=False, soft_wrap=True)
        for note in figs.notes:
            console.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)
    if pack.status == "uploaded":
        console.print(
            f"Uploaded version {pack.version} of File {pack.document_id} (ContentVersion {pack.version_id}).",
            highlight=False,
            soft_wrap=True,
        )
    elif pack.status == "unchanged":
        console.print(
            f"Unchanged: version {pack.version} of File {pack.document_id} already shows these figures.",
            highlight=False,
            soft_wrap=True,
        )
    elif pack.status == "failed":
        console.print(f"Upload failed: {pack.error}", markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        pdf = pack.pdf
        if pdf is None and pack.figures is not None:
            from jobs.qbr_render import render  # noqa: PLC0415 - matplotlib only when a pack is written

            pdf = render(pack.figures)
        if pdf is not None:
            qbr_pack.write_pdf(out, pdf)
            console.print(f"Wrote {out} ({len(pdf):,} bytes).", markup=False, highlight=False, soft_wrap=True)
    return result.exit_code


# Jobs that evaluate the admin's account_health.toml / risk_rules.toml (snapshots score with it).
MAPPING_SET_JOBS = frozenset({"account_health", "risk_alerts", "snapshots"})


def preflight(app: App, org: SalesforceClient, job: str, ms: MappingSet) -> None:
    """Check the mapping set against the (cached) describe before the run reads or writes anything.

    A misspelled field must be a config error naming its file and key (exit 2, nothing written), not
    a query Salesforce rejects halfway through a run.
    """
    if job not in MAPPING_SET_JOBS:
        return
    describe = app.describer(org)
    issues = validate_against_describe(ms, {o: describe(o) for o in sorted(ms.objects)})
    if issues:
        raise MappingError(issues)


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
        for warning in counts.get("warnings", ()):
            console.print(f"{job}: warning: {warning}", markup=False, highlight=False)
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
