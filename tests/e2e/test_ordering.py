"""Out-of-order arrival, from both sides.

What the bridge guarantees, per conversation: messages that are **pending together** are
delivered in `(source time, arrival)` order, where the source time is the Slack `ts` (of the
edit or delete, for those) or the agent message's `channel.time`, and ties go by arrival.
One conversation is flushed by one job at a time, so a message that arrives while an
earlier one is still being sent waits and is then sorted in. It does **not** hold messages
back for stragglers: one that arrives after a later message has already been delivered is
delivered on arrival, after it. Slack retries and Genesys redeliveries in the mix are
dropped as duplicates, wherever they fall.

To make messages pend together without touching the app, the conversation's first message
is held at the far side (a `delay` fault of 1.5 s) while the shuffled ones arrive.
"""

from __future__ import annotations

from sandbox.faults import FaultSpec
from sandbox.genesys_world import to_iso
from tests.e2e.ledger import assert_bridged, genesys_texts, hits, until_hit
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

HOLD_SECONDS = 1.5


async def test_slack_events_shuffled_with_retries_reach_genesys_in_slack_order(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    faults = bridge.genesys.faults
    faults.arm(FaultSpec(route="inbound.message", kind="delay", delay=HOLD_SECONDS, times=1))
    before = hits(faults, "inbound.message")
    root = await slack.mention(acme, "Order: first")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await until_hit(
        faults, "inbound.message", since=before, what="the first message to be held at Genesys"
    )
    # Three replies typed in this order, so their ts increase...
    built = [
        slack.thread_reply(acme, thread_ts=root.ts, text=f"Order: reply {n}") for n in (1, 2, 3)
    ]
    one, two, three = (slack.envelope(b) for b in built)
    # ...and delivered shuffled: 3 first, 1 only as Slack's retry (its first attempt was
    # "lost"), 2 twice (original, then a retry after our ack "timed out").
    for envelope, retry_num in ((three, None), (one, 1), (two, None), (two, 2)):
        response = await slack.post(envelope, retry_num=retry_num)
        assert response.status_code == 200
    assert genesys_texts(bridge.genesys, thread) == [], "the hold ended before the shuffle"
    await bridge.drain()
    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Order: first", "Order: reply 1", "Order: reply 2", "Order: reply 3"]},
    )

    # Not pending together: the newer message is delivered before the older one arrives,
    # so the older one follows it. The bridge does not wait for stragglers.
    older, newer = (
        slack.thread_reply(acme, thread_ts=root.ts, text=f"Order: straggler {n}") for n in (4, 5)
    )
    await slack.send(newer)
    await bridge.drain()
    await slack.send(older)
    await bridge.drain()
    assert genesys_texts(bridge.genesys, thread)[-2:] == [
        "Order: straggler 5",
        "Order: straggler 4",
    ]


async def test_agent_messages_arriving_out_of_order_reach_slack_in_genesys_time_order(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Order: agent side")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    faults = bridge.slack.faults
    faults.arm(FaultSpec(route="chat.postMessage", kind="delay", delay=HOLD_SECONDS, times=1))
    before = hits(faults, "chat.postMessage")
    first = agents.prepare(acme.mentions_integration_id, thread, "Agent: 0")
    assert (await agents.push(first)).outcome == "delivered"
    await until_hit(
        faults, "chat.postMessage", since=before, what="the first agent message to be held"
    )
    later = [agents.prepare(acme.mentions_integration_id, thread, f"Agent: {n}") for n in (1, 2, 3)]
    base = bridge.genesys.now()
    for n, payload in enumerate(later, start=1):
        payload["channel"]["time"] = to_iso(base + n * 0.01)
    # Webhooks arrive 3, 1, 2, and 1 again (a Genesys redelivery).
    pushed = [await agents.push(later[i]) for i in (2, 0, 1, 0)]
    assert [p.outcome for p in pushed] == ["delivered"] * 4
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_slack={
            (acme.support_channel, root.ts): ["Agent: 0", "Agent: 1", "Agent: 2", "Agent: 3"]
        },
    )
