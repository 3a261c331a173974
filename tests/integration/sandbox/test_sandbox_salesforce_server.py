"""The generic HTTPS helper the sandboxes share: a WSGI app served with keep-alive, verified TLS."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests

from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial

pytestmark = pytest.mark.integration


def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with what it was given, or fails on demand."""
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    if environ["PATH_INFO"] == "/empty":
        start_response("204 No Content", [])
        return [b""]
    body = environ["wsgi.input"].read()
    seen = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "raw": environ["RAW_URI"],
        "query": environ["QUERY_STRING"],
        "body": body.decode(),
        "type": environ.get("CONTENT_TYPE"),
        "header": environ.get("HTTP_X_PROBE"),
        "host": environ["HTTP_HOST"],
        "scheme": environ["wsgi.url_scheme"],
        "peer": environ["REMOTE_PORT"],
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return TLSMaterial.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: TLSMaterial) -> Iterator[RunningServer]:
    with serve(echo, tls) as running:  # type: ignore[arg-type]
        yield running


def test_request_reaches_the_app_as_wsgi(server: RunningServer, tls: TLSMaterial) -> None:
    resp = tls.client_session().post(f"{server.url}/a%2Fb/c?x=1&y=%20", data=b"hello",
                                     headers={"X-Probe": "p", "Content-Type": "text/plain"})  # fmt: skip
    seen = resp.json()
    assert seen | {"peer": None} == {
        "method": "POST", "path": "/a/b/c", "raw": "/a%2Fb/c?x=1&y=%20", "query": "x=1&y=%20", "body": "hello",
        "type": "text/plain", "header": "p", "host": server.url.removeprefix("https://"), "scheme": "https",
        "peer": None,
    }  # fmt: skip


def test_chunked_request_bodies_are_read_whole(server: RunningServer, tls: TLSMaterial) -> None:
    resp = tls.client_session().put(f"{server.url}/up", data=(part for part in (b"ab", b"cd", b"ef")))
    assert resp.json()["body"] == "abcdef"


def test_connections_are_kept_alive(server: RunningServer, tls: TLSMaterial) -> None:
    session = tls.client_session()
    peers = {session.get(f"{server.url}/p").json()["peer"] for _ in range(5)}
    assert len(peers) == 1


def test_app_failures_answer_500_and_the_server_carries_on(server: RunningServer, tls: TLSMaterial) -> None:
    session = tls.client_session()
    assert session.get(f"{server.url}/boom").status_code == 500
    empty = session.get(f"{server.url}/empty")
    assert (empty.status_code, empty.content) == (204, b"")
    assert session.get(f"{server.url}/after").json()["path"] == "/after"


def test_an_untrusted_client_is_refused(server: RunningServer) -> None:
    stranger = requests.Session()
    stranger.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        stranger.get(f"{server.url}/")
