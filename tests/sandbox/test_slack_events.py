from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.signing import verify_slack
from sandbox.runner import ServerThread
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_dm, build_mention
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld
from tests.sandbox.simulators import SUPPORT


@dataclass
class Receiver:
    """Our app's stand-in: answers each delivery per `plan` (a status, or seconds to stall)."""

    plan: list[int | float]
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)

    def app(self) -> Starlette:
        async def events(request: Request) -> Response:
            body = await request.body()
            step = self.plan[len(self.seen)] if len(self.seen) < len(self.plan) else 200
            self.seen.append((dict(request.headers), body))
            self.verified.append(
                verify_slack(
                    SANDBOX_SIGNING_SECRET,
                    timestamp=request.headers.get("x-slack-request-timestamp"),
                    signature=request.headers.get("x-slack-signature"),
                    body=body,
                )
            )
            if isinstance(step, float):
                await asyncio.sleep(step)
                return Response(status_code=200)
            headers = {"X-Slack-No-Retry": "1"} if step == 409 else {}
            return Response(status_code=step, headers=headers)

        return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.seen]


def receiving(world: SlackWorld, plan: list[int | float]) -> tuple[Receiver, ServerThread]:
    receiver = Receiver(plan)
    server = ServerThread(receiver.app()).start()
    world.events_url = f"{server.url}/slack/events"
    return receiver, server


@pytest.fixture
def receiver(world: SlackWorld) -> Iterator[Receiver]:
    found, server = receiving(world, [])
    yield found
    server.stop()


def sender(world: SlackWorld, **kwargs: Any) -> EventSender:
    return EventSender(world, signing_secret=SANDBOX_SIGNING_SECRET, time_scale=0.001, **kwargs)


async def test_delivered_body_is_the_signed_envelope(world: SlackWorld, receiver: Receiver) -> None:
    built = build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0002",
        text="help",
    )
    report = await sender(world).send(built)
    ((headers, body),) = receiver.seen
    assert report.delivered
    assert [a.status for a in report.attempts] == [200]
    assert receiver.verified == [True]
    assert json.loads(body) == report.envelope
    assert report.envelope["event_id"] == report.event_id
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Slackbot")


async def test_retries_after_error_with_same_event_id(world: SlackWorld) -> None:
    receiver, server = receiving(world, [500, 200])
    try:
        report = await sender(world).send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
        )
    finally:
        server.stop()
    first, second = receiver.seen
    assert [a.status for a in report.attempts] == [500, 200]
    assert [a.outcome for a in report.attempts] == ["http_error", "ok"]
    assert "x-slack-retry-num" not in first[0]
    assert second[0]["x-slack-retry-num"] == "1"
    assert second[0]["x-slack-retry-reason"] == "http_error"
    assert len({b["event_id"] for b in receiver.bodies()}) == 1
    assert receiver.verified == [True, True]


async def test_slow_answer_counts_as_timeout_and_is_retried(world: SlackWorld) -> None:
    receiver, server = receiving(world, [1.0, 200])
    try:
        report = await sender(world, ack_timeout=0.3).send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
        )
    finally:
        server.stop()
    assert [a.outcome for a in report.attempts] == ["http_timeout", "ok"]
    assert report.attempts[0].status is None
    assert 0.3 <= report.attempts[0].elapsed < 0.9
    assert receiver.seen[1][0]["x-slack-retry-reason"] == "http_timeout"


async def test_gives_up_after_three_retries_on_slack_schedule(world: SlackWorld) -> None:
    receiver, server = receiving(world, [503, 503, 503, 503, 200])
    started = time.monotonic()
    try:
        report = await sender(world).send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
        )
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    assert [a.retry_num for a in report.attempts] == [0, 1, 2, 3]
    assert not report.delivered
    assert report.done
    assert [h.get("x-slack-retry-num") for h, _ in receiver.seen] == [None, "1", "2", "3"]
    # (0 + 60 + 300) s scaled by 0.001
    assert elapsed >= 0.36


async def test_no_retry_header_stops_retries(world: SlackWorld) -> None:
    receiver, server = receiving(world, [409])
    try:
        report = await sender(world).send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
        )
    finally:
        server.stop()
    assert len(receiver.seen) == 1
    assert report.done and not report.delivered


async def test_background_retries_finish_later(world: SlackWorld) -> None:
    _, server = receiving(world, [500, 500, 200])
    try:
        report = await sender(world).send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x"),
            background_retries=True,
        )
        assert len(report.attempts) == 1
        assert not report.done
        for _ in range(100):
            if report.done:
                break
            await asyncio.sleep(0.02)
    finally:
        server.stop()
    assert report.delivered
    assert [a.retry_num for a in report.attempts] == [0, 1, 2]


async def test_unreachable_app_is_connection_failed(world: SlackWorld) -> None:
    _, server = receiving(world, [])
    server.stop()
    report = await sender(world).send(
        build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
    )
    assert {a.outcome for a in report.attempts} == {"connection_failed"}
    assert len(report.attempts) == 4


async def test_no_events_url_sends_nothing(world: SlackWorld) -> None:
    world.events_url = None
    report = await sender(world).send(
        build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
    )
    assert report.error == "events_url_not_set"
    assert report.attempts == []


async def test_tampered_and_stale_signatures_fail_verification(
    world: SlackWorld, receiver: Receiver
) -> None:
    events = sender(world)
    for signature in ("tampered", "stale", "valid"):
        await events.send(
            build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x"),
            signature=signature,
        )
    assert receiver.verified == [False, False, True]
    stale_headers = receiver.seen[1][0]
    assert time.time() - int(stale_headers["x-slack-request-timestamp"]) > 300


def test_verifier_rejects_tampering_staleness_and_missing_parts() -> None:
    body = b'{"type":"event_callback"}'
    now = 1_700_000_000.0
    from app.signing import slack_headers

    headers = slack_headers(SANDBOX_SIGNING_SECRET, body, now=now)
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]

    def check(**overrides: Any) -> bool:
        args: dict[str, Any] = {
            "timestamp": timestamp,
            "signature": signature,
            "body": body,
            "now": now,
        }
        args.update(overrides)
        return verify_slack(SANDBOX_SIGNING_SECRET, **args)

    assert check()
    assert not check(body=body + b" ")
    assert not check(signature=signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    assert not check(now=now + 301)
    assert check(now=now + 299)
    assert not check(timestamp=None)
    assert not check(timestamp="yesterday")
    assert not verify_slack(
        "other-secret", timestamp=timestamp, signature=signature, body=body, now=now
    )
