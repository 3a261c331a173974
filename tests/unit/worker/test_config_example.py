"""config.example.toml documents every key the settings accept (the README says so), read from the models
themselves so a new setting cannot land undocumented; and the example itself loads."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import BaseModel, SecretStr

from connectors.config import SourceConfig
from worker.settings import JOB_NAMES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config.example.toml"
# `[table]`, `[[table]]`, and the same commented out (`# [metrics]`): what the keys below belong to.
HEADER = re.compile(r"^#?\s*\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?\s*(#.*)?$")
# `key = value`, set or commented out (`# key = value`); dotted keys (`options.spec = ...`) count as written.
KEY = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=")


def documented(text: str) -> set[str]:
    """Every key path the example sets or shows commented out, with `jobs.<name>` read as `jobs.*`."""
    found: set[str] = set()
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if m := HEADER.match(line):
            table = m.group(1)
            if table.startswith("jobs."):
                table = "jobs.*"
            continue
        if m := KEY.match(line):
            found.add(f"{table}.{m.group(1)}" if table else m.group(1))
    return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in (_model_of(a) for a in get_args(annotation)) if m]
        return models[0] if models else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def accepted(model: type[BaseModel], prefix: str) -> list[tuple[str, ...]]:
    """Each key the model accepts, as the spellings any one of which documents it."""
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        path, ann = f"{prefix}{name}", field.annotation
        if name == "sources" and model is Settings:
            out += accepted(SourceConfig, "sources.")
        elif name == "jobs" and model is Settings:
            out += accepted(get_args(ann)[1], "jobs.*.")
        elif sub := _model_of(ann):
            out += accepted(sub, f"{path}.")
        elif SecretStr in (ann, *get_args(ann)):
            out.append((f"{path}_env", f"{path}_file"))  # a secret is only ever given as one of these
        else:
            out.append((path,))
    return out


def test_every_setting_is_in_config_example() -> None:
    keys = documented(EXAMPLE.read_text())
    missing = [
        " or ".join(spellings)
        for spellings in accepted(Settings, "")
        if not any(s in keys or any(k.startswith(f"{s}.") for k in keys) for s in spellings)
    ]
    assert missing == [], f"config.example.toml does not document: {', '.join(missing)}"


def test_the_walk_sees_nested_secret_and_per_job_keys() -> None:
    flat = {s for spellings in accepted(Settings, "") for s in spellings}
    assert {"scheduler.shards", "metrics.port", "jobs.*.enabled", "salesforce.private_key_file"} <= flat
    assert {"sources.auth.per_store_file", "sources.freshness_as"} <= flat
    assert {"logging.level", "sources.options"} <= flat
    assert "salesforce.private_key" not in flat  # never written as such: only _env / _file
    assert "jobs.*.enabled" not in documented("[jobs.pull]\nschedule = '* * * * *'\n")
    assert "jobs.*.enabled" in documented("[jobs.pull]\n# enabled = false\n")


def test_the_example_loads_and_names_every_job(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    assert {f"jobs.{job}" for job in JOB_NAMES} <= set(re.findall(r"^\[(jobs\.[a-z_]+)\]", text, re.M))
    for name in ("salesforce_jwt_key.pem", "pos_location_keys.json", "treez_dispensaries.json"):
        text = text.replace(f"/run/secrets/{name}", str(tmp_path / name))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    (tmp_path / "salesforce_jwt_key.pem").write_text(pem)  # a signing key is checked when the config loads
    (tmp_path / "pos_location_keys.json").write_text('{"NV-001": "k"}')
    (tmp_path / "treez_dispensaries.json").write_text('{"NV-001": "k"}')
    (tmp_path / "config.toml").write_text(text)
    env = {v: "x" for v in re.findall(r'_env = "([A-Z0-9_]+)"', text)}
    settings = load_settings(tmp_path / "config.toml", env)
    assert sorted(settings.jobs) == sorted(JOB_NAMES)
