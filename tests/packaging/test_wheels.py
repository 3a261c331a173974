"""The two distributions as a user installs them: the production wheel holds no sandbox (nor werkzeug or
trustme), and `pip install 'csm-sync[sandbox]'` from wheels (not an editable tree) gives a working demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# What the Dockerfile copies into its build stage, plus the sandbox distribution and the metadata it ships.
CONTEXT = (
    "pyproject.toml", "README.md", "worker", "jobs", "state", "mappings", "connectors", "configfiles", "sandbox",
    "salesforce",
)  # fmt: skip
UV = Path(sys.executable).parent / "uv"

PROBE = """
import sys
from pathlib import Path

import sandbox
from sandbox.environment import SandboxEnvironment
from worker.app import App
from worker.settings import load_settings

assert "site-packages" in sandbox.__file__, sandbox.__file__
with SandboxEnvironment.start(Path(sys.argv[1]), days=7, orders_per_day=2) as env:
    app = App(load_settings(env.config_path, {}), environ={})
    rows = list(app.org().query("SELECT Id, Store_Id__c, Health_Score__c FROM Account"))
    print(len(rows), ",".join(sorted(r["Store_Id__c"] for r in rows)))
"""


def run(*args: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CSM_SYNC_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built from a copy of the files an image build sees (never from the working tree)."""
    base = tmp_path_factory.mktemp("pkg")
    src = base / "src"
    for name in CONTEXT:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
            shutil.copytree(path, src / name, symlinks=True, ignore=ignore)
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    out = base / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, ".",
        "./sandbox", cwd=src)  # fmt: skip
    (prod,) = out.glob("csm_sync-*.whl")
    (sbx,) = out.glob("csm_sync_sandbox-*.whl")
    return {"csm-sync": prod, "csm-sync-sandbox": sbx}


def wheel_files(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def requires(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(meta).decode()).get_all("Requires-Dist") or []


def test_the_production_wheel_holds_no_sandbox(wheels: dict[str, Path]) -> None:
    files = wheel_files(wheels["csm-sync"])
    assert {f.split("/")[0] for f in files if not f.startswith("csm_sync-")} == {
        "worker",
        "jobs",
        "state",
        "mappings",
        "connectors",
        "configfiles",
    }
    # The data files the code reads at run time come along: mapping files, source specs, plausible ranges.
    data = {
        p.relative_to(ROOT).as_posix()
        for package in ("worker", "jobs", "state", "mappings", "connectors")
        for p in (ROOT / package).rglob("*.toml")
        if "build" not in p.parts
    }
    assert {"mappings/account_health.toml", "connectors/plausible.toml"} <= data
    assert data <= set(files), sorted(data - set(files))
    runtime = [r for r in requires(wheels["csm-sync"]) if "extra ==" not in r]
    assert not [r for r in runtime if r.lower().startswith(("werkzeug", "trustme", "csm-sync-sandbox"))]
    assert any(
        r.startswith("csm-sync-sandbox") and 'extra == "sandbox"' in r for r in requires(wheels["csm-sync"])
    )


def test_the_sandbox_wheel_ships_the_metadata_it_reads(wheels: dict[str, Path]) -> None:
    files = set(wheel_files(wheels["csm-sync-sandbox"]))
    metadata = ROOT / "salesforce"
    expected = {
        "sandbox/metadata/" + p.relative_to(metadata).as_posix()
        for p in (metadata / "force-app").rglob("*")
        if p.is_file()
    }
    assert expected, "no metadata found under salesforce/force-app"
    assert expected <= files, sorted(expected - files)[:5]
    assert "sandbox/metadata/sfdx-project.json" in files
    assert {"sandbox/environment.py", "sandbox/salesforce/soql/engine.py"} <= files
    assert not [
        f
        for f in files
        if f.startswith(("worker/", "jobs/", "state/", "connectors/", "mappings/", "configfiles/"))
    ]
    assert {r.split(">")[0].split("[")[0] for r in requires(wheels["csm-sync-sandbox"])} >= {
        "werkzeug",
        "trustme",
    }


def test_a_normal_install_runs_without_the_sandbox_and_the_extra_adds_a_working_demo(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    assert UV.exists(), "uv (a dev dependency) installs the throwaway environment quickly"
    venv = tmp_path / "venv"
    python, cli = venv / "bin" / "python", venv / "bin" / "csm-sync"
    run(UV, "venv", "-q", "--python", sys.executable, venv)
    # Exactly as the image does it: the locked dependencies, then the wheel with no resolution of its own.
    run(
        UV,
        "pip",
        "install",
        "-q",
        "--python",
        python,
        "--require-hashes",
        "-r",
        ROOT / "requirements/prod.lock",
    )
    run(UV, "pip", "install", "-q", "--python", python, "--no-index", "--no-deps", wheels["csm-sync"])
    run(UV, "pip", "check", "--python", python)  # the lock holds everything the wheel needs

    assert "demo" in run(cli, "--help", cwd=tmp_path).stdout
    absent = (
        "import importlib.util as u; print([m for m in ('sandbox', 'werkzeug', 'trustme') if u.find_spec(m)])"
    )
    assert run(python, "-c", absent, cwd=tmp_path).stdout.strip() == "[]"
    missing = run(cli, "demo", cwd=tmp_path, check=False)
    assert missing.returncode == 2
    assert "pip install 'csm-sync[sandbox]'" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    assert not (tmp_path / ".demo").exists()

    run(UV, "pip", "install", "-q", "--python", python, "--find-links", wheels["csm-sync"].parent,
        "-c", ROOT / "requirements/dev.lock", "csm-sync[sandbox]")  # fmt: skip
    assert "--serve" in run(cli, "demo", "--help", cwd=tmp_path).stdout
    probe = run(python, "-c", PROBE, tmp_path / "env", cwd=tmp_path)
    count, stores = probe.stdout.strip().splitlines()[-1].split()  # after any log lines
    assert int(count) >= 39 and "NV-001" in stores.split(",")
