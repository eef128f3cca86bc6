"""What we do with Slack traffic, registered on the Bolt app in one place.

Message events and button clicks are made durable in Postgres *before* Bolt acknowledges
them: `durable_ingest` runs ahead of authorization, stores the event through the bridge, and
answers 200 itself. If the database is down it raises, Slack sees a 5xx and retries, and
nothing is lost. The unique constraints make those retries harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse

from app.bridge.ingest import Ingest

log = logging.getLogger(__name__)

_MESSAGE_EVENTS = {"app_mention", "message"}


def durable_ingest(
    ingest: Ingest,
) -> Callable[..., Awaitable[BoltResponse]]:
    async def middleware(
        body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        kind = body.get("type")
        event = body.get("event")
        if kind == "event_callback" and isinstance(event, dict):
            if event.get("type") in _MESSAGE_EVENTS:
                outcome = await ingest.slack_event(body)
                log.info(
                    "slack event",
                    extra={"slack_event_id": body.get("event_id"), "outcome": outcome},
                )
                return BoltResponse(status=200, body="")
        elif kind == "block_actions":
            outcomes = await ingest.slack_actions(body)
            log.info("slack action", extra={"outcome": ",".join(map(str, outcomes)) or "none"})
            return BoltResponse(status=200, body="")
        return await next()

    return middleware
