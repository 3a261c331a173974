"""One Salesforce login per process: every client a process makes shares the session it got.

A replica runs every shard of every job, each with its own client (its own budget and usage); a login
per client was 360 logins a cycle at 10,000 stores, each a round trip to the token endpoint before
the first call. The session is dropped only when Salesforce rejects it, and then once: the first
client to see it expired logs in again and the others pick up that new session.
"""

from __future__ import annotations

import threading

import requests

from connectors.salesforce.auth import Authenticator, Token


class SharedLogin:
    """An `Authenticator` that logs in once and hands every caller that token until it is forgotten."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator
        self._lock = threading.Lock()  # held across the login: callers arriving meanwhile wait for it
        self._token: Token | None = None
        self.logins = 0

    def login(self, session: requests.Session, timeout: float) -> Token:
        with self._lock:
            if self._token is None:
                self._token = self._auth.login(session, timeout)
                self.logins += 1
            return self._token

    def forget(self, token: Token) -> None:
        """Salesforce rejected `token`: the next login makes a new one (unless another caller already has)."""
        with self._lock:
            if self._token is token:
                self._token = None
