"""Two `csm-sync run-job pull` processes at once on one SQLite state store: one runs, the other exits 5."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial
from state.engine import make_engine
from state.migrations import init_schema
from tests.integration.jobs.test_pull_sandbox import TODAY, configs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]

try:  # `run-job` needs the CLI and the job registry, which land separately
    import worker.cli  # noqa: F401
except ImportError as exc:
    pytest.skip(f"csm-sync run-job cannot start yet: {exc}", allow_module_level=True)


@pytest.fixture
def slow_sources(tmp_path: Path) -> Iterator[tuple[SourcesApp, RunningServer, Path]]:
    app = build_app(Portfolio(7, TODAY, days=3, orders_per_day=4))
    app.set_faults("*", latency_ms=5)  # a pull of several seconds, so the two runs overlap
    with serve(app, TLSMaterial.create(tmp_path)) as server:
        yield app, server, tmp_path


def toml(value: Any, path: str = "") -> str:
    """Just enough TOML for a config: scalars, tables and arrays of tables."""
    scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
    out = [f"{k} = {scalar(v)}" for k, v in scalars.items()]
    for k, v in value.items():
        name = f"{path}.{k}" if path else k
        if isinstance(v, dict):
            out += ["", f"[{name}]", toml(v, name)]
        elif isinstance(v, list):
            for item in v:
                out += ["", f"[[{name}]]", toml(item, name)]
    return "\n".join(out)


def scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_job(config: Path, env: Mapping[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "--config", str(config), "run-job", "pull"],
        cwd=ROOT,
        stdout=log.with_suffix(".out").open("w"),  # a file, not a pipe: the test polls, never blocks a writer
        stderr=log.open("w"),
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )


def test_a_second_run_job_of_the_same_job_exits_5(
    slow_sources: tuple[SourcesApp, RunningServer, Path],
) -> None:
    app, server, tmp = slow_sources
    raw, env = configs(app, server, tmp)
    db = tmp / "state.db"
    init_schema(make_engine(f"sqlite:///{db}"))  # an existing state store, as in production
    config = tmp / "config.toml"
    config.write_text(
        toml(
            {
                "state": {"url": f"sqlite:///{db}"},
                "salesforce": {
                    "auth": "client_credentials",
                    "client_id": "app",
                    "client_secret_env": "SF_SECRET",
                },
                "metrics": {"port": 0},
                "logging": {"format": "json"},
                "sources": raw,
            }
        )
    )
    env = {**env, "SF_SECRET": "not-used-by-pull"}
    procs = {n: run_job(config, env, tmp / f"{n}.log") for n in ("first", "second")}
    finished: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while len(finished) < 2 and time.monotonic() < deadline:
        for name, proc in procs.items():
            if name not in finished and proc.poll() is not None:
                finished[name] = time.monotonic()
        time.sleep(0.05)
    for proc in procs.values():
        if proc.poll() is None:  # still running after two minutes: fail below with what it printed
            proc.kill()
    outs = {n: (p.wait(), (tmp / f"{n}.out").read_text()) for n, p in procs.items()}
    codes = sorted(code for code, _ in outs.values())
    assert codes[1] == 5, {
        n: (c, o[-500:], (tmp / f"{n}.log").read_text()[-1500:]) for n, (c, o) in outs.items()
    }
    assert codes[0] in (0, 1)  # the run that held the lock finished (1: a store of the sandbox may fail)
    busy = next(o for c, o in outs.values() if c == 5)
    assert "pull is already running (held by " in busy and "nothing was done" in busy
    assert "pull: exit 5 (busy)" in busy
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run WHERE job = 'pull'")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM job_lock")).scalar_one() == 0  # released
    holder = next(n for n, (c, _) in outs.items() if c != 5)
    busy_name = next(n for n, (c, _) in outs.items() if c == 5)
    assert (
        finished[busy_name] < finished[holder]
    )  # the busy run returned at once, it did not wait for the lock
