"""`/slack/events`, `/slack/install`, `/slack/oauth_redirect`: every request Slack sends us.

Every POST is served by `app.web.front` before the page middlewares, read with a cap
(`MAX_BODY_BYTES`) and checked the way Bolt checks it (`v0` HMAC over the raw body,
five-minute timestamp window) before its body is parsed, so an unsigned or oversized request
costs neither parsing nor memory.
Mentions, DMs and button clicks are nearly all of our Slack traffic and all they need before
the ack is one transaction, so they are stored here, through the bridge: Bolt's dispatch
(request objects, middleware chain, listener matching) costs several milliseconds of CPU per
request. If the database is down, storing raises, Slack sees a 503 and retries, and nothing is
lost; the unique constraints make the retries harmless. Everything else (URL verification,
uninstalls, other interactivity, the OAuth flow) goes to Bolt, but only once it is signed and
parses, so Bolt's parser never meets a body it would raise on, and Bolt never needs the bridge.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from app.bridge.messages import BUSY
from app.json_input import json_object
from app.signing import verify_slack
from app.web.front import Inbound, IngestEndpoint, Reply
from app.web.views import state_of

if TYPE_CHECKING:
    from app.main import AppState

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


async def handle(state: AppState, request: Inbound) -> Reply | Response:
    """A POST to `/slack/events`, its body read under `MAX_BODY_BYTES` (`EVENTS`)."""
    ingest = state.ingest
    if not verify_slack(
        state.settings.slack_signing_secret.get_secret_value(),
        timestamp=request.header(b"x-slack-request-timestamp"),
        signature=request.header(b"x-slack-signature"),
        body=request.body,
    ):
        # Bolt's own answer to a bad signature, so Slack sees one behaviour either way.
        return INVALID
    payload = parse_body(request.body, request.header(b"content-type") or "")
    if payload is None:
        return NOT_SLACK
    if is_message_event(payload):
        outcome = await state.admission.run(ingest.slack_event(payload))
        stored = outcome is not None and outcome.kind != BUSY.kind
        log.info(
            "slack event",
            extra={"slack_event_id": payload.get("event_id"), "outcome": str(outcome or BUSY)},
        )
        return OK if stored else BUSY_REPLY
    if is_rate_limit_notice(payload):
        log.warning(
            "slack events rate limited",
            extra={
                "slack_team_id": payload.get("team_id"),
                "minute_rate_limited": payload.get("minute_rate_limited"),
            },
        )
        return OK
    if is_button_click(payload):
        outcomes = await state.admission.run(ingest.slack_actions(payload))
        if outcomes is None:
            log.info("slack action", extra={"outcome": "busy"})
            return BUSY_REPLY
        log.info("slack action", extra={"outcome": ",".join(map(str, outcomes)) or "none"})
        return OK
    return await state.slack_handler.handle(request.as_request())


OK = Reply.empty(200)
INVALID = Reply.json(401, {"error": "invalid request"})
NOT_SLACK = Reply.json(400, {"error": "body is not a Slack payload"})
# Not stored in time: Slack retries a 503 (with `X-Slack-Retry-Num`), and the unique
# constraints drop the retry if the first attempt was stored after all.
BUSY_REPLY = Reply.json(503, {"error": "busy, retry later"}, retry_after=True)

EVENTS = IngestEndpoint(
    source="slack",
    limit=MAX_BODY_BYTES,
    busy=BUSY_REPLY,
    too_large=Reply.json(413, {"error": "request body too large"}),
    handler=handle,
)


async def install(request: Request) -> Response:
    """The install redirect and the OAuth callback: GETs that go straight to Bolt's adapter."""
    return await state_of(request).slack_handler.handle(request)
