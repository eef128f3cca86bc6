"""Permanent failures: the message becomes a dead letter and the other side is told.

A Genesys 400 on a customer's message leaves a notice in the Slack thread; a Slack
`is_archived` or `channel_not_found` on an agent's message sends Genesys a Failed receipt
with a reason code, which is what the agent sees. The conversation keeps flowing after.
"""

from __future__ import annotations

from sqlalchemy import select

from app.bridge.notices import NOT_DELIVERED_NOTICE
from app.db.models import BridgeMessage
from sandbox.faults import FaultSpec
from tests.e2e.ledger import assert_bridged, receipts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id


async def dead_letters(system: System) -> list[tuple[str, str | None]]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(BridgeMessage.dedupe_key, BridgeMessage.last_error).where(
                BridgeMessage.status == "dead"
            )
        )
        return [(key, error) for key, error in rows]


async def test_a_message_genesys_refuses_is_dead_lettered_with_a_notice_in_the_thread(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=1)
    )
    root = await slack.mention(acme, "Refused: this one bounces")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    await slack.reply(acme, thread_ts=root.ts, text="Refused: this one goes through")
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Refused: this one goes through"]},
        to_slack={(acme.support_channel, root.ts): [NOT_DELIVERED_NOTICE]},
    )
    refused = [r for r in bridge.genesys.inbound if r.status == 400]
    assert len(refused) == 1, "a 400 must not be retried"
    dead = dict(await dead_letters(bridge))
    assert dead[f"{acme.slack_team_id}:{acme.support_channel}:{root.ts}"] == "GenesysRejected:400"


async def test_an_agent_message_slack_cannot_post_gets_a_failed_receipt(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    general = "C0ACMEGENL"
    root = await slack.mention(acme, "Archived: before the archive", channel=general)
    thread = thread_id(acme, general, root.ts)
    await bridge.drain()
    bridge.slack.channels[general].is_archived = True
    archived = await agents.reply(acme.mentions_integration_id, thread, "Into the archive")
    nowhere = await agents.reply(
        acme.mentions_integration_id,
        thread_id(acme, "C0NOSUCHCH", "1700000000.000100"),
        "Into no channel",
    )
    await bridge.drain()

    assert_bridged(bridge.slack, bridge.genesys, to_slack={(general, root.ts): []})
    for report, slack_error in ((archived[0], "is_archived"), (nowhere[0], "channel_not_found")):
        [receipt] = receipts(bridge.genesys, report.message_id)
        assert receipt["status"] == "Failed"
        assert receipt["reasons"] == [
            {"code": "InvalidDestination", "message": f"Slack API error: {slack_error}"}
        ]
        # The Genesys side recorded it against the agent's message: that is what the agent sees.
        conversation = next(
            c for c in bridge.genesys.conversations.values() if c.find(report.message_id)
        )
        message = conversation.find(report.message_id)
        assert message is not None
        assert [r["status"] for r in message.receipts] == ["Failed"]
    dead = dict(await dead_letters(bridge))
    assert dead[archived[0].message_id] == "slack:is_archived"
    assert dead[nowhere[0].message_id] == "slack:channel_not_found"
