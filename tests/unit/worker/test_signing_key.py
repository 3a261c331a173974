"""A bad JWT signing key is a config error naming the file, the key and the fix — at load and at login."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from connectors.salesforce.auth import JwtBearer, SigningKeyError, check_signing_key
from worker.app import App
from worker.runner import ExitCode, Outcome, execute
from worker.settings import ConfigError, load_settings

CONFIG = """
[state]
url = "sqlite:///{db}"

[salesforce]
login_url = "https://login.salesforce.com"
auth = "jwt"
client_id = "3MVG9-app"
username = "integration@example.com"
{key_line}
"""


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm
    ).decode()


GOOD_KEY = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
_GARBAGE_BODY = "bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIGJhc2U2NCB0ZXh0IHdyYXBwZWQgaW4gUEVN"


def _certificate() -> str:
    return trustme.CA().cert_pem.bytes().decode()


BAD_KEYS: list[tuple[str, Callable[[], str], str]] = [
    ("garbage", lambda: "this is not a key at all", "is not PEM"),
    (
        "garbage in PEM armour",
        lambda: f"-----BEGIN PRIVATE KEY-----\n{_GARBAGE_BODY}\n-----END PRIVATE KEY-----\n",
        "cannot be read as a private key",
    ),
    ("the certificate instead of its key", _certificate, "is a certificate, not its private key"),
    ("an EC key", lambda: _pem(ec.generate_private_key(ec.SECP256R1())), "RS256 needs RSA"),
    ("a short RSA key", lambda: _pem(rsa.generate_private_key(65537, 1024)), "1024-bit"),
    (
        "an encrypted key",
        lambda: _pem(rsa.generate_private_key(65537, 1024), b"passphrase"),
        "encrypted with a passphrase",
    ),
]


@pytest.mark.parametrize(("what", "make", "expected"), BAD_KEYS, ids=[b[0] for b in BAD_KEYS])
def test_bad_key_file_is_a_config_error(
    tmp_path: Path, what: str, make: Callable[[], str], expected: str
) -> None:
    pem = make()
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(pem)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "s.db", key_line=f'private_key_file = "{key_file}"'))
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    [problem] = info.value.problems
    assert problem.startswith(f"{config}: salesforce.private_key_file: {key_file} ")
    assert expected in problem and "fix: point it at the connected app's" in problem
    for line in pem.splitlines():
        if len(line) > 20 and not line.startswith("-----"):
            assert line not in problem  # the message never quotes the key


def test_bad_key_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "s.db", key_line='private_key_env = "SF_KEY"'))
    with pytest.raises(ConfigError) as info:
        load_settings(config, {"SF_KEY": "garbage-garbage"})
    assert info.value.problems == [
        f"{config}: salesforce.private_key_env: $SF_KEY is not PEM (no -----BEGIN line); "
        "fix: point it at the connected app's unencrypted RSA private key in PEM form "
        "(-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----), the key of the certificate "
        "uploaded to the app"
    ]


def test_a_good_key_loads(tmp_path: Path) -> None:
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(GOOD_KEY)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "s.db", key_line=f'private_key_file = "{key_file}"'))
    settings = load_settings(config, {})
    assert settings.salesforce.private_key is not None
    assert check_signing_key(settings.salesforce.private_key.get_secret_value()).key_size == 2048


def test_login_with_a_bad_key_raises_before_any_call() -> None:
    session = requests.Session()
    session.post = None  # type: ignore[assignment]  # no request may be made with a key that cannot sign
    auth = JwtBearer("https://login.salesforce.com", "app", "user@example.com", SecretStr("garbage-key"))
    with pytest.raises(SigningKeyError, match="is not PEM"):
        auth.login(session, 5.0)


def test_a_bad_key_met_at_run_time_exits_2_naming_the_key(tmp_path: Path) -> None:
    """The key file replaced after the settings were read: the run is a config error, not a crash."""
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(GOOD_KEY)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(db=tmp_path / "s.db", key_line=f'private_key_file = "{key_file}"'))
    app = App(load_settings(config, {}), environ={})

    def body(_run_id: str) -> Outcome:
        bad = JwtBearer("https://login.salesforce.com", "app", "u@example.com", SecretStr("-----BEGIN x"))
        bad.login(requests.Session(), 5.0)
        return Outcome()

    result = execute(app, "account_health", body)
    assert result.exit_code == ExitCode.CONFIG
    assert result.error.startswith(
        "salesforce.private_key: the JWT signing key cannot be read as a private key"
    )
    assert "fix: point it at" in result.error


@pytest.mark.parametrize("content", ["", "not a certificate", GOOD_KEY])
def test_a_ca_bundle_without_certificates_is_a_config_error(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(GOOD_KEY)
    bundle = tmp_path / "ca.pem"
    bundle.write_text(content)
    config = tmp_path / "config.toml"
    text = CONFIG.format(db=tmp_path / "s.db", key_line=f'private_key_file = "{key_file}"')
    config.write_text(text + f'ca_bundle = "{bundle}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert info.value.problems == [
        f"{config}: salesforce.ca_bundle: CA bundle {bundle} holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----); point it at the CA certificates that signed the server's certificate"
    ]
    bundle.write_text(_certificate())
    assert load_settings(config, {}).salesforce.ca_bundle == str(bundle)
