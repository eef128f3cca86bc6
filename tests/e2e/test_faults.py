"""Transient failures from either side: 429 with Retry-After, 5xx and timeouts are retried, no
sooner than the server asked, and a conversation that waits never holds up another one."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

from sandbox.faults import FaultSpec
from sandbox.slack_records import RecordedCall
from tests.e2e.ledger import assert_bridged, hits, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

RETRY_AFTER_SECONDS = 1.0


def _fault_sequence(route: str) -> list[FaultSpec]:
    """One of each, in this order: 429 with Retry-After, 5xx, then a hang past the timeout."""
    return [
        FaultSpec(route=route, kind="rate_limit", retry_after=RETRY_AFTER_SECONDS, times=1),
        FaultSpec(route=route, kind="status", status=503, times=1),
        FaultSpec(route=route, kind="timeout", times=1),
    ]


def _genesys_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _posts_to(calls: list[RecordedCall], channel: str) -> list[RecordedCall]:
    return [
        c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == channel
    ]


async def test_429_5xx_and_timeouts_from_both_sides_are_retried_in_order(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Faults: the customer's side")
    await bridge.drain()
    dm = bridge.slack.open_dm(acme.slack_team_id, "U0ACME0002")
    for spec in _fault_sequence("inbound.message"):
        bridge.genesys.faults.arm(spec)
    for spec in _fault_sequence("chat.postMessage"):
        bridge.slack.faults.arm(spec)
    slack_hits = hits(bridge.slack.faults, "chat.postMessage")
    thread = thread_id(acme, acme.support_channel, root.ts)
    direct = dm_id(acme, "U0ACME0002")

    # The customer writes twice in a thread, an agent twice in a DM, at the same time.
    async def customer() -> None:
        for n in (1, 2):
            await slack.reply(acme, thread_ts=root.ts, text=f"Faults: customer {n}")

    async def agent() -> None:
        for n in (1, 2):
            await agents.reply(acme.dms_integration_id, direct, f"Faults: agent {n}")

    await asyncio.gather(customer(), agent())
    await bridge.drain(within=90)

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={
            thread: ["Faults: the customer's side", "Faults: customer 1", "Faults: customer 2"]
        },
        to_slack={(dm.slack_channel_id, None): ["Faults: agent 1", "Faults: agent 2"]},
    )
    # Every fault was met, and the retry after the 429 waited for Retry-After.
    genesys_calls = [r for r in bridge.genesys.inbound if r.endpoint == "message"]
    statuses = [r.status for r in genesys_calls if r.body["channel"]["from"]["id"] == thread]
    assert statuses[1:4] == [429, 503, 504], statuses
    limited = next(i for i, r in enumerate(genesys_calls) if r.status == 429)
    waited = _genesys_time(genesys_calls[limited + 1].at) - _genesys_time(genesys_calls[limited].at)
    assert waited >= RETRY_AFTER_SECONDS - 0.05, waited
    posts = _posts_to(bridge.slack.calls, dm.slack_channel_id)
    assert [c.status for c in posts][:2] == [429, 503], [c.status for c in posts]
    assert posts[1].at - posts[0].at >= RETRY_AFTER_SECONDS - 0.05
    assert hits(bridge.slack.faults, "chat.postMessage") - slack_hits == 3


async def test_a_rate_limited_channel_does_not_stall_other_conversations(bridge: System) -> None:
    """Slack allows one post per channel per 2 s here; four agent messages go out at once, two
    of them to the same thread. The second one there is refused with 429 and waits; the
    messages of the other conversations, sent after it, arrive before it."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    busy_root = await slack.mention(acme, "Rate: the busy thread")
    other_root = await slack.mention(acme, "Rate: another channel", channel="C0ACMEGENL")
    await slack.dm(acme, "Rate: a DM", user="U0ACME0001")
    await bridge.drain()
    busy = thread_id(acme, acme.support_channel, busy_root.ts)
    other = thread_id(acme, "C0ACMEGENL", other_root.ts)
    direct = dm_id(acme, "U0ACME0001")
    dm_channel = bridge.slack.open_dm(acme.slack_team_id, "U0ACME0001").slack_channel_id
    bridge.slack.post_rate_per_channel = 0.5
    # No burst: the second post to the busy thread must be the one refused.
    bridge.slack.post_burst = 1

    for integration, to_id, text in (
        (acme.mentions_integration_id, busy, "Rate: busy 1"),
        (acme.mentions_integration_id, busy, "Rate: busy 2"),
        (acme.mentions_integration_id, other, "Rate: other"),
        (acme.dms_integration_id, direct, "Rate: direct"),
    ):
        await agents.reply(integration, to_id, text)
    await bridge.drain(within=60)

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_slack={
            (acme.support_channel, busy_root.ts): ["Rate: busy 1", "Rate: busy 2"],
            ("C0ACMEGENL", other_root.ts): ["Rate: other"],
            (dm_channel, None): ["Rate: direct"],
        },
    )
    refused = [c for c in _posts_to(bridge.slack.calls, acme.support_channel) if c.status == 429]
    assert refused, "the per-channel limit never refused a post: nothing was measured"
    [second] = [
        m
        for m in slack_posts(bridge.slack, acme.support_channel, busy_root.ts)
        if m.text == "Rate: busy 2"
    ]
    for channel, thread_ts in (("C0ACMEGENL", other_root.ts), (dm_channel, None)):
        [arrived] = slack_posts(bridge.slack, channel, thread_ts)
        assert float(arrived.ts) < float(second.ts), f"{channel} waited behind the busy channel"
    # After each 429 the busy channel was left alone for at least its Retry-After.
    calls = _posts_to(bridge.slack.calls, acme.support_channel)
    for before, after in itertools.pairwise(calls):
        if before.status == 429:
            assert after.at - before.at >= 2.0 - 0.05
