"""`csm-sync demo` where the sandbox distribution is not installed (the production image): a clear message,
exit 2, nothing created; any other missing module is still an error, not hidden behind that message."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest

from worker import demo
from worker.demo import run_demo, sandbox_installed
from worker.output import Output
from worker.runner import ExitCode


@pytest.fixture
def without_sandbox_modules() -> Iterator[None]:
    """Import the sandbox afresh in the test, then put every module back exactly as it was, so later tests
    in this process see the same classes as before."""
    saved = dict(sys.modules)
    for name in [m for m in sys.modules if m == "sandbox" or m.startswith("sandbox.")]:
        del sys.modules[name]
    yield
    for name in [m for m in sys.modules if m not in saved]:
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.mark.usefixtures("without_sandbox_modules")
@pytest.mark.parametrize("missing", ["sandbox.environment", "werkzeug", "trustme"])
def test_demo_without_the_sandbox_says_how_to_install_it(
    missing: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What an absent distribution looks like to import: the module and any of its submodules another test
    # already imported (a cached `werkzeug.wrappers` would otherwise import without its parent).
    for name in [m for m in sys.modules if m == missing or m.startswith(f"{missing}.")] + [missing]:
        monkeypatch.setitem(sys.modules, name, None)
    # Were the check to pass anyway, fail here rather than start a real demo (which reconfigures logging).
    monkeypatch.setattr(demo, "_environment", lambda *a, **k: pytest.fail("the demo started"))
    out = StringIO()
    code = run_demo(Output("demo", False, out), workdir=tmp_path / ".demo")
    assert code == ExitCode.CONFIG
    assert "pip install 'csm-sync[sandbox]'" in capsys.readouterr().err
    assert out.getvalue() == ""
    assert not (tmp_path / ".demo").exists()


@pytest.mark.usefixtures("without_sandbox_modules")
def test_an_unrelated_missing_module_is_not_reported_as_a_missing_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ModuleNotFoundError):
        sandbox_installed()


def test_the_sandbox_is_found_in_a_development_install() -> None:
    assert sandbox_installed()
