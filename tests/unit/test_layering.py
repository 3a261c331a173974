"""The layering rule, read from the imports: worker → jobs → {state, mappings, connectors} → configfiles;
only state/ talks to the state database; pure code does no I/O."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("worker", "jobs", "state", "mappings", "connectors", "configfiles", "sandbox")
FORBIDDEN = {
    "mappings": {"worker", "jobs", "state", "connectors", "sandbox"},
    "connectors": {"worker", "jobs", "state", "mappings", "sandbox"},
    "state": {"worker", "jobs", "mappings", "sandbox"},  # it stores connectors' records, nothing above
    "jobs": {"worker", "sandbox"},
    "sandbox": {"worker", "jobs", "state", "mappings", "connectors", "configfiles"},
    "configfiles": {"worker", "jobs", "state", "mappings", "connectors", "sandbox"},  # every reader's, so nobody's
}
DB_LIBS = {"sqlmodel", "sqlalchemy"}
# A source connector reading a customer's SQL database: not the state.
DB_ELSEWHERE = {"connectors/sql.py"}
# What the production wheel holds; of it, only `csm-sync demo` may import the sandbox (its own distribution).
PRODUCTION = ("worker", "jobs", "state", "mappings", "connectors", "configfiles")
SANDBOX_USERS = {"worker/demo.py"}
IO_LIBS = {"requests", "sqlmodel", "sqlalchemy", "simple_salesforce", "werkzeug", "psycopg"}
PURE_FILES = ["jobs/plan.py"]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layers(package: str) -> None:
    bad = {
        str(p.relative_to(ROOT)): sorted(imports(p) & FORBIDDEN[package])
        for p in modules(package)
        if imports(p) & FORBIDDEN[package]
    }
    assert bad == {}


def test_only_the_state_package_talks_to_the_state_database() -> None:
    assert modules("state"), "no state package found"
    offenders = {
        str(p.relative_to(ROOT)): sorted(imports(p) & DB_LIBS)
        for package in OURS
        if package != "state"
        for p in modules(package)
        if imports(p) & DB_LIBS and str(p.relative_to(ROOT)) not in DB_ELSEWHERE
    }
    assert offenders == {}


def test_only_the_demo_imports_the_sandbox() -> None:
    """Tests and benches drive the sandbox; production code outside the demo would break without the extra."""
    users = {
        str(p.relative_to(ROOT))
        for package in PRODUCTION
        for p in modules(package)
        if "sandbox" in imports(p)
    }
    assert users == SANDBOX_USERS


def test_pure_modules_do_no_io_and_read_no_clock() -> None:
    pure = [*modules("mappings"), *modules("configfiles"), *(ROOT / f for f in PURE_FILES)]
    assert pure, "no pure modules found"
    offenders = {}
    for p in pure:
        found = imports(p) & IO_LIBS
        text = p.read_text()
        if "datetime.now(" in text or "date.today(" in text or "time.time(" in text:
            found.add("reads the clock")
        if found:
            offenders[str(p.relative_to(ROOT))] = sorted(found)
    assert offenders == {}


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import requests\nfrom state.tables import x\nfrom sqlalchemy.orm import Session\n")
    assert imports(bad) == {"requests", "state", "sqlalchemy"}
    assert imports(bad) & DB_LIBS == {"sqlalchemy"}


# Names under which code takes an outside system, and the types of one: a pure module takes none, and
# an `Any` (or missing) annotation on such a name would hide one.
IO_PARAMS = {"org", "reader", "writer", "client", "session", "engine", "conn", "connection", "http", "sf"}
IO_TYPES = {"Any", "Reader", "Writer", "Org", "Engine", "Session", "Connection", "SalesforceClient"}


def io_parameters(path: Path) -> list[str]:
    """`function(param)` for every parameter of a function in `path` that takes an outside system: named
    as one and typed `Any`, not at all, or with an I/O type (plain describe data named `org` is fine)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                hint = ast.unparse(arg.annotation) if arg.annotation else "Any"
                if arg.arg in IO_PARAMS and set(re.findall(r"\w+", hint)) & IO_TYPES:
                    out.append(f"{node.name}({arg.arg})")
    return out


def test_pure_modules_take_no_io_handle() -> None:
    """Jobs read Salesforce and the state store and hand mappings/ plain values (jobs/job.py's protocol)."""
    offenders = {
        str(p.relative_to(ROOT)): io_parameters(p)
        for p in [*modules("mappings"), *(ROOT / f for f in PURE_FILES)]
        if io_parameters(p)
    }
    assert offenders == {}


def test_the_checker_sees_an_io_handle(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text(
        "from typing import Any\n"
        "class J:\n"
        "    def prepare(self, org: Any, now: int) -> None: ...\n"
        "def read(reader: Reader | None, org: Describe, client) -> None: ...\n"
    )
    assert sorted(io_parameters(bad)) == ["prepare(org)", "read(client)", "read(reader)"]
