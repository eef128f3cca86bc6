"""Pushing events to our app the way Slack's Events API does, retries included.

Slack wraps each event in an `event_callback` envelope, signs it with the app's signing secret
and POSTs it to the Request URL. An answer that is not 2xx within 3 seconds counts as a failure
and is retried up to 3 times (at once, after 1 minute, after 5 minutes) with `X-Slack-Retry-Num`
and `X-Slack-Retry-Reason`, always with the same `event_id`, so receivers must dedupe on it.
`time_scale` shrinks those waits for tests and the benchmark; `X-Slack-No-Retry: 1` stops them.

Slack delivers at most 30,000 events per workspace per app per hour (`world.events_per_hour`,
lower in tests). Past it, events are dropped and the app gets one `app_rate_limited` callback
per workspace and hour. Interactivity (`block_actions`) is a form post (`payload=<JSON>`) to
the interactivity URL, signed the same way and never retried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from sandbox.signing import slack_headers
from sandbox.slack_payloads import BuiltEvent
from sandbox.slack_world import SANDBOX_APP_ID, SANDBOX_VERIFICATION_TOKEN, SlackWorld

JsonObject = dict[str, Any]
Signature = Literal["valid", "tampered", "stale"]
AttemptOutcome = Literal["ok", "http_error", "http_timeout", "connection_failed"]

SLACK_ACK_TIMEOUT_SECONDS = 3.0
HOUR_SECONDS = 3600.0
RETRY_DELAYS_SECONDS = (0.0, 60.0, 300.0)
# Older than the five minutes receivers tolerate.
STALE_SECONDS = 10 * 60
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class DeliveryAttempt:
    retry_num: int
    status: int | None
    elapsed: float
    outcome: AttemptOutcome

    def to_json(self) -> JsonObject:
        return {
            "retry_num": self.retry_num,
            "status": self.status,
            "elapsed": round(self.elapsed, 4),
            "outcome": self.outcome,
        }


@dataclass
class DeliveryReport:
    event_id: str
    event_type: str
    url: str | None
    envelope: JsonObject = field(repr=False)
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    error: str | None = None
    done: bool = False
    # Interactivity goes as a form (`payload=<JSON>`), events as JSON.
    form: bool = False

    @property
    def delivered(self) -> bool:
        return any(a.outcome == "ok" for a in self.attempts)

    def to_json(self) -> JsonObject:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "delivered": self.delivered,
            "done": self.done,
            "error": self.error,
            "attempts": [a.to_json() for a in self.attempts],
            "envelope": self.envelope,
        }


def build_envelope(world: SlackWorld, built: BuiltEvent) -> JsonObject:
    team = world.teams[built.slack_team_id]
    installation = built.installation
    is_enterprise_install = installation.is_enterprise_install if installation else False
    bot_user_id = installation.bot_user_id if installation else world.app_bots[team.slack_team_id]
    channel = built.channel
    event_type = built.event["type"]
    context = {
        "et": event_type,
        "tid": team.slack_team_id,
        "aid": SANDBOX_APP_ID,
        "cid": channel.slack_channel_id if channel else None,
    }
    opaque = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
    return {
        "token": SANDBOX_VERIFICATION_TOKEN,
        "team_id": team.slack_team_id,
        "enterprise_id": team.slack_enterprise_id,
        "context_team_id": team.slack_team_id,
        "context_enterprise_id": team.slack_enterprise_id,
        "api_app_id": SANDBOX_APP_ID,
        "event": built.event,
        "type": "event_callback",
        "event_id": world.new_id("Ev0"),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": team.slack_enterprise_id,
                "team_id": None if is_enterprise_install else team.slack_team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": bool(channel and channel.is_ext_shared),
        "event_context": f"4-{opaque}",
    }


class EventSender:
    """Signs and delivers envelopes; `ack_timeout` is Slack's 3 s unless a test shortens it."""

    def __init__(
        self,
        world: SlackWorld,
        *,
        signing_secret: str,
        time_scale: float = 1.0,
        http: httpx.AsyncClient | None = None,
        ack_timeout: float = SLACK_ACK_TIMEOUT_SECONDS,
    ) -> None:
        self.world = world
        self.signing_secret = signing_secret
        self.time_scale = time_scale
        self.ack_timeout = ack_timeout
        self._http = http
        self._retrying: set[asyncio.Task[None]] = set()

    def _over_hourly_limit(self, slack_team_id: str) -> bool:
        """Counts this event against the workspace's hour; True when it must be dropped."""
        now = time.monotonic()
        window = self.world.event_times.setdefault(slack_team_id, deque())
        while window and window[0] <= now - HOUR_SECONDS:
            window.popleft()
        if len(window) >= self.world.events_per_hour:
            return True
        window.append(now)
        return False

    async def _notify_rate_limited(self, slack_team_id: str) -> None:
        """One `app_rate_limited` per workspace and hour, as Slack sends it (no envelope)."""
        now = time.monotonic()
        last = self.world.rate_limited_notified.get(slack_team_id)
        if last is not None and now - last < HOUR_SECONDS:
            return
        self.world.rate_limited_notified[slack_team_id] = now
        notice = {
            "token": SANDBOX_VERIFICATION_TOKEN,
            "type": "app_rate_limited",
            "team_id": slack_team_id,
            "minute_rate_limited": int(time.time()) // 60 * 60,
            "api_app_id": SANDBOX_APP_ID,
        }
        report = DeliveryReport(
            event_id=self.world.new_id("Rl0"),
            event_type="app_rate_limited",
            url=self.world.events_url,
            envelope=notice,
        )
        self.world.deliveries[report.event_id] = report
        if report.url is not None:
            await self._attempt(report, retry_num=0, reason=None, signature="valid")
        report.done = True

    async def send_interaction(self, payload: JsonObject) -> DeliveryReport:
        """One signed form post of an interactivity payload; Slack does not retry these."""
        url = self.world.interactivity_url or self.world.events_url
        report = DeliveryReport(
            event_id=self.world.new_id("Ac0"),
            event_type=str(payload.get("type")),
            url=url,
            envelope=payload,
            form=True,
        )
        self.world.deliveries[report.event_id] = report
        self.world.last_delivery = report
        if url is None:
            report.error = "interactivity_url_not_set"
        else:
            await self._attempt(report, retry_num=0, reason=None, signature="valid")
        report.done = True
        return report

    async def send(
        self,
        built: BuiltEvent,
        *,
        signature: Signature = "valid",
        background_retries: bool = False,
    ) -> DeliveryReport:
        """Deliver once, then retry as Slack would: inline, or in a task the caller can poll."""
        envelope = build_envelope(self.world, built)
        report = DeliveryReport(
            event_id=envelope["event_id"],
            event_type=built.event["type"],
            url=self.world.events_url,
            envelope=envelope,
        )
        self.world.deliveries[report.event_id] = report
        self.world.last_delivery = report
        if report.url is None:
            report.error = "events_url_not_set"
            report.done = True
            return report
        if self._over_hourly_limit(built.slack_team_id):
            report.error = "app_rate_limited"
            report.done = True
            await self._notify_rate_limited(built.slack_team_id)
            return report
        stop = await self._attempt(report, retry_num=0, reason=None, signature=signature)
        if stop:
            report.done = True
        elif background_retries:
            task = asyncio.create_task(self._retry(report, signature))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)
        else:
            await self._retry(report, signature)
        return report

    async def _retry(self, report: DeliveryReport, signature: Signature) -> None:
        for retry_num, delay in enumerate(RETRY_DELAYS_SECONDS, start=1):
            await asyncio.sleep(delay * self.time_scale)
            reason = report.attempts[-1].outcome
            if await self._attempt(report, retry_num=retry_num, reason=reason, signature=signature):
                break
        report.done = True

    async def _attempt(
        self,
        report: DeliveryReport,
        *,
        retry_num: int,
        reason: str | None,
        signature: Signature,
    ) -> bool:
        """One POST; True when there is nothing left to retry."""
        assert report.url is not None
        body = json.dumps(report.envelope).encode()
        if report.form:
            body = urlencode({"payload": body.decode()}).encode()
        now = time.time() - STALE_SECONDS if signature == "stale" else None
        headers = slack_headers(self.signing_secret, body, now=now)
        if report.form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if signature == "tampered":
            original = headers["X-Slack-Signature"]
            headers["X-Slack-Signature"] = original[:-1] + ("0" if original[-1] != "0" else "1")
        headers["User-Agent"] = USER_AGENT
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = reason or "http_error"
        started = time.monotonic()
        status: int | None = None
        no_retry = False
        try:
            async with asyncio.timeout(self.ack_timeout):
                response = await self._post(report.url, body, headers)
            status = response.status_code
            outcome: AttemptOutcome = "ok" if 200 <= status < 300 else "http_error"
            no_retry = response.headers.get("x-slack-no-retry") == "1"
        except (TimeoutError, httpx.TimeoutException):
            outcome = "http_timeout"
        except httpx.TransportError:
            outcome = "connection_failed"
        elapsed = time.monotonic() - started
        report.attempts.append(DeliveryAttempt(retry_num, status, elapsed, outcome))
        return outcome == "ok" or no_retry

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        timeout = httpx.Timeout(self.ack_timeout + 1.0)
        if self._http is not None:
            return await self._http.post(url, content=body, headers=headers, timeout=timeout)
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await client.post(url, content=body, headers=headers)
