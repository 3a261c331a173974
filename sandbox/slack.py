"""A stand-in for a Slack incoming webhook: `POST /slack/services/<team>/<bot>/<token>` with `{"text": …}`.

It answers as Slack does (`ok`, or `no_text`, `invalid_payload`, `no_service` with 400/404) and records
each message, so tests and the demo can read what a channel received. The URL is the credential.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Request, Response

PREFIX = "/slack"


@dataclass
class SlackWebhook:
    """One channel's incoming webhook; `path` is its secret part."""

    seed: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def path(self) -> str:
        token = hashlib.sha256(f"slack-{self.seed}".encode()).hexdigest()[:24]
        return f"{PREFIX}/services/T0SANDBOX/B0DIGEST/{token}"

    def url(self, root: str) -> str:
        return root.rstrip("/") + self.path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.method != "POST" or request.path != self.path:
            return Response("no_service", 404, mimetype="text/plain")(environ, start_response)
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Response("invalid_payload", 400, mimetype="text/plain")(environ, start_response)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return Response("no_text", 400, mimetype="text/plain")(environ, start_response)
        with self._lock:
            self.messages.append({"text": text})
        return Response("ok", 200, mimetype="text/plain")(environ, start_response)
