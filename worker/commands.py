"""What each CLI command does, on an App: results through an Output (text or the JSON envelope)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import mappings
from configfiles import read_toml
from connectors import redact, slack
from connectors.config import SecretError, resolve_secret
from connectors.salesforce.auth import SigningKeyError
from connectors.salesforce.client import SalesforceClient, SalesforceUnavailable, make_session
from jobs import digest, digest_brief, qbr_figures, qbr_pack, registry, snapshots
from jobs import progress as job_progress
from jobs.names import MAPPING_JOBS
from jobs.portfolio import PortfolioReads
from jobs.sync import JobOptions, JobResult, MappingJob, plan_job, safety_refusal
from jobs.sync import run_job as run_mapping_job
from mappings.job_fields import check_account_fields
from mappings.lifecycle import Quarter
from mappings.load import (
    MappingError,
    MappingIssue,
    MappingSet,
    load_mapping_set,
    validate_against_describe,
)
from mappings.owners import validate_queues
from worker.app import App
from worker.clock import anchored_clock
from worker.locks import Busy, run_exclusive
from worker.logging import configure
from worker.metrics import write_textfile
from worker.output import Output
from worker.progress import LogSink, reporting
from worker.render import print_board, print_plan, print_run
from worker.runner import ExitCode, Outcome
from worker.settings import ConfigError, Settings, load_settings, signing_key_problem
from worker.status import board, rejected_csv, run_detail

__all__ = ["ConfigError", "load_app"]

NO_PLAN = (
    "pull has no plan: it reads the sources into the state store and writes nothing to Salesforce; "
    "run it with `csm-sync run-job pull`. Jobs with a plan: "
)


def load_app(path: Path, as_of: datetime | None = None) -> App:
    """Settings from `path` (ConfigError listing every problem), with logging set up as they say; `as_of`
    anchors the app's clock there (see `anchored_clock`)."""
    settings = load_settings(path)
    configure(settings.logging.level, settings.logging.format)
    if as_of is None:
        return App(settings)
    return App(settings, clock=anchored_clock(as_of))


def mapping_dir(app: App) -> Path:
    return _mapping_dir(app.settings.sync.mappings_dir)


def _mapping_dir(configured: str) -> Path:
    return Path(configured) if configured else Path(mappings.__file__).parent


def load_mappings(app: App) -> MappingSet:
    return load_mapping_set(mapping_dir(app))


def _mapping_problems(out: Output, exc: MappingError) -> None:
    for issue in exc.issues:
        out.error(str(issue))
    out.text(f"{len(exc.issues)} problem(s); nothing was written.")


def _configured_mappings_dir(path: Path) -> str:
    """`[sync] mappings_dir` from a config that did not validate, so its mapping files are checked too."""
    raw, _ = read_toml(path, str(path))  # its problems are load_settings' to report
    sync = raw.get("sync") if raw is not None else None
    value = sync.get("mappings_dir", "") if isinstance(sync, dict) else ""
    return value if isinstance(value, str) else ""


def validate(path: Path, out: Output, offline: bool = False) -> ExitCode:
    """Everything `run` would check, every problem at once: the config (schedules, time zone, state URL,
    sources, secrets unless `offline`), every mapping file, and (online) each mapped field against the
    org's describe."""
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = load_settings(path, check_secrets=not offline)
        configure(settings.logging.level, settings.logging.format)
    except ConfigError as exc:
        problems += exc.problems
    directory = _mapping_dir(settings.sync.mappings_dir if settings else _configured_mappings_dir(path))
    ms: MappingSet | None = None
    jobs: list[Any] = []
    try:
        ms = load_mapping_set(directory)
        jobs = list(registry.build_all(ms))
    except MappingError as exc:
        problems += [str(i) for i in exc.issues]
    checked = False
    if not problems and not offline and settings is not None and ms is not None:
        app = App(settings)
        try:
            org = app.org()
            describes = {o: org.describe(o) for o in sorted(ms.objects)}
        except SalesforceUnavailable as exc:
            out.error(f"Salesforce unavailable, describe check not done: {redact.error(exc, False)}")
            return ExitCode.UNAVAILABLE
        except SigningKeyError as exc:
            out.error(signing_key_problem("salesforce.private_key", exc))
            return ExitCode.CONFIG
        problems += [str(i) for i in validate_against_describe(ms, describes)]
        problems += [str(i) for i in validate_queues(ms, registry.read_queues(org))]
        for mj in jobs:  # the Account fields each lifecycle job's file names, as its run checks them
            if mj.name not in MAPPING_SET_JOBS:
                problems += [str(i) for i in org_issues(app, app.describer(org), mj, ms)]
        checked = True
    out.result = {
        "config": str(path),
        "mappings_dir": str(directory),
        "problems": problems,
        "mappings": ms.summary if ms is not None else None,
        "jobs": len(jobs),
        "describe_checked": checked,
    }
    if problems:
        for p in problems:
            out.error(p)
        out.text(f"{len(problems)} problem(s); nothing was written.")
        return ExitCode.CONFIG
    assert ms is not None
    out.text(
        f"OK: {ms.summary}; {len(jobs)} jobs built"
        + (" (describe check skipped; secrets not read)" if offline else " (checked against the org)")
    )
    return ExitCode.OK


def plan(
    app: App,
    out: Output,
    job: str,
    stores: Sequence[str] | None = None,
    full: bool = False,
    detailed_exitcode: bool = False,
) -> int:
    """What `job` would write, whether `run-job` would refuse it, and (detailed) 0 none / 2 changes."""
    if job == "pull":
        out.error(NO_PLAN + ", ".join(MAPPING_JOBS))
        return ExitCode.CONFIG
    if job not in MAPPING_JOBS:
        out.error(f"unknown job {job!r}; jobs with a plan: {', '.join(MAPPING_JOBS)}")
        return ExitCode.CONFIG
    try:
        ms = load_mappings(app)
        mjob = registry.build(job, ms)
    except MappingError as exc:
        _mapping_problems(out, exc)
        return ExitCode.CONFIG
    org = app.org()
    opts = options_for(app, mjob)
    try:
        preflight(app, org, mjob, ms)
        with reporting():
            result = plan_job(app.engine, org, mjob, app.clock(), opts, app.describer(org), stores)
    except SalesforceUnavailable as exc:
        out.error(f"Salesforce unavailable: {redact.error(exc, False)}")
        return ExitCode.UNAVAILABLE
    except SigningKeyError as exc:
        out.error(signing_key_problem("salesforce.private_key", exc))
        return ExitCode.CONFIG
    except MappingError as exc:
        _mapping_problems(out, exc)
        return ExitCode.CONFIG
    refusal = safety_refusal(result.plan, opts)
    out.result = {
        "job": job,
        **result.plan.data,
        "unmatched": result.unmatched,
        "safety": {
            "would_refuse": bool(refusal),
            "reason": refusal,
            "change_share": round(result.plan.change_share, 4),
            "limit": opts.safety_max_change_share,
            "min_records": opts.safety_min_records,
            "considered": result.plan.considered,
        },
    }
    if not out.as_json:
        print_plan(out.console, result.plan, job, result.unmatched, full=full)
    if result.unmatched:
        out.warnings.append(f"{len(result.unmatched)} store(s) have no Salesforce Account (Store_Id__c)")
    if refusal:
        out.warn(
            f"run-job {job} would refuse this plan: {refusal}. Review it; `csm-sync run-job {job} --force` "
            "applies it anyway."
        )
    if detailed_exitcode and result.plan.changes:
        out.status = "changes"
        return 2
    return ExitCode.OK


def run_job(
    app: App,
    out: Output,
    job: str,
    force: bool = False,
    full_refresh: bool = False,
    since: date | None = None,
    stores: Sequence[str] | None = None,
    backfill: tuple[date, date] | None = None,
) -> ExitCode:
    if job not in registry.job_names():
        out.error(str(registry.UnknownJob(job)))
        return ExitCode.CONFIG
    if backfill is not None and (problem := backfill_problem(job, backfill)):
        out.error(problem)
        return ExitCode.CONFIG
    try:  # one run of a job at a time, across processes and machines (the job lock in the state store)
        with reporting():
            result = run_exclusive(
                app,
                job,
                lambda run_id: run_one(app, job, run_id, force, full_refresh, since, stores, backfill),
            )
    except Busy as exc:
        out.error(str(exc))
        out.text(f"{job}: exit {int(ExitCode.BUSY)} (busy)")
        out.result = {"job": job}
        return ExitCode.BUSY
    write_textfile(app)
    summarise(out, job, result.run_id, result.exit_code, result.outcome, result.error)
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
    reads: PortfolioReads | None = None,
) -> Outcome:
    """The body of one recorded run of `job` (shared by run-job, the scheduler and the demo).

    `shard` is the firing's shard number when `stores` are one shard of it: the pull then leaves the
    directory listing to the firing's owner and account-wide sources to shard 0. `reads`: the
    process's kept portfolio reads (the scheduler's), shared with the other shards and jobs.
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
        return run_packs(app, run_id, stores, reads=reads)
    if job == digest.NAME:
        return run_digest(app, run_id)
    ms = load_mappings(app)
    mjob = registry.build(job, ms)
    if backfill is not None and hasattr(mjob, "backfill"):
        mjob = mjob.backfill(*backfill)
    org: SalesforceClient = app.org()
    preflight(app, org, mjob, ms)
    result: JobResult = run_mapping_job(
        app.engine,
        org,
        mjob,
        run_id,
        app.clock(),
        options_for(app, mjob, force),
        app.describer(org),
        stores,
        reads,
    )
    return salesforce_outcome(org, result)


def salesforce_outcome(org: SalesforceClient, report: Any) -> Outcome:
    """A Salesforce job's outcome: its report's counts, and the API calls the run made and has left."""
    return Outcome(
        counts=report.data,
        partial=report.partial,
        api_calls=org.usage.calls,
        api_used=org.usage.used,
        api_max=org.usage.max,
        summary=report,
        org=org,
    )


def run_digest(app: App, run_id: str) -> Outcome:
    """The morning briefs of the day (the scheduler's time zone) that are not out yet."""
    cfg = digest_brief.load(mapping_dir(app))
    if not cfg.enabled:
        return Outcome(counts={"disabled": True})
    post = slack_poster(app)
    org: SalesforceClient = app.org()
    now = app.clock()
    today = now.astimezone(ZoneInfo(app.settings.scheduler.timezone)).date()
    report = digest.run_digest(app.engine, org, cfg, now, today, run_id, post)
    return salesforce_outcome(org, report)


def slack_poster(app: App) -> Callable[[str], None] | None:
    """Posting to the configured Slack webhook, or None; its URL is read here and registered for redaction."""
    cfg = app.settings.digest
    if not (cfg.slack_webhook_env or cfg.slack_webhook_file):
        return None
    try:
        url = resolve_secret(
            cfg.slack_webhook_env, cfg.slack_webhook_file, app.environ, name="digest.slack_webhook"
        )
    except SecretError as exc:
        raise ConfigError([f"config: {exc}"]) from None
    session = make_session(slack.TIMEOUT, cfg.ca_bundle)
    return lambda text: slack.post(url, text, session)


def run_packs(
    app: App,
    run_id: str,
    stores: Sequence[str] | None = None,
    quarters: Sequence[Quarter] | None = None,
    upload: bool = True,
    reads: PortfolioReads | None = None,
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
        reads=reads,
    )
    return salesforce_outcome(org, report)


def qbr_pack_command(
    app: App, out: Output, store: str, quarter: str, pdf_path: Path | None = None, upload: bool = True
) -> ExitCode:
    """`csm-sync qbr-pack STORE --quarter 2026Q4 [--out FILE]`: one account's pack, now."""
    try:
        q = qbr_figures.parse_quarter(quarter)
    except ValueError as exc:
        out.error(f"--quarter: {exc}")
        return ExitCode.CONFIG
    try:
        qbr_pack.load(mapping_dir(app))
    except MappingError as exc:
        _mapping_problems(out, exc)
        return ExitCode.CONFIG
    try:  # the packs' job lock: a scheduled qbr_pack run and this one never upload side by side
        result = run_exclusive(
            app, qbr_pack.NAME, lambda run_id: run_packs(app, run_id, [store], [q], upload)
        )
    except Busy as exc:
        out.error(str(exc))
        return ExitCode.BUSY
    report = result.outcome.summary if result.outcome is not None else None
    if result.error:
        out.error(f"qbr-pack: {result.error}")
    if not isinstance(report, qbr_pack.PackReport):
        return result.exit_code
    packs = [p for p in report.packs if p.store_id == store]
    if not packs or packs[0].status == "no_account":
        why = packs[0].error if packs else "not found"
        out.error(f"{store}: {why}; no pack was made.")
        return ExitCode.CONFIG
    pack = packs[0]
    figs = pack.figures
    out.result = {
        "store": store,
        "quarter": str(q),
        "status": pack.status,
        "file_id": pack.document_id or None,
        "version": pack.version or None,
        "version_id": pack.version_id or None,
        "coverage": figs.coverage if figs else None,
        "notes": list(figs.notes) if figs else [],
        "digest": figs.digest if figs else None,
    }
    if figs is not None:
        out.text(f"{store} {q}: {figs.coverage}.")
        for note in figs.notes:
            out.text(f"  note: {note}")
    if pack.status == "uploaded":
        out.text(
            f"Uploaded version {pack.version} of File {pack.document_id} (ContentVersion {pack.version_id})."
        )
    elif pack.status == "unchanged":
        out.text(f"Unchanged: version {pack.version} of File {pack.document_id} already shows these figures.")
    elif pack.status == "failed":
        out.error(f"Upload failed: {pack.error}")
    if pdf_path is not None:
        pdf = pack.pdf
        if pdf is None and figs is not None:
            from jobs.qbr_render import render  # noqa: PLC0415 - matplotlib only when a pack is written

            pdf = render(figs)
        if pdf is not None:
            qbr_pack.write_pdf(pdf_path, pdf)
            out.result["written"] = str(pdf_path)
            out.text(f"Wrote {pdf_path} ({len(pdf):,} bytes).")
    return result.exit_code


# Jobs that evaluate the admin's account_health.toml / risk_rules.toml (snapshots score with it).
MAPPING_SET_JOBS = frozenset({"account_health", "risk_alerts", "snapshots"})


def preflight(app: App, org: SalesforceClient, mjob: MappingJob, ms: MappingSet) -> None:
    """Check the mapping set against the (cached) describe before the run reads or writes anything.

    A misspelled field must be a config error naming its file and key (exit 2, nothing written), not
    a query Salesforce rejects halfway through a run.
    """
    issues = org_issues(app, app.describer(org), mjob, ms)
    if issues:
        raise MappingError(issues)


def org_issues(
    app: App, describe: Callable[[str], Mapping[str, Any]], mjob: MappingJob, ms: MappingSet
) -> list[MappingIssue]:
    """What in the job's mapping files the org's describe contradicts (shared by preflight and validate)."""
    if mjob.name in MAPPING_SET_JOBS:
        return validate_against_describe(ms, {o: describe(o) for o in sorted(ms.objects)})
    file = mapping_dir(app) / f"{mjob.name}.toml"  # a lifecycle job: the Account fields it names
    raw, problems = read_toml(file, ms.file_label(file.name))
    if raw is None:
        return [] if not file.exists() else problems
    return check_account_fields(ms.file_label(file.name), raw, mjob.account_fields, describe("Account"))


def options_for(app: App, job: object, force: bool = False) -> JobOptions:
    """The run's options, with the history the job needs (QBR compares quarters, backfills reach back)."""
    opts = app.job_options(force)
    today = app.clock().date()
    need = getattr(job, "history_days", 0) or 0
    if hasattr(job, "history_days_for"):
        need = max(need, job.history_days_for(today, opts.history_days))
    return replace(opts, history_days=max(opts.history_days, need))


def _counts_lines(job: str, counts: dict[str, Any]) -> list[str]:
    """A run's counts as a person reads them: what was read (pull) or planned and written."""
    if job == "pull":
        keys = ("stores", "records", "rejected", "failed_stores")
        lines = [", ".join(f"{k.replace('_', ' ')} {counts[k]}" for k in keys if k in counts)]
        failures = counts.get("failures") or []
        lines += [f"  {f['source']} {f['store'] or '(all stores)'}: {f['error']}" for f in failures[:20]]
        if len(failures) > 20:
            lines.append(f"  … {len(failures) - 20} more (csm-sync status --run RUN_ID --json)")
        return lines
    plan_counts = counts.get("plan") or {}
    planned = ", ".join(f"{plan_counts.get(k, 0)} to {k}" for k in ("create", "update", "close"))
    lines = [f"planned {planned} over {counts.get('accounts', 0)} accounts"]
    for part in ("applied", "resumed"):
        done = counts.get(part) or {}
        sent_keys = ("created", "updated", "closed", "failed", "dead", "queued")
        shown = ", ".join(f"{k} {done[k]}" for k in sent_keys if done.get(k))
        if part == "applied" or shown:
            label = "written" if part == "applied" else "left by an earlier run, now sent"
            lines.append(
                f"{label}: {shown or 'nothing'}"
                + (f" (stopped: {done['stopped']})" if done.get("stopped") else "")
            )
    return lines


def summarise(
    out: Output, job: str, run_id: str, code: ExitCode, outcome: Outcome | None, error: str
) -> None:
    out.result = {
        "job": job,
        "run_id": run_id,
        "counts": outcome.counts if outcome is not None else {},
        "api_calls": outcome.api_calls if outcome is not None else 0,
        "error": error,
    }
    if error:
        out.error(f"{job}: {error}")
    if outcome is not None:
        for line in _counts_lines(job, outcome.counts):
            out.text(f"{job}: {line}" if not line.startswith("  ") else line)
        for warning in outcome.counts.get("warnings", ()):
            out.warn(f"{job}: warning: {warning}")
        if outcome.api_calls:
            out.text(f"{job}: {outcome.api_calls} Salesforce API calls")
    out.text(f"{job}: run {run_id}, exit {int(code)} ({code.name.lower()})")


def run_scheduler(app: App, out: Output) -> ExitCode:
    from worker.scheduler import serve  # noqa: PLC0415 - only the long-running mode needs APScheduler

    job_progress.install(LogSink())  # every scheduled run logs its progress (its pool threads share it)
    try:
        return serve(app, out.console)
    finally:
        job_progress.install(None)


def status(
    app: App,
    out: Output,
    job: str | None = None,
    run: str | None = None,
    csv: bool = False,
    limit: int = 15,
) -> ExitCode:
    """The status board, or (`run`) one run's record and every record rejected in it."""
    if job is not None and job not in registry.job_names():
        out.error(str(registry.UnknownJob(job)))
        return ExitCode.CONFIG
    if csv and run is None:
        out.error("--csv exports one run's rejected records: give --run RUN_ID (see `csm-sync status`)")
        return ExitCode.CONFIG
    if run is None:
        out.result = board(app.engine, app.clock(), app.settings.metrics.stale_hours, job, limit)
        if not out.as_json:
            print_board(out.console, out.result)
        return ExitCode.OK
    detail = run_detail(app.engine, run)
    if detail is None or (job is not None and detail["run"]["job"] != job):
        of = f" of job {job}" if job else ""
        out.error(f"no run {run!r}{of} in the run ledger; `csm-sync status` lists recent runs")
        return ExitCode.CONFIG
    out.result = detail
    if csv and not out.as_json:
        out.stream.write(rejected_csv(detail["rejected"]))
    elif not out.as_json:
        print_run(out.console, detail)
    return ExitCode.OK


def explain(app: App, out: Output, store: str) -> ExitCode:
    try:
        ms = load_mappings(app)
    except MappingError as exc:
        _mapping_problems(out, exc)
        return ExitCode.CONFIG
    org = app.org()
    try:
        trace = registry.explain(app.engine, org, ms, store, app.clock(), app.job_options())
    except SalesforceUnavailable as exc:
        out.error(f"Salesforce unavailable: {redact.error(exc, False)}")
        return ExitCode.UNAVAILABLE
    except SigningKeyError as exc:
        out.error(signing_key_problem("salesforce.private_key", exc))
        return ExitCode.CONFIG
    except registry.UnknownStore as exc:
        out.error(f"{exc}; `csm-sync status` shows the stores each source has")
        return ExitCode.CONFIG
    out.result = trace
    if not out.as_json:
        from rich.json import JSON  # noqa: PLC0415

        out.text(trace["text"])
        for name, inputs in trace["jobs"].items():
            out.print(f"\n[bold]{name}[/bold]")
            out.print(JSON.from_data(inputs, default=str))
    return ExitCode.OK
