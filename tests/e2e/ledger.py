"""What each side received, the drain, and the invariant every scenario ends with.

The invariant (external-contracts §R1): after the drain, for every conversation the
scenario touched, the receiving side holds exactly what was sent, in order, so
**lost = 0, duplicates = 0, order kept**. "Received" is read from the simulators' own
records, never from our database: Genesys' accepted `inbound/open/message` calls per
`channel.from.id`, and the bot's posts per Slack thread or DM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devkit.harness import ledger
from sandbox.faults import FaultPlan
from sandbox.genesys_records import InboundRecord
from sandbox.genesys_world import GenesysWorld
from sandbox.slack_records import SlackMessage
from sandbox.slack_world import SlackWorld

POLL_SECONDS = 0.05
DRAIN_TIMEOUT_SECONDS = 45.0
# The simulators' counters must stand still this long before the drain is over.
QUIET_SECONDS = 0.6

Predicate = Callable[[], bool | Awaitable[bool]]


async def wait_until(predicate: Predicate, within: float, *, what: str) -> float:
    """Poll until `predicate` holds; returns the seconds it took. No fixed sleeps anywhere."""
    started = time.monotonic()
    while True:
        outcome = predicate()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


# ---- what the simulators saw ----------------------------------------------------------------


def hits(plan: FaultPlan, route: str) -> int:
    """Faults taken on `route` so far; counts only grow, so compare with an earlier reading."""
    return plan.hits.get(route, 0)


async def until_hit(plan: FaultPlan, route: str, *, since: int, what: str) -> None:
    """Wait for the call that takes the next armed fault on `route` (it is now in flight)."""
    await wait_until(lambda: hits(plan, route) > since, 10, what=what)


def accepted(world: GenesysWorld, endpoint: str = "message") -> list[InboundRecord]:
    return [r for r in list(world.inbound) if r.endpoint == endpoint and 200 <= r.status < 300]


def genesys_texts(world: GenesysWorld, from_id: str) -> list[str]:
    """Texts Genesys accepted from one conversation (`channel.from.id`), in arrival order."""
    return [
        str(r.body.get("text"))
        for r in accepted(world, "message")
        if r.body["channel"]["from"]["id"] == from_id
    ]


def slack_posts(world: SlackWorld, channel: str, thread_ts: str | None) -> list[SlackMessage]:
    """The bot's posts in one thread (`thread_ts`) or, with None, at the top of a DM."""
    return [m for m in world.bot_messages(channel) if m.thread_ts == thread_ts]


def slack_texts(world: SlackWorld, channel: str, thread_ts: str | None) -> list[str]:
    return [m.text for m in slack_posts(world, channel, thread_ts)]


def receipts(world: GenesysWorld, genesys_message_id: str) -> list[dict[str, object]]:
    return [r.body for r in accepted(world, "receipt") if r.body.get("id") == genesys_message_id]


# ---- drain -----------------------------------------------------------------------------------


async def pending(engine: AsyncEngine) -> int:
    """Messages accepted but not yet delivered or dead-lettered (retries waiting included)."""
    async with engine.connect() as connection:
        count = await connection.execute(
            text("SELECT count(*) FROM bridge_message WHERE status = 'pending'")
        )
        return int(count.scalar_one())


async def drain(
    engine: AsyncEngine,
    slack: SlackWorld,
    genesys: GenesysWorld,
    *,
    within: float = DRAIN_TIMEOUT_SECONDS,
) -> float:
    """Wait until nothing is pending in the DB and both simulators have stopped moving."""
    last: tuple[int, int, int] = (-1, -1, -1)
    still_since = time.monotonic()

    async def settled() -> bool:
        nonlocal last, still_since
        counts = (len(genesys.inbound), len(slack.calls), len(genesys.deliveries))
        now = time.monotonic()
        if counts != last:
            last, still_since = counts, now
            return False
        if now - still_since < QUIET_SECONDS:
            return False
        return await pending(engine) == 0

    return await wait_until(settled, within, what="the bridge to drain")


# ---- the invariant ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One conversation, judged by the harness's ledger (`judge_texts`)."""

    key: str
    sent: tuple[str, ...]
    received: tuple[str, ...]

    @property
    def judged(self) -> ledger.Verdict:
        return ledger.judge_texts(self.sent, self.received)

    @property
    def lost(self) -> int:
        return self.judged.lost

    @property
    def duplicates(self) -> int:
        return self.judged.duplicates

    @property
    def in_order(self) -> bool:
        return self.judged.ok

    def describe(self) -> str:
        return (
            f"{self.key}: lost={self.lost} duplicates={self.duplicates} "
            f"in_order={self.in_order}\n  sent:     {list(self.sent)}\n"
            f"  received: {list(self.received)}"
        )


def compare(
    slack: SlackWorld,
    genesys: GenesysWorld,
    *,
    to_genesys: Mapping[str, Sequence[str]] | None = None,
    to_slack: Mapping[tuple[str, str | None], Sequence[str]] | None = None,
) -> list[Verdict]:
    """What was sent against what arrived, per conversation, in both directions."""
    verdicts = [
        Verdict(f"genesys<-{from_id}", tuple(sent), tuple(genesys_texts(genesys, from_id)))
        for from_id, sent in (to_genesys or {}).items()
    ]
    verdicts += [
        Verdict(
            f"slack<-{channel}/{thread_ts}",
            tuple(sent),
            tuple(slack_texts(slack, channel, thread_ts)),
        )
        for (channel, thread_ts), sent in (to_slack or {}).items()
    ]
    return verdicts


def broken(verdicts: Sequence[Verdict]) -> str | None:
    failed = [v for v in verdicts if not v.in_order]
    if not failed:
        return None
    return "the bridge lost, duplicated or reordered messages:\n" + "\n".join(
        v.describe() for v in failed
    )


def assert_bridged(
    slack: SlackWorld,
    genesys: GenesysWorld,
    *,
    to_genesys: Mapping[str, Sequence[str]] | None = None,
    to_slack: Mapping[tuple[str, str | None], Sequence[str]] | None = None,
) -> list[Verdict]:
    """lost = 0, duplicates = 0 and order kept, per conversation, in both directions."""
    verdicts = compare(slack, genesys, to_genesys=to_genesys, to_slack=to_slack)
    problem = broken(verdicts)
    assert problem is None, problem
    return verdicts
