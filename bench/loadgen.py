"""The open-loop load generator: Slack's Events API and Genesys' webhook, as senders.

Each message is sent at its planned instant whether or not earlier ones were answered, and
its latency is counted from that instant, so time spent queued behind a slow app (or behind
this process) is charged to the app. Retries follow each sender's policy: Slack retries an
answer that is not 2xx within 3 s at once, then after 1 and 5 minutes (time-scaled here),
with `X-Slack-Retry-Num`; Genesys retries timeouts, 429 and 5xx five times, 5 s apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.payloads import (
    BenchTenant,
    genesys_request,
    slack_envelope,
    slack_request,
)
from bench.schedule import ConversationSpec, Planned, Timestamps
from sandbox.genesys_world import to_iso

SLACK_TIMEOUT_SECONDS = 3.0
SLACK_RETRY_DELAYS = (0.0, 60.0, 300.0)
GENESYS_TIMEOUT_SECONDS = 10.0
GENESYS_RETRY_DELAY = 5.0
GENESYS_RETRIES = 5


@dataclass
class Outcome:
    planned: Planned
    intended: float  # epoch
    first_status: int | None = None  # None: no answer in time, or the connection failed
    first_latency: float | None = None  # seconds from the intended instant to the answer
    acked_at: float | None = None  # epoch of the first 2xx
    statuses: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class Pacing:
    """Time scales for the senders' retry waits (1.0 is the real policy)."""

    slack_retry_scale: float = 0.05
    genesys_retry_scale: float = 0.4


class LoadGenerator:
    def __init__(
        self,
        *,
        web_url: str,
        signing_secret: str,
        tenants: Sequence[BenchTenant],
        specs: Sequence[ConversationSpec],
        stamps: Timestamps,
        pacing: Pacing = Pacing(),
    ) -> None:
        self.events_url = f"{web_url}/slack/events"
        self.webhook_url = f"{web_url}/genesys/webhook"
        self.signing_secret = signing_secret
        self.tenants = tenants
        self.specs = specs
        self.stamps = stamps
        self.pacing = pacing
        self.roots_acked: set[int] = set()
        self._session: aiohttp.ClientSession | None = None
        self._offset = time.time() - time.monotonic()

    def epoch(self, monotonic: float) -> float:
        return monotonic + self._offset

    async def run(self, planned: Sequence[Planned], *, start: float) -> list[Outcome]:
        """Send everything; `start` is the phase's first instant on the monotonic clock."""
        connector = aiohttp.TCPConnector(limit=1024, limit_per_host=1024, force_close=False)
        outcomes: list[Outcome] = []
        tasks: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            self._session = session
            for p in planned:
                due = start + p.at
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                outcome = Outcome(p, self.epoch(due))
                outcomes.append(outcome)
                send = self._slack if p.direction == "to_genesys" else self._genesys
                tasks.append(asyncio.create_task(send(outcome, due)))
            await asyncio.gather(*tasks)
        self._session = None
        return outcomes

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], limit: float
    ) -> tuple[int | None, bool]:
        """One attempt: (status or None, whether the answer asked for no retries)."""
        assert self._session is not None
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=limit)
            ) as response:
                await response.read()
                return response.status, response.headers.get("x-slack-no-retry") == "1"
        except (TimeoutError, aiohttp.ClientError):
            return None, False

    def _record(self, outcome: Outcome, status: int | None, due: float, attempt: int) -> None:
        now = time.monotonic()
        outcome.statuses.append(status)
        if attempt == 0:
            outcome.first_status = status
            outcome.first_latency = now - due if status is not None else None
        if status is not None and 200 <= status < 300 and outcome.acked_at is None:
            outcome.acked_at = self.epoch(now)

    async def _slack(self, outcome: Outcome, due: float) -> None:
        p = outcome.planned
        spec = self.specs[p.conversation]
        tenant = self.tenants[spec.tenant]
        thread_ts = self.stamps.thread_ts.get(p.conversation)
        envelope = slack_envelope(
            tenant,
            spec,
            p,
            ts=self.stamps.message_ts[p.seq],
            thread_ts=thread_ts,
            root_acked=p.conversation in self.roots_acked,
            event_id=f"Ev0B{p.seq:010d}",
            event_time=int(outcome.intended),
        )
        reason = "http_error"
        for attempt in range(len(SLACK_RETRY_DELAYS) + 1):
            if attempt:
                await asyncio.sleep(SLACK_RETRY_DELAYS[attempt - 1] * self.pacing.slack_retry_scale)
            body, headers = slack_request(
                self.signing_secret,
                envelope,
                now=time.time(),
                bad=p.bad,
                retry_num=attempt,
                retry_reason=reason,
            )
            status, no_retry = await self._post(
                self.events_url, body, headers, SLACK_TIMEOUT_SECONDS
            )
            self._record(outcome, status, due, attempt)
            if status is not None and 200 <= status < 300:
                if p.position == 0 and spec.kind == "thread":
                    self.roots_acked.add(p.conversation)
                return
            if no_retry or p.bad is not None:
                return
            reason = "http_timeout" if status is None else "http_error"

    async def _genesys(self, outcome: Outcome, due: float) -> None:
        p = outcome.planned
        spec = self.specs[p.conversation]
        tenant = self.tenants[spec.tenant]
        thread_ts = self.stamps.thread_ts.get(p.conversation)
        body, headers = genesys_request(
            tenant,
            spec,
            p,
            thread_ts=thread_ts,
            time=to_iso(outcome.intended),
            message_id=f"{p.seq:032x}",
        )
        for attempt in range(GENESYS_RETRIES + 1):
            if attempt:
                await asyncio.sleep(GENESYS_RETRY_DELAY * self.pacing.genesys_retry_scale)
            status, _ = await self._post(self.webhook_url, body, headers, GENESYS_TIMEOUT_SECONDS)
            self._record(outcome, status, due, attempt)
            if status is not None and (200 <= status < 300 or (status < 500 and status != 429)):
                return
            if p.bad is not None:
                return
