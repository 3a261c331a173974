"""What the org was asked to send: the `emailSimple` invocable action and Chatter feed posts, recorded.

Nothing leaves the sandbox; tests and the demo read `emails` and `posts` to see what a CSM received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.ids import IdMinter
from sandbox.salesforce.store import Store

EMAIL_INPUTS = ("emailAddresses", "emailSubject", "emailBody")
MAX_POST = 10_000  # characters of a feed post's text, as Chatter allows


@dataclass
class Messages:
    store: Store
    ids: IdMinter
    clock: Callable[[], datetime]
    emails: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)

    def action(self, name: str, body: dict[str, Any], user_id: str) -> list[dict[str, Any]]:
        """`POST /actions/standard/{name}`: one result per input; only `emailSimple` is known."""
        if name != "emailSimple":
            raise not_found()
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
            raise ApiError(400, "JSON_PARSER_ERROR", "inputs must be a non-empty list of objects")
        results = []
        for given in inputs:
            missing = [k for k in EMAIL_INPUTS if not str(given.get(k) or "").strip()]
            if missing:
                results.append(
                    {
                        "actionName": name,
                        "isSuccess": False,
                        "outputValues": None,
                        "errors": [
                            {
                                "statusCode": "REQUIRED_FIELD_MISSING",
                                "message": f"Missing required input: {missing[0]}",
                                "fields": missing,
                            }
                        ],
                    }
                )
                continue
            to = [a.strip() for a in str(given["emailAddresses"]).split(",") if a.strip()]
            self.emails.append(
                {
                    "to": to,
                    "subject": str(given["emailSubject"]),
                    "body": str(given["emailBody"]),
                    "sent_by": user_id,
                    "at": self.clock(),
                }
            )
            results.append({"actionName": name, "isSuccess": True, "outputValues": None, "errors": None})
        return results

    def feed_element(self, body: dict[str, Any], user_id: str, version: str) -> dict[str, Any]:
        """`POST /chatter/feed-elements`: a text FeedItem on a User's or record's feed."""
        subject = str(body.get("subjectId") or "")
        if body.get("feedElementType") != "FeedItem" or not subject:
            raise ApiError(400, "INVALID_INPUT", "feedElementType FeedItem and a subjectId are required")
        if self.store.get(subject) is None:
            raise ApiError(404, "NOT_FOUND", f"No feed for subjectId {subject}")
        segments = (body.get("body") or {}).get("messageSegments") or []
        text = "".join(
            str(s.get("text") or "") for s in segments if isinstance(s, dict) and s.get("type") == "Text"
        )
        if not text or len(text) > MAX_POST:
            raise ApiError(400, "INVALID_INPUT", f"the post needs text of 1 to {MAX_POST} characters")
        post_id = self.ids.mint("0D5")
        self.posts.append(
            {"id": post_id, "subject_id": subject, "text": text, "sent_by": user_id, "at": self.clock()}
        )
        return {
            "id": post_id,
            "feedElementType": "FeedItem",
            "parent": {"id": subject},
            "body": {"text": text},
            "url": f"/services/data/v{version}/chatter/feed-elements/{post_id}",
        }
