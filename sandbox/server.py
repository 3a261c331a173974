"""Serving any WSGI app for tests and the demo: over HTTPS on localhost, or in-process on a session."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import WSGIApplication

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from sandbox.tls import TLSMaterial


class _QuietHandler(WSGIRequestHandler):
    """Per-request access lines would drown test and demo output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return


@dataclass
class RunningServer:
    """A sandbox listening on 127.0.0.1; `url` has no trailing slash."""

    url: str
    ca_path: Path
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(app: WSGIApplication, ca: TLSMaterial, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serves `app` over HTTPS in a daemon thread; port 0 picks a free port."""
    server = make_server(
        host, port, app, threaded=True, request_handler=_QuietHandler, ssl_context=ca.server_context
    )
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"sandbox-{server.port}",
        daemon=True,
    )
    thread.start()
    return RunningServer(f"https://{host}:{server.port}", ca.ca_path, server, thread)


class WSGIAdapter(HTTPAdapter):
    """Answers a requests session from a WSGI app in-process: no socket, no TLS, same wire format.

    Mount it on the URL prefix the client uses: `session.mount("https://sandbox.local", WSGIAdapter(app))`.
    The app sees that host, so URLs it hands back (instance_url, nextRecordsUrl) lead to it again.
    """

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__()
        self.app = app

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        url = urlsplit(request.url or "")
        body = request.body
        data = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else b""
        builder = EnvironBuilder(
            path=url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method or "GET",
            headers=[(k, v) for k, v in request.headers.items() if k.lower() != "content-length"],
            data=data,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        # Apps may route on the raw path (percent-escapes intact), as behind a real server.
        environ["RAW_URI"] = environ["REQUEST_URI"] = url.path + (f"?{url.query}" if url.query else "")
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        code, _, reason = status.partition(" ")
        raw = HTTPResponse(
            body=BytesIO(content),
            headers=HTTPHeaderDict(list(headers.items())),
            status=int(code),
            reason=reason,
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        return self.build_response(request, raw)
