"""The two distributions and their lock files: the sandbox stays out of csm-sync's wheel, and the locks pin,
with hashes, everything pyproject.toml asks for, at the same versions in development as in the image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")
LINUX_311 = {**default_environment(), "python_version": "3.11", "sys_platform": "linux"}


def pins(name: str) -> dict[str, str]:
    """name -> version for every pin that applies on the image's platform; every pin carries hashes."""
    text = (LOCKS / name).read_text()
    out: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = PIN.match(block)
        if not m:
            continue
        assert "--hash=sha256:" in block, f"{name}: {m.group(1)} has no hash"
        marker = block.split("\\")[0].partition(";")[2].strip()
        if marker and not Requirement(f"x; {marker}").marker.evaluate(LINUX_311):
            continue
        out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def project(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text())["project"]


def requirements(path: Path, extra: str | None = None) -> list[Requirement]:
    proj = project(path)
    names = proj["optional-dependencies"][extra] if extra else proj["dependencies"]
    return [Requirement(r) for r in names]


def assert_pinned(reqs: list[Requirement], lock: dict[str, str], lock_name: str) -> None:
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in lock, f"{lock_name} lacks {req.name}: run `make lock`"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"{lock_name} pins {name}=={lock[name]}, outside {req}: run `make lock`"
        )


def test_the_production_lock_pins_the_runtime_dependencies_and_nothing_of_the_sandbox() -> None:
    prod = pins("prod.lock")
    assert_pinned(requirements(ROOT / "pyproject.toml"), prod, "prod.lock")
    sandbox_only = {"werkzeug", "trustme", "csm-sync-sandbox", "pytest", "mypy", "ruff", "uv"}
    assert not sandbox_only & set(prod)
    assert "csm-sync" not in prod  # the project itself is installed from its wheel


def test_the_dev_lock_pins_dev_tools_and_the_sandbox_at_the_production_versions() -> None:
    prod, dev = pins("prod.lock"), pins("dev.lock")
    assert_pinned(requirements(ROOT / "pyproject.toml"), dev, "dev.lock")
    assert_pinned(requirements(ROOT / "pyproject.toml", "dev"), dev, "dev.lock")
    assert_pinned(requirements(ROOT / "sandbox" / "pyproject.toml"), dev, "dev.lock")
    differ = {n: (v, dev.get(n)) for n, v in prod.items() if dev.get(n) != v}
    assert differ == {}, "tests must run on the versions the image ships: run `make lock`"


def test_the_build_lock_pins_the_build_backend() -> None:
    build = pins("build.lock")
    toml = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for spec in toml["build-system"]["requires"]:
        req = Requirement(spec)
        assert req.specifier.contains(build[canonicalize_name(req.name)])


def test_the_sandbox_extra_names_the_sandbox_distribution_at_its_version() -> None:
    (sandbox_req,) = requirements(ROOT / "pyproject.toml", "sandbox")
    assert sandbox_req.name == "csm-sync-sandbox"
    assert sandbox_req.specifier.contains(str(project(ROOT / "sandbox" / "pyproject.toml")["version"]))


def test_the_sandbox_distribution_lists_every_sandbox_package() -> None:
    """sandbox/pyproject.toml names its packages (the folder is the package); a new subpackage must be added."""
    listed = set(
        tomllib.loads((ROOT / "sandbox" / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(("sandbox", *p.parent.relative_to(ROOT / "sandbox").parts))
        for p in (ROOT / "sandbox").rglob("__init__.py")
        if "build" not in p.relative_to(ROOT / "sandbox").parts
    }
    assert listed == on_disk


def test_the_production_distribution_leaves_the_sandbox_out() -> None:
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert not [p for p in find["include"] if p.startswith("sandbox")]
    assert (ROOT / "sandbox" / "metadata").resolve() == (ROOT / "salesforce").resolve()
