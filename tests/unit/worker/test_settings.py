"""Config loading: every problem names the file, the key and what was expected; secrets never inline."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import ConfigError, load_settings

GOOD = """
[state]
url = "sqlite:///var/x.db"

[salesforce]
login_url = "https://login.salesforce.com"
auth = "client_credentials"
client_id = "3MVG9-app"
client_secret_env = "SF_SECRET"

[jobs.account_health]
schedule = "0 * * * *"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env if env is not None else {"SF_SECRET": "s3cr3t-value"})
    return info.value.problems


def test_good_config_loads_with_secret_from_environment(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), {"SF_SECRET": "s3cr3t-value"})
    assert s.salesforce.client_secret is not None
    assert s.salesforce.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s)
    assert s.job("account_health").schedule == "0 * * * *"


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    text = GOOD.replace('client_secret_env = "SF_SECRET"', f'client_secret_file = "{secret}"')
    s = load_settings(write(tmp_path, text), {})
    assert s.salesforce.client_secret is not None
    assert s.salesforce.client_secret.get_secret_value() == "from-a-file"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = GOOD.replace('login_url = "https://login.salesforce.com"', 'loginurl = "x"')
    assert problems(tmp_path, text) == [
        f'{tmp_path / "config.toml"}: salesforce: unknown key "loginurl" — did you mean "login_url"?'
    ]


def test_missing_secret_names_the_variable(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, GOOD, env={})
    assert msg.endswith(
        "salesforce.client_secret: environment variable SF_SECRET is not set (client_secret_env)"
    )


def test_literal_secret_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('client_secret_env = "SF_SECRET"', 'client_secret = "hunter2"')
    (msg,) = problems(tmp_path, text)
    assert "salesforce.client_secret: secrets may not be written in the config file" in msg
    assert "hunter2" not in msg


def test_bad_value_names_key_and_expected(tmp_path: Path) -> None:
    text = GOOD.replace('auth = "client_credentials"', 'auth = "password"')
    (msg,) = problems(tmp_path, text)
    assert 'salesforce.auth: "password" is not a Salesforce auth flow (jwt, client_credentials)' in msg


def test_out_of_range_number(tmp_path: Path) -> None:
    text = GOOD + "\n[sync]\nsafety_max_change_share = 3\n"
    (msg,) = problems(tmp_path, text)
    assert "sync.safety_max_change_share: must be at most 1, got 3" in msg


def test_unknown_job_lists_valid_ones(tmp_path: Path) -> None:
    text = GOOD + '\n[jobs.helth]\nschedule = "* * * * *"\n'
    (msg,) = problems(tmp_path, text)
    assert "jobs.helth: unknown job; valid jobs: pull, onboarding, account_health" in msg


def test_jwt_needs_username_and_key(tmp_path: Path) -> None:
    text = GOOD.replace('auth = "client_credentials"', 'auth = "jwt"')
    (msg,) = problems(tmp_path, text)
    assert 'salesforce.username: required for auth = "jwt"' in msg


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "[salesforce\n")
    assert msg == (
        f"{tmp_path / 'config.toml'}: line 1, column 12: "
        "TOML syntax error: expected ']' at the end of a table declaration"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml", {})
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: file not found — copy config.example.toml to start"


def test_bad_source_names_the_entry_and_key(tmp_path: Path) -> None:
    text = (
        GOOD
        + """
[[sources]]
name = "pos"
kind = "dutchie_poss"
base_url = "https://pos.example.com"
"""
    )
    (msg,) = problems(tmp_path, text)
    assert 'source "pos" → kind: unknown connector kind \'dutchie_poss\'' in msg
    assert "dutchie_pos" in msg


def test_source_secret_missing_from_environment(tmp_path: Path) -> None:
    text = (
        GOOD
        + """
[[sources]]
name = "billing"
kind = "rest"
base_url = "https://billing.example.com"
[sources.auth]
kind = "api_key_header"
key_env = "BILLING_KEY"
[sources.options]
spec = "billing"
"""
    )
    (msg,) = problems(tmp_path, text)
    assert "BILLING_KEY" in msg and "billing" in msg


def test_everything_run_would_refuse_is_reported_at_once(tmp_path: Path) -> None:
    """A bad schedule, time zone, state URL and strictly-typed values: every one, each with its key."""
    text = (
        GOOD.replace('url = "sqlite:///var/x.db"', 'url = "mysql://csm@db/x"')
        .replace('schedule = "0 * * * *"', 'schedule = "every 15 minutes"')
        .replace(
            'client_id = "3MVG9-app"', 'client_id = "3MVG9-app"\nwrite_sync_runs = "no"\nmax_attempts = "5"'
        )
        + '\n[scheduler]\ntimezone = "Mars/Olympus"\n'
    )
    found = problems(tmp_path, text)
    where = str(tmp_path / "config.toml")
    assert all(p.startswith(where) for p in found), found
    joined = "\n".join(found)
    assert 'jobs.account_health.schedule: "every 15 minutes" is not a cron expression' in joined
    assert 'scheduler.timezone: "Mars/Olympus" is not an IANA time zone' in joined
    assert 'state.url: "mysql://csm@db/x" is not a state store URL' in joined
    assert 'salesforce.write_sync_runs: expected true or false, got "no" — write true or false, without quotes' in joined
    assert 'salesforce.max_attempts: expected a whole number, got "5" — write a whole number, without quotes' in joined
    assert len(found) == 5


def test_state_url_password_is_not_echoed(tmp_path: Path) -> None:
    text = GOOD.replace('url = "sqlite:///var/x.db"', 'url = "mongodb://csm:hunter2@db/x"')
    (msg,) = problems(tmp_path, text)
    assert "hunter2" not in msg and "state.url" in msg


def test_whole_numbers_are_accepted_where_decimals_are_expected(tmp_path: Path) -> None:
    s = load_settings(
        write(tmp_path, GOOD + "\n[sync]\noutbox_max_age_hours = 12\n"), {"SF_SECRET": "x-secret"}
    )
    assert s.sync.outbox_max_age_hours == 12.0


def test_offline_check_needs_no_secret_but_still_refuses_an_inline_one(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), {}, check_secrets=False)
    assert s.salesforce.client_secret is not None
    inline = GOOD.replace('client_secret_env = "SF_SECRET"', 'client_secret = "hunter2"')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, inline), {}, check_secrets=False)
    assert "secrets may not be written in the config file" in info.value.problems[0]
