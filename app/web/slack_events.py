"""`/slack/events`, `/slack/install`, `/slack/oauth_redirect`: every request Slack sends us.

Every POST is checked the way Bolt checks it (`v0` HMAC over the raw body, five-minute
timestamp window) before its body is parsed, and its body is read with a cap
(`MAX_BODY_BYTES`), so an unsigned or oversized request costs neither parsing nor memory.
Mentions, DMs and button clicks are nearly all of our Slack traffic and all they need before
the ack is one transaction, so they are stored here, through the bridge: Bolt's dispatch
(request objects, middleware chain, listener matching) costs several milliseconds of CPU per
request. If the database is down, storing raises, Slack sees a 5xx and retries, and nothing is
lost; the unique constraints make the retries harmless. Everything else (URL verification,
uninstalls, other interactivity, the OAuth flow) goes to Bolt, but only once it is signed and
parses, so Bolt's parser never meets a body it would raise on, and Bolt never needs the bridge.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.bridge.ingest import Ingest
from app.bridge.messages import BUSY
from app.json_input import json_object
from app.signing import verify_slack
from app.web.admission import Admission
from app.web.bodies import read_capped, replayed
from app.web.views import state_of

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


def is_message_event(payload: dict[str, Any]) -> bool:
    """An Events API message or mention: stored here, never handed to Bolt."""
    if payload.get("type") != "event_callback":
        return False
    event = payload.get("event")
    return isinstance(event, dict) and event.get("type") in MESSAGE_EVENTS


def is_rate_limit_notice(payload: dict[str, Any]) -> bool:
    """Slack's `app_rate_limited` callback: the workspace passed the Events API's hourly limit
    and events are being dropped. Nothing to do but log it; Bolt would answer it 404."""
    return payload.get("type") == "app_rate_limited"


def is_button_click(payload: dict[str, Any]) -> bool:
    """Interactivity from a button in an agent's message: stored here, never handed to Bolt."""
    return payload.get("type") == "block_actions"


async def handle(
    request: Request,
    *,
    signing_secret: str,
    ingest: Ingest,
    admission: Admission,
    bolt: AsyncSlackRequestHandler,
) -> Response:
    if admission.full:
        return busy()
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
    if is_message_event(payload):
        outcome = await admission.run(ingest.slack_event(payload))
        log.info(
            "slack event",
            extra={"slack_event_id": payload.get("event_id"), "outcome": outcome or BUSY},
        )
        return busy() if outcome is None or outcome.kind == BUSY.kind else Response(status_code=200)
    if is_rate_limit_notice(payload):
        log.warning(
            "slack events rate limited",
            extra={
                "slack_team_id": payload.get("team_id"),
                "minute_rate_limited": payload.get("minute_rate_limited"),
            },
        )
        return Response(status_code=200)
    if is_button_click(payload):
        outcomes = await admission.run(ingest.slack_actions(payload))
        if outcomes is None:
            log.info("slack action", extra={"outcome": BUSY})
            return busy()
        log.info("slack action", extra={"outcome": ",".join(map(str, outcomes)) or "none"})
        return Response(status_code=200)
    return await bolt.handle(replayed(request, body))


def busy() -> Response:
    """Not stored in time: Slack retries a 503 (with `X-Slack-Retry-Num`), and the unique
    constraints drop the retry if the first attempt was stored after all."""
    return JSONResponse(
        {"error": "busy, retry later"}, status_code=503, headers={"Retry-After": "1"}
    )


async def endpoint(request: Request) -> Response:
    """POSTs (events, interactivity) go through `handle`; the install redirect and the OAuth
    callback are GETs that go straight to Bolt's adapter."""
    state = state_of(request)
    if request.method == "POST":
        return await handle(
            request,
            signing_secret=state.settings.slack_signing_secret.get_secret_value(),
            ingest=state.ingest,
            admission=state.admission,
            bolt=state.slack_handler,
        )
    return await state.slack_handler.handle(request)
