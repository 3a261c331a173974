"""Source configuration: secrets by reference only, every problem reported with its key path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.base import UnknownConnectorError
from connectors.catalog import SourceConfigError, build_source, parse_sources
from connectors.config import AuthConfig, SecretError, SourceConfig, resolve_secret


def test_resolve_secret_from_env_and_file(tmp_path: Path) -> None:
    assert resolve_secret("K", "", {"K": "v"}) == "v"
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    assert resolve_secret("", str(path), {}) == "from-file"


@pytest.mark.parametrize(
    ("env_name", "file_name", "message"),
    [
        ("NOPE", "", "auth.key: environment variable NOPE is not set (auth.key_env)"),
        ("", "/no/such/file", "auth.key: secret file /no/such/file does not exist (auth.key_file)"),
        ("", "", "auth.key: not configured; set auth.key_env or auth.key_file"),
        ("A", "/x", "auth.key: set either auth.key_env or auth.key_file, not both"),
    ],
)
def test_resolve_secret_errors_name_the_key(env_name: str, file_name: str, message: str) -> None:
    with pytest.raises(SecretError) as err:
        resolve_secret(env_name, file_name, {}, name="auth.key")
    assert str(err.value) == message


@pytest.mark.parametrize("key", ["password", "key", "token", "client_secret", "api_key"])
def test_literal_secrets_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match=f"{key}: secrets may not be written in the config file"):
        AuthConfig.model_validate({"kind": "basic", key: "hunter2"})


def test_per_store_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps({"NV-001": "loc-key-1", "NV-002": {"username": "loc-key-2", "password": "p2"}})
    )
    auth = AuthConfig(kind="basic", per_store_file=str(path), password_env="INTEGRATOR")
    env = {"INTEGRATOR": "int-key"}
    assert auth.secret("username", "NV-001", env) == "loc-key-1"
    assert auth.secret("password", "NV-001", env) == "int-key"
    assert auth.secret("username", "NV-002", env) == "loc-key-2"
    assert auth.secret("password", "NV-002", env) == "p2"
    with pytest.raises(SecretError, match="store NV-404 has no entry in"):
        auth.secret("username", "NV-404", env)


def test_a_broken_per_store_toml_file_says_where_and_never_shows_a_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('"NV-001" = "loc-key-canary-1"\n"NV-002" = "loc-key-canary-2\n')  # unclosed quote
    auth = AuthConfig(kind="basic", per_store_file=str(path), password_env="INTEGRATOR")
    with pytest.raises(SecretError, match=r"keys\.toml: line 2, column \d+: TOML syntax error") as caught:
        auth.secret("username", "NV-001", {"INTEGRATOR": "int-key"})
    assert "canary" not in str(caught.value)


def test_source_config_defaults_and_bounds() -> None:
    cfg = SourceConfig(name="billing", kind="rest", base_url="https://billing.example.com/")
    assert cfg.base_url == "https://billing.example.com"
    assert (cfg.concurrency, cfg.lookback_minutes, cfg.timeout_seconds) == (4, 60, 30.0)
    with pytest.raises(ValidationError, match="plain http is allowed only for localhost"):
        SourceConfig(name="x", kind="rest", base_url="http://billing.example.com")
    SourceConfig(name="x", kind="rest", base_url="http://127.0.0.1:8080")
    with pytest.raises(ValidationError, match="lower-case letters"):
        SourceConfig(name="Billing API", kind="rest")
    with pytest.raises(ValidationError, match="CA bundle /nope.pem does not exist"):
        SourceConfig(name="x", kind="rest", ca_bundle="/nope.pem")


def test_parse_sources_lists_every_problem_with_its_path() -> None:
    raw = [
        {
            "name": "billing",
            "kind": "rest",
            "base_url": "https://b.example.com",
            "options": {"spec": "billing"},
            "auth": {"key_env": "BILLING_KEY"},
            "concurency": 3,
        },
        {"name": "pos", "kind": "dutchy_pos"},
        {
            "name": "support",
            "kind": "rest",
            "base_url": "https://s.example.com",
            "options": {"spec": "suport"},
        },
        {
            "name": "nps",
            "kind": "rest",
            "base_url": "https://n.example.com",
            "options": {"spec": "nps", "colour": 1},
        },
        {
            "name": "plat",
            "kind": "platform",
            "base_url": "https://p.example.com",
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": "c",
                "client_secret_env": "PLAT_SECRET",
            },
        },
    ]
    with pytest.raises(SourceConfigError) as err:
        parse_sources(raw, "config.toml", env={})
    problems = err.value.problems
    assert 'config.toml: source "billing": unknown key "concurency" — did you mean "concurrency"?' in problems
    assert any(
        p.startswith("config.toml: source \"pos\" → kind: unknown connector kind 'dutchy_pos'; valid kinds:")
        and "dutchie_pos" in p
        for p in problems
    )
    assert any(
        p.startswith(
            "config.toml: source \"support\" → options.spec: REST spec 'suport' not found (shipped: billing, blaze, flowhub, nps, support)"
        )
        for p in problems
    )
    assert 'config.toml: source "nps" → options: unknown key "colour"' in problems
    assert (
        'config.toml: source "plat" → auth.client_secret: environment variable PLAT_SECRET is not set (auth.client_secret_env)'
        in problems
    )


def test_parse_sources_accepts_the_shipped_specs() -> None:
    raw = [
        {"name": n, "kind": "rest", "base_url": f"https://{n}.example.com", "options": {"spec": n}, "auth": a}
        for n, a in [
            ("billing", {"key_env": "B"}),
            ("support", {"token_env": "S"}),
            ("nps", {"key_env": "N"}),
        ]
    ]
    configs = parse_sources(raw, env={"B": "1", "S": "2", "N": "3"})
    assert [c.name for c in configs] == ["billing", "support", "nps"]


def test_build_source_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownConnectorError) as err:
        build_source(SourceConfig(name="x", kind="nope"))
    assert "valid kinds: csv_folder, dutchie_pos, metrc, platform, rest, sql, treez_pos" in str(err.value)
