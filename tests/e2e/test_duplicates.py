"""Duplicates from either side: Slack retries an event (same `event_id`, `X-Slack-Retry-Num`)
and Genesys redelivers a webhook (same `id`). One message must come out on the other side.

The second test sends duplicates at the worst moment: while the worker records that the
original was delivered. A duplicate's ingest locks the conversation row (the upsert) and then
meets the original's row in the unique index; the worker has already updated that row and
next updates the conversation. Opposite lock orders, so Postgres breaks the cycle by killing
one of the two transactions; when it is the worker's, the message it just delivered stays
pending and is sent again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sandbox.faults import FaultSpec
from tests.e2e.ledger import assert_bridged, genesys_texts, hits, receipts, until_hit, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

HOLD_SECONDS = 1.0
# Duplicates start shortly before the held send returns and stop shortly after it lands.
STORM_LEAD_SECONDS = 0.15
STORM_TAIL_SECONDS = 0.4
STORM_SENDERS = 4
STORM_ROUNDS = 3


async def test_duplicates_from_either_side_are_bridged_once(bridge: System) -> None:
    """Slack retries an event (same `event_id`, `X-Slack-Retry-Num`), even while the first
    attempt is still in flight; Genesys delivers a webhook twice. One message each side."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Duplicates: hello once")
    delivered = bridge.slack.last_delivery
    assert delivered is not None
    late_retry = await slack.post(delivered.envelope, retry_num=1)
    dm_built = slack.dm_built(acme, "Duplicates: DM once", user="U0ACME0002")
    envelope = slack.envelope(dm_built)
    # The original and two retries racing each other, then a late retry.
    racing = await asyncio.gather(
        slack.post(envelope), slack.post(envelope, retry_num=1), slack.post(envelope, retry_num=2)
    )
    late = await slack.post(envelope, retry_num=3)
    assert [r.status_code for r in [late_retry, *racing, late]] == [200] * 5
    thread = thread_id(acme, acme.support_channel, root.ts)
    direct = dm_id(acme, "U0ACME0002")
    double = await agents.reply(acme.mentions_integration_id, thread, "Once", duplicate=True)
    assert [r.duplicate for r in double] == [False, True]
    assert [r.attempts[-1].status for r in double] == [200, 200]
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Duplicates: hello once"], direct: ["Duplicates: DM once"]},
        to_slack={(acme.support_channel, root.ts): ["Once"]},
    )
    assert [r["status"] for r in receipts(bridge.genesys, double[0].message_id)] == ["Delivered"]


async def storm(
    slack: SlackPeople, envelope: dict[str, Any], *, start_at: float, stop: asyncio.Event
) -> list[int]:
    """Re-post `envelope` as Slack's retries, back to back, from `start_at` until `stop`."""
    statuses: list[int] = []
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    while not stop.is_set():
        response = await slack.post(envelope, retry_num=len(statuses) % 3 + 1)
        statuses.append(response.status_code)
    return statuses


async def storm_round(system: System, slack: SlackPeople, envelope: dict[str, Any]) -> int:
    """Send once with Genesys holding the send; storm duplicates as it returns. Returns how
    many duplicates were refused."""
    text = str(envelope["event"]["text"])
    from_id = f"{envelope['team_id']}:{envelope['event']['user']}"
    faults = system.genesys.faults
    faults.arm(FaultSpec(route="inbound.message", kind="delay", delay=HOLD_SECONDS, times=1))
    before = hits(faults, "inbound.message")
    assert (await slack.post(envelope)).status_code == 200
    await until_hit(faults, "inbound.message", since=before, what="the send to be held")
    start_at = time.monotonic() + HOLD_SECONDS - STORM_LEAD_SECONDS
    stop = asyncio.Event()
    storms = [
        asyncio.create_task(storm(slack, envelope, start_at=start_at, stop=stop))
        for _ in range(STORM_SENDERS)
    ]
    await wait_until(
        lambda: text in genesys_texts(system.genesys, from_id), 10, what="the delivery"
    )
    await asyncio.sleep(STORM_TAIL_SECONDS)  # the storm's shape, not a wait for a condition
    stop.set()
    return sum(status != 200 for statuses in await asyncio.gather(*storms) for status in statuses)


async def test_duplicates_racing_the_delivery_bookkeeping_are_not_sent_twice(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    globex = bridge.globex.spec
    texts = [f"Storm {n}" for n in range(STORM_ROUNDS)]
    refused = 0
    for text in texts:
        envelope = slack.envelope(slack.dm_built(globex, text, user="U0GLBX0003"))
        refused += await storm_round(bridge, slack, envelope)
    await bridge.drain()

    direct = dm_id(globex, "U0GLBX0003")
    assert_bridged(bridge.slack, bridge.genesys, to_genesys={direct: texts})
    assert refused == 0, f"{refused} duplicates got a non-2xx (a deadlock in the web's ingest)"
