"""A SIGKILLed holder's job lock is taken over once its heartbeat stops, not after an hour; SQLite and PG."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from state.engine import make_engine
from state.migrations import init_schema
from state.tables import RunRecord
from tests.integration.pg import fresh_schema
from worker.locks import Busy, JobLock

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
TTL = 3.0  # seconds: the holder renews every second (slack for a loaded machine)

HOLDER = """
import sys, time
from datetime import UTC, datetime, timedelta
from sqlmodel import Session
from state.engine import make_engine
from state.tables import RunRecord
from worker.locks import JobLock

engine = make_engine(sys.argv[1])
with Session(engine) as s:
    s.add(RunRecord(id="victim-run", job="pull", started_at=datetime.now(UTC), host="victim"))
    s.commit()
lock = JobLock(engine, "pull", timedelta(seconds=float(sys.argv[2])), lambda: datetime.now(UTC), owner="victim")
with lock.held():
    lock.bind_run("victim-run")
    print("held", flush=True)
    time.sleep(600)
"""


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        init_schema(make_engine(url))
        yield url
        return
    with fresh_schema() as url:
        init_schema(make_engine(url))
        yield url


def contender(engine: Engine) -> JobLock:
    return JobLock(engine, "pull", timedelta(seconds=TTL), now, owner="next-run")


def test_a_killed_holder_is_taken_over_within_its_lease(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    out = tmp_path / "holder.out"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, state_url, str(TTL)],
        cwd=ROOT,
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while "held" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        # Alive, it keeps the lock past its lease: the heartbeat renews it.
        alive_until = time.monotonic() + TTL + 1
        while time.monotonic() < alive_until:
            with pytest.raises(Busy):
                contender(engine).acquire()
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed = time.monotonic()
        while True:
            try:
                contender(engine).acquire()
                break
            except Busy:
                assert time.monotonic() - killed < TTL + 5, "the dead holder's lock was never taken over"
                time.sleep(0.05)
        waited = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"taken over {waited:.2f} s after the kill (lease {TTL} s)")
    # Within the lease after the last heartbeat (≤ one lease from the kill), not after an hour.
    assert waited <= TTL + 1, waited
    with Session(engine) as s:
        lost = s.get(RunRecord, "victim-run")
        assert lost is not None and lost.status == "failed"
        assert lost.error.startswith("lost: victim stopped renewing the job lock")
