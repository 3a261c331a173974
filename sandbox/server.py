"""Serving any WSGI app for tests and the demo: over HTTPS on localhost, or in-process on a session."""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit
from wsgiref.types import WSGIApplication

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

from sandbox.tls import TLSMaterial

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, so a client pays one TLS handshake per connection, not per call.

    The request body is read whole before the app runs, which is what makes keep-alive safe here
    (werkzeug's development server closes every connection because it cannot guarantee that).
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait on delayed ACKs
    timeout = 30  # idle keep-alive connections give their thread back after this long
    server: _Server

    def setup(self) -> None:
        super().setup()
        handshake = getattr(self.request, "do_handshake", None)
        if handshake is not None:
            # Done here, in the connection's own thread, so a slow client never stalls accept().
            handshake()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _environ(self, body: bytes) -> dict[str, Any]:
        target = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(target.path).decode("latin-1"),
            "QUERY_STRING": target.query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key == "TRANSFER_ENCODING":
                # The body is already de-chunked; passed on, the header makes werkzeug read it as empty.
                continue
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if key == "CONTENT_TYPE":
                    environ[key] = value
                continue
            key = f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _serve(self) -> None:
        body = self._body()
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda _data: None

        try:
            result = self.server.app(self._environ(body), start_response)
            try:
                content = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = started
        except Exception:
            log.exception("sandbox app failed on %s %s", self.command, self.path)
            status, headers, content = "500 Internal Server Error", [("Content-Type", "text/plain")], b"error"
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        bodiless = self.command == "HEAD" or int(code) in (204, 304)
        if int(code) not in (204, 304):
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if not bodiless:
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Per-request access lines would drown test and demo output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], app: WSGIApplication, context: ssl.SSLContext | None
    ) -> None:
        super().__init__(address, _Handler)
        self.app = app
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-request is routine here; anything else is logged."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)


@dataclass
class RunningServer:
    """A sandbox listening on 127.0.0.1; `url` has no trailing slash."""

    url: str
    ca_path: Path
    _server: _Server = field(repr=False)
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


def serve(
    app: WSGIApplication, ca: TLSMaterial, *, host: str = "127.0.0.1", port: int = 0, plain: bool = False
) -> RunningServer:
    """Serves `app` over HTTPS in a daemon thread; port 0 picks a free port.

    `plain` serves HTTP instead, for a page a person opens in their own browser (the demo's CSM
    console), which does not trust the sandbox's CA; only ever on the loopback interface.
    """
    if plain and host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"plain HTTP is served on the loopback interface only, not {host!r}")
    server = _Server((host, port), app, None if plain else ca.server_context)
    bound = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{bound}", daemon=True
    )
    thread.start()
    scheme = "http" if plain else "https"
    return RunningServer(f"{scheme}://{host}:{bound}", ca.ca_path, server, thread)


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
        data = _body_bytes(request.body)
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


def _body_bytes(body: Any) -> bytes:
    """A prepared request's body as bytes, whether requests kept it as text, bytes, a file or a generator."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        return _body_bytes(body.read())
    return b"".join(part.encode() if isinstance(part, str) else bytes(part) for part in body)
