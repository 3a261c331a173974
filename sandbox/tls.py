"""Throwaway TLS for local sandboxes: a private CA clients trust explicitly, so verification stays on."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import requests
import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TLSMaterial:
    """A CA and a server certificate it signed. Share one per process among all sandbox servers,
    so clients need a single CA bundle."""

    ca_path: Path
    server_context: ssl.SSLContext
    hosts: tuple[str, ...]

    @classmethod
    def create(
        cls, directory: Path, *, hosts: tuple[str, ...] = DEFAULT_HOSTS, filename: str = "sandbox-ca.pem"
    ) -> TLSMaterial:
        """Generates fresh keys and writes the CA certificate (PEM) to `directory/filename`."""
        ca = trustme.CA(organization_name="csm-sync sandbox")
        server_cert = ca.issue_cert(*hosts)
        directory.mkdir(parents=True, exist_ok=True)
        ca_path = directory / filename
        ca.cert_pem.write_to_path(str(ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(context)
        return cls(ca_path, context, hosts)

    def client_session(self) -> requests.Session:
        """A requests session that verifies the sandbox servers against this CA (and only this CA).

        `trust_env` is off because requests lets `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` override
        `session.verify`, and proxy variables could route 127.0.0.1 elsewhere.
        """
        session = requests.Session()
        session.verify = str(self.ca_path)
        session.trust_env = False
        return session
