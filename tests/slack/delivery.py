"""Delivering simulated Slack events to our app in-process, and waiting for Bolt to finish.

The simulator's `EventSender` signs and POSTs envelopes as Slack does; here it posts through
the in-process client from `tests.harness.in_process`. Our Bolt app runs its listeners before
it acks (`process_before_response`), so `settle()` should find no listener task left; it waits
for any it finds, and says how many, so a test can prove there were none.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from app.signing import slack_headers
from sandbox.slack_events import DeliveryReport, EventSender
from sandbox.slack_payloads import BuiltEvent
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld
from tests.harness import APP_BASE

EVENTS_PATH = "/slack/events"
SETTLE_SECONDS = 5.0


def event_sender(world: SlackWorld, client: httpx.AsyncClient) -> EventSender:
    """Slack's retries (at once, 1 min, 5 min) without the waits, so a refusal shows as 4 tries."""
    world.events_url = f"{APP_BASE}{EVENTS_PATH}"
    return EventSender(world, signing_secret=SANDBOX_SIGNING_SECRET, time_scale=0.0, http=client)


def statuses(report: DeliveryReport) -> list[int | None]:
    return [attempt.status for attempt in report.attempts]


def bare_event(world: SlackWorld, slack_team_id: str, event: dict[str, Any]) -> BuiltEvent:
    """An event the payload builders do not offer, for a workspace as it is now."""
    return BuiltEvent(event, slack_team_id, world.active_installation(slack_team_id))


async def post_signed(
    client: httpx.AsyncClient,
    payload: dict[str, Any],
    *,
    retry_num: int | None = None,
    secret: str = SANDBOX_SIGNING_SECRET,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = slack_headers(secret, body)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return await client.post(EVENTS_PATH, content=body, headers=headers)


async def redeliver(
    client: httpx.AsyncClient, report: DeliveryReport, *, retry_num: int = 1
) -> httpx.Response:
    """What Slack sends when it missed our ack: the same envelope and `event_id`, re-signed."""
    return await post_signed(client, report.envelope, retry_num=retry_num)


def _is_bolt_listener(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "slack_bolt" in code.co_filename


async def settle() -> int:
    """Wait until Bolt's background listener tasks are done; returns how many there were."""
    seen: set[asyncio.Task[Any]] = set()
    async with asyncio.timeout(SETTLE_SECONDS):
        while True:
            pending = {
                task
                for task in asyncio.all_tasks()
                if task is not asyncio.current_task() and _is_bolt_listener(task)
            }
            if not pending:
                return len(seen)
            seen |= pending
            await asyncio.wait(pending)
