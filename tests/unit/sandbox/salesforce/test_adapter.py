"""The in-process adapter: a requests session answered by a WSGI app, with no socket in between."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import requests

from sandbox.server import WSGIAdapter


def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    seen = {
        "path": environ["PATH_INFO"],
        "raw": environ["RAW_URI"],
        "host": environ["HTTP_HOST"],
        "body": environ["wsgi.input"].read().decode(),
        "auth": environ.get("HTTP_AUTHORIZATION"),
    }
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Extra", "1")])
    return [json.dumps(seen).encode()]


def session() -> requests.Session:
    s = requests.Session()
    s.mount("https://sandbox.local", WSGIAdapter(echo))  # type: ignore[arg-type]
    return s


def test_the_app_sees_the_request_as_sent() -> None:
    resp = session().post(
        "https://sandbox.local/a%2Fb?q=1", data="payload", headers={"Authorization": "Bearer t"}
    )
    assert (resp.status_code, resp.reason, resp.headers["X-Extra"]) == (201, "Created", "1")
    assert resp.json() == {"path": "/a/b", "raw": "/a%2Fb?q=1", "host": "sandbox.local", "body": "payload",
                           "auth": "Bearer t"}  # fmt: skip


def test_generator_and_file_bodies_arrive_whole() -> None:
    s = session()
    assert s.put("https://sandbox.local/g", data=(p for p in (b"ab", "cd"))).json()["body"] == "abcd"
    assert s.put("https://sandbox.local/f", data=io.BytesIO(b"file body")).json()["body"] == "file body"


def test_streamed_responses_can_be_read_in_chunks() -> None:
    resp = session().get("https://sandbox.local/x", stream=True)
    assert json.loads(b"".join(resp.iter_content(chunk_size=3)))["path"] == "/x"


def test_other_hosts_are_not_answered_by_the_app() -> None:
    s = session()
    assert s.get_adapter("https://sandbox.local/x").__class__ is WSGIAdapter
    assert s.get_adapter("https://example.com/x").__class__ is not WSGIAdapter
