"""The hot path for Slack message events: verify, store durably, answer 200.

Mentions and DMs are nearly all of our Events API traffic and all they need before the ack
is a signature check and one transaction. Bolt's dispatch (request objects, middleware
chain, listener matching) cost several milliseconds of CPU per event, so these events are
handled here with the same checks Bolt applies (`v0` HMAC over the raw body, five-minute
timestamp window) and the same ingest. Everything else (URL verification, uninstalls,
interactivity, the OAuth flow) still goes through Bolt.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.ingest import Ingest
from app.signing import verify_slack

log = logging.getLogger(__name__)

MESSAGE_EVENTS = frozenset({"app_mention", "message"})


def message_event(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The envelope if this request is a message event we handle here, else None (-> Bolt)."""
    if not content_type.startswith("application/json"):
        return None
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(envelope, dict) or envelope.get("type") != "event_callback":
        return None
    event = envelope.get("event")
    if not isinstance(event, dict) or event.get("type") not in MESSAGE_EVENTS:
        return None
    return envelope


async def handle_message_event(
    request: Request, body: bytes, envelope: dict[str, Any], *, signing_secret: str, ingest: Ingest
) -> Response:
    if not verify_slack(
        signing_secret,
        timestamp=request.headers.get("x-slack-request-timestamp"),
        signature=request.headers.get("x-slack-signature"),
        body=body,
    ):
        # Bolt's own answer to a bad signature, so Slack sees one behaviour either way.
        return JSONResponse({"error": "invalid request"}, status_code=401)
    outcome = await ingest.slack_event(envelope)
    log.info("slack event", extra={"slack_event_id": envelope.get("event_id"), "outcome": outcome})
    return Response(status_code=200)
