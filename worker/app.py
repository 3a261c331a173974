"""The application object: settings turned into an engine, a Salesforce client and job options."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.catalog import parse_sources
from connectors.config import SECRET_NAMES, SecretError, per_store_secrets
from connectors.salesforce.auth import Authenticator, ClientCredentials, JwtBearer
from connectors.salesforce.client import LimitReached, SalesforceClient
from connectors.salesforce.shared_login import SharedLogin
from jobs.apply import ApplyOptions
from jobs.portfolio import PortfolioReads
from jobs.sync import JobOptions
from state.engine import Engine, make_engine
from state.migrations import init_schema
from worker.logging import register_secrets
from worker.settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


def source_secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Every secret the sources use (env, files, per-store files), so the log redactor knows them all."""
    out: list[str] = []
    for cfg in parse_sources(settings.sources, "config", environ, check_secrets=False):
        auth = cfg.auth
        for name in SECRET_NAMES:
            if auth.has(name):
                try:
                    out.append(auth.secret(name, "", environ))
                except SecretError:
                    continue  # reported by validation; nothing to redact
        if auth.per_store_file:
            try:
                entries = per_store_secrets(auth.per_store_file)
            except SecretError:
                continue
            for entry in entries.values():
                values = entry.values() if isinstance(entry, Mapping) else [entry]
                out.extend(str(v) for v in values if isinstance(v, str))
    return out


# How long a describe is trusted: an admin's new field is seen by the next firing after this.
DESCRIBE_TTL_SECONDS = 600.0


class App:
    """What every command needs, built once from validated settings."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        session_factory: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        sf = settings.salesforce
        register_secrets(s.get_secret_value() for s in (sf.private_key, sf.client_secret) if s is not None)
        register_secrets(source_secrets(settings, self.environ))
        self._engine: Engine | None = None
        self._describes: dict[str, tuple[float, dict[str, Any]]] = {}
        self._describe_lock = threading.Lock()
        self._login: SharedLogin | None = None
        self._login_lock = threading.Lock()
        self._portfolio: PortfolioReads | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.settings.state.url
            if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(url)
            init_schema(self._engine)
        return self._engine

    def authenticator(self) -> Authenticator:
        sf = self.settings.salesforce
        if sf.auth == "jwt":
            assert sf.private_key is not None
            return JwtBearer(sf.login_url, sf.client_id, sf.username, sf.private_key, sf.audience)
        assert sf.client_secret is not None
        return ClientCredentials(sf.login_url, sf.client_id, sf.client_secret)

    def org(self) -> SalesforceClient:
        """A client of its own (budget, usage, retries) on the process's one login (`SharedLogin`)."""
        sf = self.settings.salesforce
        with self._login_lock:
            if self._login is None:
                self._login = SharedLogin(self.authenticator())
        return SalesforceClient(
            self._login,
            api_version=sf.api_version,
            timeout=sf.timeout_seconds,
            ca_bundle=sf.ca_bundle,
            budget_calls=sf.api_budget_calls,
            budget_share=sf.api_budget_share,
            retry_seconds=sf.retry_seconds,
        )

    @property
    def portfolio(self) -> PortfolioReads:
        """The process's kept whole-portfolio reads, which the scheduler's firings share."""
        with self._login_lock:
            if self._portfolio is None:
                age = timedelta(seconds=self.settings.salesforce.reuse_reads_seconds)
                self._portfolio = PortfolioReads.of(self.engine, age)
        return self._portfolio

    def describer(self, org: SalesforceClient) -> Callable[[str], dict[str, Any]]:
        """`org.describe` through this process's cache: every shard of every sync job plans against the
        same objects, and a describe per shard-job was ≈ 525 calls a cycle at 10,000 stores."""

        def describe(sobject: str) -> dict[str, Any]:
            now = time.monotonic()
            with self._describe_lock:
                hit = self._describes.get(sobject)
            if hit is not None and now - hit[0] < DESCRIBE_TTL_SECONDS:
                return hit[1]
            body = org.describe(sobject)
            with self._describe_lock:
                self._describes[sobject] = (now, body)
            return body

        return describe

    def job_options(self, force: bool = False) -> JobOptions:
        s = self.settings
        return JobOptions(
            history_days=s.sync.history_days,
            safety_max_change_share=s.sync.safety_max_change_share,
            safety_min_records=s.sync.safety_min_records,
            force=force,
            freshness_aliases={
                str(src["name"]): str(src["freshness_as"])
                for src in s.sources
                if src.get("freshness_as") and src.get("name")
            },
            apply=ApplyOptions(
                max_attempts=s.salesforce.max_attempts,
                bulk_threshold=s.salesforce.bulk_threshold,
                outbox_max_age=timedelta(hours=s.sync.outbox_max_age_hours),
                stop_on=(LimitReached,),
            ),
        )
