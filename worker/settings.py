"""Settings: config.toml plus secrets from the environment or secret files, into frozen pydantic models."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from configfiles import pydantic_issues, read_toml
from connectors.catalog import SourceConfigError, parse_sources
from connectors.config import SecretError, check_ca_bundle, resolve_secret
from connectors.salesforce.auth import KEY_FIX, SigningKeyError, check_signing_key
from jobs.field_expressions import install as install_field_expressions
from jobs.names import RUN_ORDER

JOB_NAMES = RUN_ORDER

install_field_expressions()  # specs' computed fields are written in the mapping language


class ConfigError(Exception):
    """Bad configuration: every problem, each naming the file, the key and what was expected."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    # strict: TOML has types, so "no" is not a bool and "30" not a number; a mistake is reported.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SecretRef(_Model):
    """Where a secret comes from: an environment variable or a file; never the config file itself."""

    env: str = ""
    file: str = ""

    def resolve(self, key: str, environ: Mapping[str, str]) -> SecretStr:
        try:
            return SecretStr(resolve_secret(self.env, self.file, environ, name=key))
        except SecretError as exc:
            raise ValueError(str(exc)) from None


class StateSettings(_Model):
    url: str = "sqlite:///var/csm-sync.db"


class SalesforceSettings(_Model):
    login_url: str = "https://login.salesforce.com"
    auth: Literal["jwt", "client_credentials"] = "jwt"
    client_id: str = ""
    username: str = ""  # the integration user, for JWT bearer
    audience: str = ""  # JWT `aud`; defaults to the login URL's host (login or test.salesforce.com)
    private_key: SecretStr | None = None  # JWT signing key (PEM), from private_key_env / _file
    client_secret: SecretStr | None = None  # client credentials, from client_secret_env / _file
    api_version: str = "59.0"
    ca_bundle: str = ""  # extra CA bundle (sandbox, TLS-inspecting proxies); verification is never off
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    api_budget_share: Annotated[float, Field(gt=0, le=1)] = 0.1
    api_budget_calls: Annotated[int, Field(ge=0)] = 0  # absolute cap per run; 0 = use the share only
    bulk_threshold: Annotated[int, Field(ge=1)] = 2000
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0  # bound on retrying one call
    write_sync_runs: bool = False  # also record each run as a Sync_Run__c record
    # How long the scheduler's firings reuse a whole-portfolio read (Accounts) no write has changed since
    reuse_reads_seconds: Annotated[float, Field(ge=0, le=86_400)] = 600.0

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str) -> str:
        return check_ca_bundle(value)

    @model_validator(mode="after")
    def _credentials(self) -> SalesforceSettings:
        if not self.client_id:
            raise ValueError("client_id: required (the connected app's consumer key)")
        if self.auth == "jwt":
            if not self.username:
                raise ValueError('username: required for auth = "jwt" (the integration user)')
            if self.private_key is None:
                raise ValueError('private_key: set private_key_file or private_key_env for auth = "jwt"')
        if self.auth == "client_credentials" and self.client_secret is None:
            raise ValueError(
                'client_secret: set client_secret_env or client_secret_file for auth = "client_credentials"'
            )
        return self


class SyncSettings(_Model):
    mappings_dir: str = ""  # empty: the default mapping files shipped with csm-sync
    safety_max_change_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    safety_min_records: Annotated[int, Field(ge=0)] = 20  # below this many records the check is off
    history_days: Annotated[int, Field(ge=14, le=730)] = 120
    outbox_max_age_hours: Annotated[float, Field(gt=0)] = 24.0


class JobSettings(_Model):
    enabled: bool = True
    schedule: str = ""  # cron expression, e.g. "*/15 * * * *"; empty: not scheduled


class SchedulerSettings(_Model):
    timezone: str = "UTC"
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 300
    # The job lock's lease: renewed every third of it while the run lives, taken over once the holder
    # has not renewed it for this long (a killed run blocks its job for a minute, not an hour).
    lock_ttl_seconds: Annotated[int, Field(ge=3, le=3600)] = 60
    # PostgreSQL only: a firing's stores are split into shards that replicas claim under leases.
    shards: Annotated[int, Field(ge=0, le=4096)] = 0  # 0: one shard per 250 stores
    lease_ttl_seconds: Annotated[int, Field(ge=5)] = 120  # a dead replica's shard is taken over after this
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0  # idle replicas look for expired leases
    # Shards of a sync job one replica runs at once (the pull's run one at a time: its sources' limits
    # hold per replica). Each holds a shard's reads (≈ 25 MB) and a Salesforce client.
    shards_side_by_side: Annotated[int, Field(ge=1, le=16)] = 1


class MetricsSettings(_Model):
    port: Annotated[int, Field(ge=0, le=65535)] = 9464  # `run` serves /metrics here; 0: off
    host: str = "0.0.0.0"  # noqa: S104 - in a container the endpoint must be reachable from outside
    textfile: str = ""  # `run-job` writes the metrics here (node-exporter textfile collector); "": off
    stale_hours: Annotated[float, Field(gt=0)] = 24.0  # a store's source data older than this is stale


class DigestSettings(_Model):
    """The morning brief's optional Slack copy: the incoming webhook's URL is a secret (env or file)."""

    slack_webhook_env: str = ""
    slack_webhook_file: str = ""
    ca_bundle: str = ""  # the CA bundle the webhook's TLS is verified against; "": the system's


class LoggingSettings(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(_Model):
    state: StateSettings = StateSettings()
    salesforce: SalesforceSettings
    sync: SyncSettings = SyncSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()
    digest: DigestSettings = DigestSettings()
    jobs: dict[str, JobSettings] = {}
    sources: Annotated[tuple[dict[str, Any], ...], Field(strict=False)] = ()  # checked by parse_sources

    @model_validator(mode="after")
    def _known_jobs(self) -> Settings:
        for name in self.jobs:
            if name not in JOB_NAMES:
                raise ValueError(f"jobs.{name}: unknown job; valid jobs: {', '.join(JOB_NAMES)}")
        return self

    def job(self, name: str) -> JobSettings:
        return self.jobs.get(name, JobSettings())


_SECRET_KEYS = {("salesforce", "private_key"), ("salesforce", "client_secret")}


def load_settings(
    path: Path, environ: Mapping[str, str] | None = None, *, check_secrets: bool = True
) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem with file and key.

    `check_secrets=False` (validate --offline) checks where each secret comes from but reads none:
    the secrets are then placeholders, and the settings are for checking only.
    """
    environ = os.environ if environ is None else environ
    raw, issues = read_toml(Path(path), str(path), missing_fix="copy config.example.toml to start")
    if raw is None:
        raise ConfigError([str(i) for i in issues])
    return settings_from_dict(raw, str(path), environ, check_secrets=check_secrets)


def settings_from_dict(
    raw: dict[str, Any], origin: str, environ: Mapping[str, str], *, check_secrets: bool = True
) -> Settings:
    """Every problem at once: secrets, types and ranges, schedules, time zone, state URL, sources."""
    problems: list[str] = []
    raw = _resolve_secrets(raw, origin, environ, problems, check_secrets)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        issues = pydantic_issues(origin, exc, model=Settings, raw=raw, nouns=_NOUNS, extra_keys=_SECRET_REFS)
        problems += [str(i) for i in issues]
    problems += [f"{origin}: {p}" for p in _runtime_problems(raw)]
    sources = raw.get("sources", ())
    if isinstance(sources, list | tuple) and all(isinstance(x, dict) for x in sources):
        try:
            parse_sources(sources, origin, environ, check_secrets=check_secrets)
        except SourceConfigError as exc:
            problems += exc.problems
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _runtime_problems(raw: Mapping[str, Any]) -> list[str]:
    """What `run` would refuse that types alone do not catch: the time zone, each job's cron schedule,
    and a state URL SQLAlchemy can use (SQLite or PostgreSQL)."""
    from state.engine import is_state_url, safe_url  # noqa: PLC0415 - settings load fast for `--help`
    from worker.cron import check_schedule, zone_problem  # noqa: PLC0415 - APScheduler

    out: list[str] = []
    scheduler = raw.get("scheduler")
    tz = scheduler.get("timezone", "UTC") if isinstance(scheduler, dict) else "UTC"
    if isinstance(tz, str) and (zone := zone_problem(tz)):
        out.append(zone)
    jobs = raw.get("jobs")
    for name, job in sorted(jobs.items()) if isinstance(jobs, dict) else ():
        schedule = job.get("schedule", "") if isinstance(job, dict) else ""
        if isinstance(schedule, str) and (
            problem := check_schedule(name, schedule, tz if isinstance(tz, str) else "UTC")
        ):
            out.append(problem)
    state = raw.get("state")
    url = state.get("url") if isinstance(state, dict) else None
    if isinstance(url, str) and not is_state_url(url):
        out.append(
            f'state.url: "{safe_url(url)}" is not a state store URL: use '
            '"sqlite:///path/to/csm-sync.db" or "postgresql://user@host:5432/db" '
            "(the password from PGPASSWORD, not the URL)"
        )
    return out


def _resolve_secrets(
    raw: dict[str, Any],
    origin: str,
    environ: Mapping[str, str],
    problems: list[str],
    check_secrets: bool = True,
) -> dict[str, Any]:
    """Turn `<key>_env` / `<key>_file` into the secret; refuse a secret written into the file itself."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for section, key in _SECRET_KEYS:
        table = out.get(section)
        if not isinstance(table, dict):
            continue
        if key in table:
            problems.append(
                f"{origin}: {section}.{key}: secrets may not be written in the config file; "
                f'use {key}_env = "VARIABLE" or {key}_file = "/run/secrets/..."'
            )
            continue
        ref = SecretRef(env=table.pop(f"{key}_env", ""), file=table.pop(f"{key}_file", ""))
        if (ref.env or ref.file) and not check_secrets:
            table[key] = SecretStr("")  # declared, not read: enough to check the rest of the config
        elif ref.env or ref.file:
            try:
                table[key] = ref.resolve(key, environ)
            except ValueError as exc:
                problems.append(f"{origin}: {section}.{exc}")
                table[key] = SecretStr("")  # reported above; not again as missing
                continue
            if key == "private_key" and table.get("auth", "jwt") == "jwt":
                try:
                    check_signing_key(table[key].get_secret_value())
                except SigningKeyError as exc:
                    where = f"{key}_env: ${ref.env}" if ref.env else f"{key}_file: {ref.file}"
                    problems.append(f"{origin}: {section}.{where} {exc}; fix: {KEY_FIX}")
    return out


def signing_key_problem(key: str, exc: SigningKeyError) -> str:
    """A bad signing key met at run time, in the words of a config error."""
    return f"{key}: the JWT signing key {exc}; fix: {KEY_FIX}"


# What a literal key holds, and the keys naming where a secret comes from (not model fields).
_NOUNS: dict[tuple[str, ...], str] = {
    ("auth",): "a Salesforce auth flow",
    ("level",): "a log level",
    ("format",): "a log format",
}
_SECRET_REFS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("salesforce",): ("private_key_env", "private_key_file", "client_secret_env", "client_secret_file"),
}
