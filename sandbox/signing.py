"""How Slack and Genesys sign what they send, written out again for the simulators.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256, hex, prefixed `v0=`, in
`X-Slack-Signature` beside `X-Slack-Request-Timestamp`. Genesys signs the raw body with
HMAC-SHA256, base64, prefixed `sha256=`, in `X-Hub-Signature-256`, with no timestamp.

A copy on purpose, not an import of `app.signing`: a simulator that shares the product's code
shares its assumptions, and a wrong assumption would then pass every test on both sides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def slack_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers of a JSON request Slack pushes to an app (Events API)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


def genesys_signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()
