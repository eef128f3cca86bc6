"""`POST /slack/events`: verify, parse, then store message events durably or hand the rest to Bolt.

Every request is checked the way Bolt checks it (`v0` HMAC over the raw body, five-minute
timestamp window) before its body is parsed, and its body is read with a cap
(`MAX_BODY_BYTES`), so an unsigned or oversized request costs neither parsing nor memory.
Mentions and DMs are nearly all of our Events API traffic and all they need before the ack
is one transaction, so they are stored here: Bolt's dispatch (request objects, middleware
chain, listener matching) costs several milliseconds of CPU per event. Everything else (URL
verification, uninstalls, interactivity, the OAuth flow) still goes through Bolt, but only
once it is signed and parses, so Bolt's parser never meets a body it would raise on.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.ingest import Ingest
from app.signing import verify_slack
from app.web.bodies import json_object, read_capped, replayed

log = logging.getLogger(__name__)

MESSAGE_EVENTS = frozenset({"app_mention", "message"})
# Slack's event and interactivity payloads are a few KB (a message's text is at most 40,000
# characters, its blocks 50); 1 MiB leaves ample room and bounds what a stranger can make us read.
MAX_BODY_BYTES = 1024 * 1024


def parse_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The payload as Bolt will parse it, or None when Bolt's parser would fail on it: JSON
    must be an object; a form's `payload` (interactivity) must be a JSON object."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return json_object(body)
    if media_type != "application/x-www-form-urlencoded":
        return None
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    if "payload" in form:
        return json_object(form["payload"][0])
    return {key: values[0] for key, values in form.items()}


def message_event(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The envelope if this request is a message event we handle here, else None (-> Bolt)."""
    if payload.get("type") != "event_callback":
        return None
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") not in MESSAGE_EVENTS:
        return None
    return payload


async def handle(
    request: Request,
    *,
    signing_secret: str,
    ingest: Ingest,
    bolt: AsyncSlackRequestHandler,
) -> Response:
    body = await read_capped(request, MAX_BODY_BYTES)
    if body is None:
        return JSONResponse({"error": "request body too large"}, status_code=413)
    if not verify_slack(
        signing_secret,
        timestamp=request.headers.get("x-slack-request-timestamp"),
        signature=request.headers.get("x-slack-signature"),
        body=body,
    ):
        # Bolt's own answer to a bad signature, so Slack sees one behaviour either way.
        return JSONResponse({"error": "invalid request"}, status_code=401)
    payload = parse_body(body, request.headers.get("content-type", ""))
    if payload is None:
        return JSONResponse({"error": "body is not a Slack payload"}, status_code=400)
    envelope = message_event(payload)
    if envelope is None:
        return await bolt.handle(replayed(request, body))
    outcome = await ingest.slack_event(envelope)
    log.info("slack event", extra={"slack_event_id": envelope.get("event_id"), "outcome": outcome})
    return Response(status_code=200)
