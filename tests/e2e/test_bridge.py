"""The bridge end to end, through the real web and worker processes: both directions, two
tenants kept apart, and an agent's quick-reply button clicked in Slack."""

from __future__ import annotations

import asyncio
import json

from app.bridge.inbound import DELETE_NOTE, EDIT_PREFIX
from app.signing import genesys_signature
from sandbox.genesys_webhook import to_body
from tests.e2e.ledger import accepted, assert_bridged, receipts, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id


async def test_both_directions_in_a_thread_and_a_dm(bridge: System) -> None:
    """A mention opens a conversation; a plain reply in that thread (no mention) joins it; an
    edit arrives marked and a delete as a note. A DM is a conversation of its own. Agents
    answer both, each Slack post is confirmed to Genesys with a Delivered receipt."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "My order never arrived")
    reply = await slack.reply(acme, thread_ts=root.ts, text="Order 1234, placed Monday")
    await slack.edit(reply, "Order 1235, placed Monday")
    await slack.delete(reply)
    dm = await slack.dm(acme, "Can I change my address?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    direct = dm_id(acme, acme.customer)
    in_thread = await agents.reply(acme.mentions_integration_id, thread, "Sorry, let me check")
    in_dm = await agents.reply(acme.dms_integration_id, direct, "Sure, which one?")
    assert [r.outcome for r in in_thread + in_dm] == ["delivered", "delivered"]
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={
            thread: [
                "My order never arrived",
                "Order 1234, placed Monday",
                EDIT_PREFIX + "Order 1235, placed Monday",
                DELETE_NOTE,
            ],
            direct: ["Can I change my address?"],
        },
        to_slack={
            (acme.support_channel, root.ts): ["Sorry, let me check"],
            (dm.slack_channel_id, None): ["Sure, which one?"],
        },
    )
    routed = {r.body["channel"]["from"]["id"]: r.integration_id for r in accepted(bridge.genesys)}
    assert routed[thread] == acme.mentions_integration_id
    assert routed[direct] == acme.dms_integration_id
    for report in in_thread + in_dm:
        assert [r["status"] for r in receipts(bridge.genesys, report.message_id)] == ["Delivered"]
    assert "white_check_mark" in root.reactions


async def test_two_tenants_side_by_side_and_a_secret_opens_only_its_own_tenant(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme, globex = bridge.acme.spec, bridge.globex.spec
    acme_root, globex_root = await asyncio.gather(
        slack.mention(acme, "Acme: the printer is on fire"),
        slack.mention(globex, "Globex: the reactor hums"),
    )
    globex_dm = await slack.dm(globex, "Globex: a private question")
    acme_thread = thread_id(acme, acme.support_channel, acme_root.ts)
    globex_thread = thread_id(globex, globex.support_channel, globex_root.ts)
    globex_direct = dm_id(globex, globex.customer)
    await asyncio.gather(
        agents.reply(acme.mentions_integration_id, acme_thread, "Acme agent: on it"),
        agents.reply(globex.mentions_integration_id, globex_thread, "Globex agent: on it"),
        agents.reply(globex.dms_integration_id, globex_direct, "Globex agent: ask away"),
    )

    # Acme's webhook secret on a body naming Globex's integration: refused, nothing stored.
    forged = agents.prepare(globex.mentions_integration_id, globex_thread, "forged by Acme")
    body = to_body(forged)
    signature = genesys_signature(bridge.webhook_secret(acme.mentions_integration_id), body)
    refused = await bridge.http.post(
        f"{bridge.app_url}/genesys/webhook",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    assert refused.status_code == 401
    # An agent of Acme, properly signed by Acme, addressing a Globex conversation: accepted
    # (a non-2xx would fail the agent's chat) but never posted in Globex's Slack.
    crossing = await agents.reply(acme.mentions_integration_id, globex_thread, "Acme crossing")
    assert crossing[0].outcome == "delivered"
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={
            acme_thread: ["Acme: the printer is on fire"],
            globex_thread: ["Globex: the reactor hums"],
            globex_direct: ["Globex: a private question"],
        },
        to_slack={
            (acme.support_channel, acme_root.ts): ["Acme agent: on it"],
            (globex.support_channel, globex_root.ts): ["Globex agent: on it"],
            (globex_dm.slack_channel_id, None): ["Globex agent: ask away"],
        },
    )
    everything_posted = [m.text for m in bridge.slack.bot_messages()]
    assert not {"forged by Acme", "Acme crossing"} & set(everything_posted)
    # Each tenant reached Genesys with its own OAuth client, on its own integration.
    for record in accepted(bridge.genesys):
        from_id = record.body["channel"]["from"]["id"]
        if from_id.startswith(globex.slack_team_id):
            assert record.client_id == globex.genesys_client_id
            assert record.integration_id == globex.mentions_integration_id
        else:
            assert record.client_id == acme.genesys_client_id


async def test_a_quick_reply_click_goes_back_as_a_structured_response(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Buttons: is there a refund?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    offer = await agents.reply(
        acme.mentions_integration_id,
        thread,
        "Did that answer your question?",
        kind="quick_replies",
        quick_replies=["Yes, thanks", "No"],
    )
    await bridge.drain()
    [posted] = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert posted.blocks is not None
    buttons = [
        element
        for block in posted.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert [b["text"]["text"] for b in buttons] == ["Yes, thanks", "No"]
    clicked = await slack.click(acme, posted, buttons[0], user=acme.customer)
    assert clicked.status_code == 200, clicked.text
    await bridge.drain()

    [answer] = [
        r
        for r in accepted(bridge.genesys, "structured")
        if r.body["channel"]["from"]["id"] == thread
    ]
    assert answer.integration_id == acme.mentions_integration_id
    assert answer.body["originatingMessageId"] == offer[0].message_id
    assert answer.body["buttonResponse"] == {
        "type": "QuickReply",
        "text": "Yes, thanks",
        "payload": "Yes, thanks",
    }
    value = json.loads(buttons[0]["value"])
    assert value["m"] == offer[0].message_id
