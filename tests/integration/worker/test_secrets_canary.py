"""Canary secrets never leave: every credential set to a canary, every failure path driven against the
sandbox with the installed CLI, and stdout, stderr (the log), every state table and the org searched.

Failure paths: host unreachable, TLS verification failure, timeout, 401 for every source (the canaries
are wrong credentials), 500 echoing the request (URL, headers, form) with the real credentials, and a bad
JWT key. The NPS source is switched to a key in the query string here, so the URL-scrubbing part of the
redaction is exercised too (the shipped spec sends it in a header). Runs record themselves in the org
(`write_sync_runs`), so the run's errors reach `Sync_Run__c.Detail__c` where a leak would show.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from sandbox.environment import SandboxEnvironment
from sandbox.server import serve
from sandbox.sources import build_app
from sandbox.sources.platform import PlatformApp
from sandbox.sources.treez import TreezApp
from tests.integration.jobs.test_locks_sqlite import scalar

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
STORES = ("NV-001", "AZ-001")  # a Dutchie store and a Treez store; billing, support, NPS read all stores
SOURCE_SYSTEMS = ("dutchie", "treez", "metrc", "platform", "billing", "support", "nps")


def toml(value: dict[str, Any], path: str = "") -> str:
    """Enough TOML for a config: scalars, string lists, tables and arrays of tables."""
    out = [
        f"{k} = [{', '.join(scalar(x) for x in v)}]"
        if isinstance(v, list) and not _tables(v)
        else f"{k} = {scalar(v)}"
        for k, v in value.items()
        if not isinstance(v, dict) and not (isinstance(v, list) and _tables(v))
    ]
    for k, v in value.items():
        name = f"{path}.{k}" if path else k
        if isinstance(v, dict):
            out += ["", f"[{name}]", toml(v, name)]
        elif isinstance(v, list) and _tables(v):
            for item in v:
                out += ["", f"[[{name}]]", toml(item, name)]
    return "\n".join(out)


def _tables(v: list[Any]) -> bool:
    return bool(v) and all(isinstance(x, dict) for x in v)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxEnvironment]:
    with SandboxEnvironment.start(tmp_path_factory.mktemp("canary"), days=20, orders_per_day=3) as e:
        yield e


def canary_secrets(folder: Path, env: SandboxEnvironment) -> dict[str, str]:
    """A canary for every credential of every source, written where the config reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    canaries: dict[str, str] = {}

    def canary(name: str) -> str:
        value = f"CANARY{len(canaries):02d}x{os.urandom(8).hex()}"
        canaries[name] = value
        return value

    for name in ("platform_client_secret", "billing_api_key", "support_token", "nps_api_key",
                 "metrc_vendor_key", "metrc_user_key", "flowhub_client_id", "blaze_partner_key"):  # fmt: skip
        (folder / name).write_text(canary(name) + "\n")
    creds = env.sources.credentials
    dutchie = {s: {"username": canary(f"dutchie {s} user"), "password": canary(f"dutchie {s} pass")}
               for s in creds.dutchie}  # fmt: skip
    treez = {s: {"key": canary(f"treez {s} key"), "client_id": k.client_id} for s, k in creds.treez.items()}
    (folder / "dutchie_locations.json").write_text(json.dumps(dutchie))
    (folder / "treez_dispensaries.json").write_text(json.dumps(treez))
    flowhub = {s: canary(f"flowhub {s} key") for s in creds.flowhub}
    blaze = {s: canary(f"blaze {s} key") for s in creds.blaze}
    (folder / "flowhub_locations.json").write_text(json.dumps(flowhub))
    (folder / "blaze_shops.json").write_text(json.dumps(blaze))
    return canaries


def config(env: SandboxEnvironment, tmp: Path, name: str, *, secrets: Path | None, **change: Any) -> Path:
    """The sandbox's config with the runs recorded in the org, a state store of its own, and changes."""
    raw = tomllib.loads(env.config_path.read_text())
    raw["state"]["url"] = f"sqlite:///{tmp / name}.db"
    raw["salesforce"]["write_sync_runs"] = True
    raw["salesforce"].update(change.pop("salesforce", {}))
    for src in raw["sources"]:
        src.update({"retry_max_attempts": 2, "retry_max_seconds": 1, "timeout_seconds": 5})
        src.update(change.get("source", {}))
        if src["name"] == "nps":
            src["auth"] = {**src["auth"], "kind": "api_key_query", "param": "api_key"}
        if secrets is not None:
            for key, value in list(src["auth"].items()):
                if key.endswith("_file"):
                    src["auth"][key] = str(secrets / Path(value).name)
        if "base_url" in change:
            src["base_url"] = change["base_url"].format(name=src["name"])
        if "root" in change:  # the same paths on another server
            src["base_url"] = change["root"] + "/" + src["base_url"].split("/", 3)[3]
        if change.get("only"):
            src["enabled"] = src["name"] == change["only"]
    path = tmp / f"{name}.toml"
    path.write_text(toml(raw) + "\n")
    return path


def state_text(db: Path) -> str:
    """Every row of every table of the state store, as text."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def org_text(env: SandboxEnvironment) -> str:
    return "\n".join(
        json.dumps(env.org.records(o.name, include_deleted=True), default=str) for o in env.org.schema
    )


def real_secrets(env: SandboxEnvironment) -> dict[str, str]:
    """The sandbox's own credentials, the JWT key's lines and every token issued during the test."""
    found: dict[str, str] = {}
    for path in sorted((env.workdir / "secrets").iterdir()):
        text = path.read_text()
        if path.suffix == ".json":
            for store, entry in json.loads(text).items():
                if isinstance(entry, str):  # a store's one key (Flowhub, BLAZE)
                    found[f"{path.name} {store}"] = entry
                    continue
                for k, v in entry.items():
                    if k != "client_id":
                        found[f"{path.name} {store} {k}"] = v
        elif path.suffix == ".pem":
            body = [ln for ln in text.splitlines() if ln and not ln.startswith("-----")]
            found.update({f"{path.name} line {i}": ln for i, ln in enumerate(body)})
        else:
            found[path.name] = text.strip()
    for i, token in enumerate(env.org.issued_tokens()):
        found[f"salesforce token {i}"] = token
    for name in ("platform", "treez"):
        app = env.sources.apps[name]
        assert isinstance(app, PlatformApp | TreezApp)
        found.update({f"{name} token {i}": t for i, t in enumerate(app.tokens.issued)})
    return found


def leaks(secrets: dict[str, str], places: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for what, value in secrets.items() for where, text in places.items()
            if value and value in text]  # fmt: skip


@pytest.fixture(scope="module")
def echo_root(env: SandboxEnvironment) -> Iterator[str]:
    """A second sources server on the same portfolio (same credentials) whose every answer is a 500
    echoing the request, so the other scenarios can run against the first one at the same time."""
    app = build_app(env.portfolio)
    app.set_faults("*", echo_rate=1.0)
    with serve(app, env.tls) as server:
        yield server.url


def start(cli_args: list[str], tmp: Path, name: str) -> subprocess.Popen[bytes]:
    """The CLI as an operator runs it; stderr (the log) goes to a file, as a log shipper would read it."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", *cli_args],
        cwd=ROOT,
        stdout=(tmp / f"{name}.out").open("w"),
        stderr=(tmp / f"{name}.log").open("w"),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def finish(procs: dict[str, subprocess.Popen[bytes]], tmp: Path) -> dict[str, tuple[int, str, str]]:
    out = {}
    for name, proc in procs.items():
        code = proc.wait(timeout=300)
        out[name] = (code, (tmp / f"{name}.out").read_text(), (tmp / f"{name}.log").read_text())
    return out


QUICK = ("unreachable", "echo", "badkey-validate")
EVERY = ("unreachable", "tls", "timeout", "unauthorized", "echo", "badkey-validate", "badkey-run")


@pytest.mark.parametrize(
    "paths", [pytest.param(QUICK, id="quick"), pytest.param(EVERY, id="every-path", marks=pytest.mark.long)]
)
def test_no_canary_leaves_on_any_failure_path(
    env: SandboxEnvironment, echo_root: str, tmp_path: Path, paths: tuple[str, ...]
) -> None:
    canaries = canary_secrets(tmp_path / "canary-secrets", env)
    canary_dir = tmp_path / "canary-secrets"
    stores = [a for s in STORES for a in ("--store", s)]

    # The store directory, as an earlier good pull left it (the platform lists the stores), so every
    # POS and Metrc credential is used below, not only the portfolio-wide ones.
    seed = config(env, tmp_path, "seed", secrets=None, only="platform")
    [(code, out, log)] = finish(
        {"seed": start(["--config", str(seed), "run-job", "pull", *stores], tmp_path, "seed")}, tmp_path
    ).values()
    assert code == 0, (out[-2000:], log[-2000:])

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        scenarios = {
            "unreachable": config(env, tmp_path, "unreachable", secrets=canary_dir,
                                  base_url=f"https://127.0.0.1:{closed_port()}/{{name}}"),
            "tls": config(env, tmp_path, "tls", secrets=canary_dir, source={"ca_bundle": str(other_ca)}),
            "timeout": config(env, tmp_path, "timeout", secrets=canary_dir, source={"timeout_seconds": 0.5},
                              base_url=f"https://127.0.0.1:{silent.getsockname()[1]}/{{name}}"),
            "unauthorized": config(env, tmp_path, "unauthorized", secrets=canary_dir),
            "echo": config(env, tmp_path, "echo", secrets=None, root=echo_root),
        }  # fmt: skip
        scenarios = {k: v for k, v in scenarios.items() if k in paths}
        for name in scenarios:
            shutil.copy(tmp_path / "seed.db", tmp_path / f"{name}.db")
        # A bad JWT key: a config error before anything is read or sent, the key never quoted.
        bad_key = tmp_path / "bad-key.pem"
        canaries["bad jwt key"] = f"CANARYKEY{os.urandom(12).hex()}"
        bad_key.write_text(
            f"-----BEGIN PRIVATE KEY-----\n{canaries['bad jwt key']}\n-----END PRIVATE KEY-----\n"
        )
        bad = config(env, tmp_path, "badkey", secrets=None, salesforce={"private_key_file": str(bad_key)})
        procs = {name: start(["--config", str(path), "run-job", "pull", *stores], tmp_path, name)
                 for name, path in scenarios.items()}  # fmt: skip
        for name, command in (
            ("badkey-validate", ["validate"]),
            ("badkey-run", ["run-job", "account_health"]),
        ):
            if name in paths:
                procs[name] = start(["--config", str(bad), *command], tmp_path, name)
        results = finish(procs, tmp_path)

    places: dict[str, str] = {}
    for name, (code, out, log) in results.items():
        places.update({f"{name} stdout": out, f"{name} log": log})
        if name.startswith("badkey"):
            assert code == 2, (name, out, log)
            assert f"salesforce.private_key_file: {bad_key} cannot be read as a private key" in out.replace(
                "\n", ""
            )
            continue
        assert code == 1, (name, code, out[-2000:], log[-3000:])  # every source failed; kept for next run
        assert "sync_run_recorded" in log, (name, log[-1500:])
        places[f"{name} state"] = state_text(tmp_path / f"{name}.db")
        for source in ("pos", "treez", "metrc", "billing", "support", "nps"):  # each credential was used
            named = re.search(rf'(^|\n)\s+{source} ([A-Z]{{2}}-\d+|\*): |"source": "{source}"', out)
            assert named, (name, source, out[-3000:])

    # The failures said what went wrong, with the credentials masked where they were echoed.
    said = {"unreachable log": "api_key=***", "tls log": "CERTIFICATE_VERIFY_FAILED", "timeout log": "timed out",
            "unauthorized stdout": "401", "echo stdout": "HTTP 500"}  # fmt: skip
    for place, words in said.items():
        assert place not in places or words in places[place], (place, words)

    places["org"] = org_text(env)
    assert places["org"].count('"Job__c": "pull"') >= len(scenarios) + 1  # every run reached the org
    secrets = {**canaries, **real_secrets(env)}
    assert len(canaries) > 40 and any(k.startswith("salesforce token") for k in secrets)
    assert any(k.startswith("platform token") for k in secrets)
    assert leaks(secrets, places) == []
