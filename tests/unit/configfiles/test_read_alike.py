"""A config, a mapping file and a REST source spec with the same mistakes: each reader reports every one,
in the same words (`file: key: problem — fix`)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from configfiles import FileIssue, read_toml
from connectors.rest import SpecError, load_spec
from mappings.issues import FILES, MappingError
from mappings.load import DEFAULT_DIRECTORY, load_mapping_set
from worker.settings import ConfigError, load_settings

CONFIG = """
[salesforce]
auth = "client_credentials"
client_id = "3MVG9-app"
client_secret_env = "SF_SECRET"
timeout_secs = 30
api_budget_share = 0
retry_seconds = "60"

[scheduler]
misfire_grace_seconds = "300"
"""

SOURCES = """
default_stale_after_hours = 36

[sources.pos]
labl = "POS transactions"
stale_after_hours = 0

[sources.billing]
label = "Billing"
stale_after_hours = "72"

[sources.support]
label = "Support"
"""

SPEC = """
description = "NPS"

[pagination]
kind = "page_number"
page_parm = "page"
size = -1

[[streams]]
name = "responses"
path = "/v2/responses"
time = "responded_at"
"""


def config_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"SF_SECRET": "s"})
    return info.value.problems


def mapping_problems(path: Path) -> list[str]:
    for name in FILES:
        if not (path.parent / name).exists():
            shutil.copy(DEFAULT_DIRECTORY / name, path.parent / name)
    with pytest.raises(MappingError) as info:
        load_mapping_set(path.parent)
    return [str(i) for i in info.value.issues]


def spec_problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    return [str(i) for i in info.value.issues]


READERS: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "config": ("config.toml", config_problems),
    "mapping": ("mappings/sources.toml", mapping_problems),
    "spec": ("nps.toml", spec_problems),
}


def write(tmp_path: Path, reader: str, data: str | bytes) -> tuple[Path, str]:
    name, _ = READERS[reader]
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    label = "mappings/sources.toml" if reader == "mapping" else str(path)
    return path, label


def without_location(problem: str, label: str) -> str:
    """`problem — fix` of a `file: key: problem — fix` line."""
    assert problem.startswith(f"{label}: "), problem
    return re.sub(r"^[^:]*: ", "", problem.removeprefix(f"{label}: "), count=1)


def test_a_config_reports_every_mistake_with_its_key_and_fix(tmp_path: Path) -> None:
    path, label = write(tmp_path, "config", CONFIG)
    assert config_problems(path) == [
        f'{label}: salesforce: unknown key "timeout_secs" — did you mean "timeout_seconds"?',
        f"{label}: salesforce.api_budget_share: must be greater than 0, got 0",
        f'{label}: salesforce.retry_seconds: expected a number, got "60" — write a number, without quotes',
        f'{label}: scheduler.misfire_grace_seconds: expected a whole number, got "300" — '
        "write a whole number, without quotes",
    ]


def test_a_mapping_file_reports_every_mistake_with_its_key_and_fix(tmp_path: Path) -> None:
    path, label = write(tmp_path, "mapping", SOURCES)
    assert mapping_problems(path) == [
        f'{label}: sources.pos: unknown key "labl" — did you mean "label"?',
        f"{label}: sources.pos.stale_after_hours: must be greater than 0, got 0",
        f'{label}: sources.billing.stale_after_hours: expected a number, got "72" — '
        "write a number, without quotes",
        f"{label}: sources.support.stale_after_hours: required key is missing",
    ]


def test_a_source_spec_reports_every_mistake_with_its_key_and_fix(tmp_path: Path) -> None:
    path, label = write(tmp_path, "spec", SPEC)
    assert spec_problems(path) == [
        f'{label}: pagination: unknown key "page_parm" — did you mean "page_param"?',
        f"{label}: pagination.size: must be at least 0, got -1",
        f'{label}: stream "responses" → key: required key is missing',
    ]


def test_the_same_mistake_reads_the_same_in_every_file(tmp_path: Path) -> None:
    said: dict[str, set[str]] = {}
    for reader, text in (("config", CONFIG), ("mapping", SOURCES), ("spec", SPEC)):
        path, label = write(tmp_path / reader, reader, text)
        for problem in READERS[reader][1](path):
            said.setdefault(reader, set()).add(re.sub(r'"[^"]*"|-?\d+', "…", without_location(problem, label)))
    everywhere = said["config"] & said["mapping"] & said["spec"]
    assert "unknown key … — did you mean …?" in everywhere
    for reader, problems in said.items():  # a number out of its range: the bound, then the value
        assert any(re.fullmatch(r"must be (greater than|at least) …, got …", p) for p in problems), reader
    typed = said["config"] & said["mapping"]  # the spec is read leniently: "100" is a fine page size there
    assert any(p.startswith("expected") and "without quotes" in p for p in typed)


UNCLOSED = b'description = "a quote that never closes\nother = 1\n'
NOT_UTF8 = b'description = "caf\xe9"\n'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            UNCLOSED,
            "line 1, column 41: TOML syntax error: a quoted text is not closed on its line — "
            'close the quote on the same line, or use triple quotes (""") for text over several lines',
        ),
        (NOT_UTF8, "line 1, column 19: the file is not UTF-8 text (byte 0xe9) — save the file as UTF-8"),
    ],
    ids=["unclosed quote", "not UTF-8"],
)
@pytest.mark.parametrize("reader", sorted(READERS))
def test_an_unreadable_file_names_the_line_and_the_fix(
    tmp_path: Path, reader: str, data: bytes, expected: str
) -> None:
    path, label = write(tmp_path, reader, data)
    assert READERS[reader][1](path) == [f"{label}: {expected}"]


def test_a_missing_file_says_so_with_the_fix_it_was_given(tmp_path: Path) -> None:
    raw, issues = read_toml(tmp_path / "nope.toml", "nope.toml", missing_fix="copy the example")
    assert raw is None
    assert issues == [FileIssue("nope.toml", message="file not found", fix="copy the example")]
    assert str(issues[0]) == "nope.toml: file not found — copy the example"


@pytest.mark.parametrize("data", [UNCLOSED, NOT_UTF8], ids=["unclosed quote", "not UTF-8"])
def test_validate_reports_an_unreadable_config_and_exits_2(tmp_path: Path, data: bytes) -> None:
    import io  # noqa: PLC0415
    import json  # noqa: PLC0415

    from worker.commands import validate  # noqa: PLC0415
    from worker.output import Output  # noqa: PLC0415

    path, label = write(tmp_path, "config", data)
    stream = io.StringIO()
    out = Output("validate", True, stream)
    assert out.finish(validate(path, out, offline=True)) == 2
    envelope = json.loads(stream.getvalue())
    assert envelope["status"] == "config"
    assert envelope["errors"] == config_problems(path)
    assert envelope["errors"][0].startswith(f"{label}: line 1, column ")
