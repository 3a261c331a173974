"""One call to a whole local world: the seeded org and every source over HTTPS, secrets, a config.toml."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.portfolio import Portfolio
from sandbox.salesforce import INTEGRATION_USERNAME, ConnectedApp, Faults, Org
from sandbox.salesforce.jwt_keys import make_jwt_keys
from sandbox.seed import seed_org
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial

# Source names as the mapping layer knows them (mappings/sources.toml lists `pos`, not one per
# vendor). Names must be unique, so only one POS source can be `pos`: Dutchie, the larger share.
POS_SOURCE_NAMES = {"dutchie": "pos", "treez": "treez", "flowhub": "flowhub", "blaze": "blaze"}
BILLING_HISTORY_DAYS = 180  # the billing scenarios plant invoices up to ~160 days back


@dataclass
class SandboxEnvironment:
    """A running sandbox: the seeded org, the source systems, the TLS CA, secrets and `config_path`."""

    workdir: Path
    portfolio: Portfolio
    org: Org
    sources: SourcesApp
    org_server: RunningServer
    sources_server: RunningServer
    tls: TLSMaterial
    config_path: Path
    account_ids: dict[str, str]
    _stopped: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        seed: int = 7,
        stores: int = 40,
        days: int = 120,
        today: date | None = None,
        sf_latency: float = 0.0,
        source_latency_ms: int = 0,
        state_url: str | None = None,
        orders_per_day: float = 50.0,
    ) -> SandboxEnvironment:
        """Builds, seeds and serves everything under `workdir` and writes `workdir/config.toml`."""
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        secrets = workdir / "secrets"
        secrets.mkdir(exist_ok=True)
        secrets.chmod(0o700)
        tls = TLSMaterial.create(workdir / "tls")

        keys = make_jwt_keys(days=3650)  # what an admin uploads to the connected app, and signs with
        key_pem, cert_pem = keys.private_key_pem, keys.certificate_pem
        key_path = _write_secret(secrets / "salesforce_jwt_key.pem", key_pem)
        connected_app = ConnectedApp(certificate=cert_pem)
        org = Org.from_metadata(connected_app=connected_app, faults=Faults(latency=sf_latency))
        # Every store-day's orders stay made (up to 20,000 of them): the sources read each several times.
        cache_days = max(4_096, min(stores * days, 20_000))
        portfolio = Portfolio(seed, today, stores, days, orders_per_day=orders_per_day, cache_days=cache_days)
        account_ids = seed_org(org, portfolio)
        app = build_app(portfolio)
        if source_latency_ms:
            app.set_faults("*", latency_ms=source_latency_ms)

        org_server = serve(org, tls)
        try:
            sources_server = serve(app, tls)
        except BaseException:
            org_server.stop()
            raise
        env = cls(
            workdir=workdir,
            portfolio=portfolio,
            org=org,
            sources=app,
            org_server=org_server,
            sources_server=sources_server,
            tls=tls,
            config_path=workdir / "config.toml",
            account_ids=account_ids,
        )
        try:
            files = _write_source_secrets(app, secrets)
            slack_file = _write_secret(secrets / "slack_webhook_url", app.slack.url(sources_server.url))
            state = state_url or f"sqlite:///{workdir / 'csm-sync.db'}"
            text = _config_toml(
                state_url=state,
                login_url=org_server.url,
                client_id=connected_app.consumer_key,
                key_path=key_path,
                ca=tls.ca_path,
                days=days,
                sources=_sources(app, sources_server.url, tls.ca_path, files, days),
                slack_webhook_file=slack_file,
            )
            env.config_path.write_text(text)
        except BaseException:
            env.stop()
            raise
        return env

    def stop(self) -> None:
        """Stops both servers; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.sources_server.stop()
        finally:
            self.org_server.stop()

    def __enter__(self) -> SandboxEnvironment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _write_secret(path: Path, text: str) -> Path:
    """Written with mode 600 from the start, so the secret is never readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    path.chmod(0o600)
    return path


def _write_source_secrets(app: SourcesApp, secrets: Path) -> dict[str, Path]:
    creds = app.credentials
    dutchie = {
        s: {"username": k.location_key, "password": k.integrator_key} for s, k in creds.dutchie.items()
    }
    treez = {s: {"key": k.api_key, "client_id": k.client_id} for s, k in creds.treez.items()}
    plain = {
        "platform_client_secret": creds.platform_client_secret,
        "billing_api_key": creds.billing_api_key,
        "support_token": creds.support_token,
        "nps_api_key": creds.nps_api_key,
        "flowhub_client_id": creds.flowhub_client_id,
        "blaze_partner_key": creds.blaze_partner_key,
        "metrc_vendor_key": creds.metrc_vendor_key,
        "metrc_user_key": creds.metrc_user_key,
    }
    files = {name: _write_secret(secrets / name, value) for name, value in plain.items()}
    files["dutchie"] = _write_secret(secrets / "dutchie_locations.json", json.dumps(dutchie, indent=2))
    files["treez"] = _write_secret(secrets / "treez_dispensaries.json", json.dumps(treez, indent=2))
    files["flowhub"] = _write_secret(
        secrets / "flowhub_locations.json", json.dumps(dict(creds.flowhub), indent=2)
    )
    files["blaze"] = _write_secret(secrets / "blaze_shops.json", json.dumps(dict(creds.blaze), indent=2))
    return files


def _sources(app: SourcesApp, root: str, ca: Path, files: dict[str, Path], days: int) -> list[dict[str, Any]]:
    """The `[[sources]]` tables, in the format connectors.catalog.parse_sources accepts."""
    creds = app.credentials
    common: dict[str, Any] = {"ca_bundle": str(ca), "history_days": days, "concurrency": 8}
    entries: list[dict[str, Any]] = [
        {
            "name": "platform",
            "kind": "platform",
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": creds.platform_client_id,
                "client_secret_file": str(files["platform_client_secret"]),
            },
            "options": {"portfolio_feeds": True},  # analytics, usage, orders: one feed for all stores
        },
        {
            "name": POS_SOURCE_NAMES["dutchie"],
            "kind": "dutchie_pos",
            "system": "dutchie",
            "auth": {"kind": "basic", "per_store_file": str(files["dutchie"])},
        },
        {
            "name": POS_SOURCE_NAMES["treez"],
            "freshness_as": "pos",  # Treez stores' POS data is what the mappings call `pos`
            "kind": "treez_pos",
            "system": "treez",
            "auth": {"kind": "treez_token", "per_store_file": str(files["treez"])},
        },
        {
            "name": POS_SOURCE_NAMES["flowhub"],
            "freshness_as": "pos",  # POS data by a TOML spec alone (connectors/sources/flowhub.toml)
            "kind": "rest",
            "system": "flowhub",
            "auth": {
                "per_store_file": str(files["flowhub"]),
                "partner_key_file": str(files["flowhub_client_id"]),
            },
            "options": {"spec": "flowhub"},
        },
        {
            "name": POS_SOURCE_NAMES["blaze"],
            "freshness_as": "pos",  # POS data by a TOML spec alone (connectors/sources/blaze.toml)
            "kind": "rest",
            "system": "blaze",
            "auth": {
                "per_store_file": str(files["blaze"]),
                "partner_key_file": str(files["blaze_partner_key"]),
            },
            "options": {"spec": "blaze"},
        },
        {
            "name": "metrc",
            "kind": "metrc",
            "auth": {
                "kind": "basic",
                "username_file": str(files["metrc_vendor_key"]),
                "password_file": str(files["metrc_user_key"]),
            },
        },
        {
            "name": "billing",
            "kind": "rest",
            "history_days": max(days, BILLING_HISTORY_DAYS),
            "auth": {"key_file": str(files["billing_api_key"])},
            "options": {"spec": "billing", "scope": "all"},  # the company's own feed: one for all stores
        },
        {
            "name": "support",
            "kind": "rest",
            "auth": {"token_file": str(files["support_token"])},
            "options": {"spec": "support", "scope": "all"},  # the company's own feed: one for all stores
        },
        {
            "name": "nps",
            "kind": "rest",
            "auth": {"key_file": str(files["nps_api_key"])},
            "options": {"spec": "nps", "scope": "all"},  # the company's own feed: one for all stores
        },
    ]
    out: list[dict[str, Any]] = []
    for entry in entries:
        system = entry.pop("system", entry["name"])
        out.append(
            {"name": entry.pop("name"), "kind": entry.pop("kind"), "base_url": app.url(root, system)}
            | common
            | entry
        )
    return out


def _config_toml(
    *,
    state_url: str,
    login_url: str,
    client_id: str,
    key_path: Path,
    ca: Path,
    days: int,
    sources: list[dict[str, Any]],
    slack_webhook_file: Path,
) -> str:
    tables: list[tuple[str, dict[str, Any]]] = [
        ("state", {"url": state_url}),
        (
            "salesforce",
            {
                "login_url": login_url,
                "auth": "jwt",
                "client_id": client_id,
                "username": INTEGRATION_USERNAME,
                "private_key_file": str(key_path),
                "ca_bundle": str(ca),
            },
        ),
        ("sync", {"history_days": min(max(days, 14), 730)}),
        ("scheduler", {"timezone": "UTC"}),
        ("metrics", {"port": 0}),  # several environments may run on one machine
        ("logging", {"level": "info", "format": "auto"}),
        # the morning brief's Slack copy goes to the sources server's stand-in webhook
        ("digest", {"slack_webhook_file": str(slack_webhook_file), "ca_bundle": str(ca)}),
    ]
    lines = ["# Written by sandbox.environment for a local sandbox; secrets live in secrets/."]
    for name, values in tables:
        lines += ["", f"[{name}]", *(f"{k} = {_value(v)}" for k, v in values.items())]
    for entry in sources:
        lines += ["", "[[sources]]"]
        nested = {k: v for k, v in entry.items() if isinstance(v, dict)}
        lines += [f"{k} = {_value(v)}" for k, v in entry.items() if k not in nested]
        for k, v in nested.items():
            lines += [f"[sources.{k}]", *(f"{kk} = {_value(vv)}" for kk, vv in v.items())]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    """A TOML scalar: JSON's string escapes are valid TOML basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot write {value!r} as a TOML scalar")


__all__ = ["BILLING_HISTORY_DAYS", "POS_SOURCE_NAMES", "SandboxEnvironment"]
