"""`csm-sync demo --serve` as an evaluator meets it: the JSON envelope names the console, the console
answers from the sandbox org, and Ctrl-C stops it (the jobs are not run here: the console over a
freshly seeded org is enough to show it is wired; tests/integration/test_console_browser.py checks
what it renders)."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.environment import SandboxEnvironment
from worker import demo
from worker.output import Output

pytestmark = pytest.mark.integration


def test_serve_prints_the_console_and_serves_it_until_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    out = Output("demo", True, stream)
    seen: dict[str, Any] = {}

    def sleep(_seconds: float) -> None:  # while "serving": open the console as a person would, then Ctrl-C
        envelope = json.loads(stream.getvalue().splitlines()[0])
        url = envelope["result"]["sandbox"]["console"]
        seen["url"] = url
        seen["dashboard"] = requests.get(url + "/", timeout=30)
        seen["account"] = requests.get(url + "/accounts/NV-001", timeout=30)
        raise KeyboardInterrupt

    monkeypatch.setattr(demo.time, "sleep", sleep)
    with SandboxEnvironment.start(tmp_path / "env", days=14) as env:
        demo._serve(out, env)
        assert seen["url"].startswith("http://127.0.0.1:")
        assert seen["dashboard"].status_code == 200 and "Accounts by health band" in seen["dashboard"].text
        assert seen["account"].status_code == 200
        account = next(a for a in env.org.records("Account") if a.get("Store_Id__c") == "NV-001")
        assert html.escape(account["Name"]) in seen["account"].text
    with pytest.raises(requests.ConnectionError):  # stopped with the demo
        requests.get(seen["url"] + "/", timeout=5)
