"""Request signatures of both services, in one place for signer and verifier alike.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256, hex, prefixed `v0=`, and receivers
refuse timestamps more than five minutes off. Genesys signs the raw body with HMAC-SHA256,
base64, prefixed `sha256=`, in `X-Hub-Signature-256`, with no timestamp at all.

The simulators sign with these functions; our webhook endpoint and the simulators' own
receivers verify with them. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hmac
import time

SLACK_MAX_SKEW_SECONDS = 300


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    # `hmac.digest` is OpenSSL's one-shot HMAC, without the `HMAC` object's Python layers.
    return "v0=" + hmac.digest(secret.encode(), base, "sha256").hex()


def slack_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


def verify_slack(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> bool:
    """True only for a fresh timestamp and a matching signature."""
    if not secret or not timestamp or not signature:
        return False
    # ASCII digits only: int() would also take "١٢" or " 12 ", and huge values cost time.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > SLACK_MAX_SKEW_SECONDS:
        return False
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text (headers are Latin-1).
    expected = slack_signature(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))


def genesys_signature(secret: str, body: bytes) -> str:
    digest = hmac.digest(secret.encode(), body, "sha256")
    return "sha256=" + base64.b64encode(digest).decode()


def verify_genesys(secret: str, *, signature: str | None, body: bytes) -> bool:
    """Check `X-Hub-Signature-256` over the raw bytes, never over re-serialised JSON."""
    if not secret or not signature:
        return False
    expected = genesys_signature(secret, body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
