"""Posting a message to a Slack channel through an incoming webhook (the morning brief's optional copy).

The webhook URL is the credential: it comes from env or a secret file (`resolve_secret`, which registers
it for redaction), and every error text is redacted before anyone logs or stores it.
"""

from __future__ import annotations

import requests

from connectors import redact

TIMEOUT = 10.0


class SlackError(Exception):
    """The webhook refused the message or could not be reached (its text is already redacted)."""


def post(webhook_url: str, text: str, session: requests.Session, timeout: float = TIMEOUT) -> None:
    """One message, `{"text": …}` as incoming webhooks take it; not retried (a repeat would post twice)."""
    try:
        resp = session.post(webhook_url, json={"text": text}, timeout=timeout)
    except requests.RequestException as exc:
        raise SlackError(redact.text(f"Slack webhook unreachable: {type(exc).__name__}: {exc}")) from None
    if resp.status_code != 200:
        raise SlackError(redact.text(f"Slack webhook answered HTTP {resp.status_code}: {resp.text[:200]}"))
