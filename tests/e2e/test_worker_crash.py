"""A worker killed with `kill -9` in the middle of a delivery, then a new worker.

The dead worker's claim on its conversation is an advisory lock held by its own database
connection (`app.bridge.dispatch`); the kernel closes that connection when the process dies,
Postgres releases the lock, and the new worker takes the conversation over at its next look
(about a second). Before claims, a queue job stayed "doing" until a heartbeat timeout and the
stuck conversation waited 26-42 s; the bound below would have failed that design. Other
conversations must flow meanwhile.

The request the dead worker had in flight still reached Genesys, so delivery is
at-least-once: the message is sent again, with the same `channel.messageId`. Whether real
Genesys drops a repeated `messageId` is UNCONFIRMED (external-contracts §G7); the simulator is
switched to do so here, and "nothing duplicated" is checked where the agent would see it,
in the Genesys conversation. The raw resend is counted too, and must be the only one.
"""

from __future__ import annotations

import time

import pytest

from sandbox.faults import FaultSpec
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import GenesysWorld
from tests.e2e.ledger import accepted, genesys_texts, hits, slack_texts, until_hit, wait_until
from tests.e2e.stack import GENESYS_TIME_SCALE, System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

HOLD_SECONDS = 1.5
# A new worker (a few seconds to start) plus its next look (1 s), with room to spare.
RECOVERY_TIMEOUT_SECONDS = 20.0


def conversation_texts(world: GenesysWorld, integration_id: str, external_id: str) -> list[str]:
    """What the agent sees: the customer's messages in the Genesys conversation."""
    [conversation] = [
        c
        for c in world.conversations.values()
        if c.integration_id == integration_id and c.external_id == external_id
    ]
    return [m.text or "" for m in conversation.messages if m.direction == "Inbound"]


async def test_a_worker_killed_mid_delivery_loses_nothing_and_duplicates_nothing(
    bridge: System, request: pytest.FixtureRequest
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    formation = bridge.formation
    for extra in formation.workers[1:]:
        extra.stop()
    [victim] = formation.workers
    bridge.genesys.config = GenesysConfig(
        time_scale=GENESYS_TIME_SCALE, dedupe_inbound_message_id=True
    )
    faults = bridge.genesys.faults
    faults.arm(FaultSpec(route="inbound.message", kind="delay", delay=HOLD_SECONDS, times=1))
    before = hits(faults, "inbound.message")
    root = await slack.mention(acme, "Crash: in flight when the worker dies")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await until_hit(faults, "inbound.message", since=before, what="the delivery to be in flight")
    assert genesys_texts(bridge.genesys, thread) == [], "the hold ended before the kill"
    victim.kill()
    killed_at = time.monotonic()

    # With no worker at all, the web keeps accepting: one more for the stuck conversation,
    # and an agent message for another conversation.
    await slack.reply(acme, thread_ts=root.ts, text="Crash: sent while no worker ran")
    direct = dm_id(acme, acme.customer)
    dm_channel = bridge.slack.open_dm(acme.slack_team_id, acme.customer).slack_channel_id
    dm_before = len(slack_texts(bridge.slack, dm_channel, None))
    await agents.reply(acme.dms_integration_id, direct, "Crash: another conversation")
    await formation.add("worker")

    other_flowed = await wait_until(
        lambda: len(slack_texts(bridge.slack, dm_channel, None)) > dm_before,
        20,
        what="another conversation to flow while the dead worker's job is stuck",
    )
    await bridge.drain(within=RECOVERY_TIMEOUT_SECONDS)
    recovered = time.monotonic() - killed_at
    request.node.user_properties.append(("recovered_after_s", round(recovered, 1)))
    assert other_flowed < 15, "the other conversation waited for the stalled one"

    expected = ["Crash: in flight when the worker dies", "Crash: sent while no worker ran"]
    assert conversation_texts(bridge.genesys, acme.mentions_integration_id, thread) == expected
    sends = [r for r in accepted(bridge.genesys) if r.body["channel"]["from"]["id"] == thread]
    first = [r for r in sends if r.body["text"] == expected[0]]
    request.node.user_properties.append(("sends_of_the_message_in_flight", len(first)))
    assert 1 <= len(first) <= 2, "at-least-once means one resend at most"
    assert len({r.body["channel"]["messageId"] for r in first}) == 1
    assert [r.body["text"] for r in sends][-2:] == expected, "a resend came out of order"
    assert slack_texts(bridge.slack, dm_channel, None)[dm_before:] == [
        "Crash: another conversation"
    ]
