"""What the agent is told besides the customer's words, end to end: the earlier messages of a
Slack thread the app is first asked in (one context message, before the mention), other
people's `<@U…>` mentions as their names, and an agent's typing indicator, which Slack cannot
show for a bot, accepted and dropped."""

from __future__ import annotations

from sandbox.slack_payloads import build_channel_message
from tests.e2e.ledger import genesys_texts, slack_texts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

ADA, GRACE = "U0ACME0001", "U0ACME0002"


def replies_calls(system: System) -> int:
    return sum(1 for call in system.slack.calls if call.method == "conversations.replies")


async def test_a_mention_inside_a_thread_sends_the_thread_first(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    channel = acme.support_channel
    root = build_channel_message(
        bridge.slack,
        slack_team_id=acme.slack_team_id,
        slack_channel_id=channel,
        slack_user_id=ADA,
        text="Is the VPN down for anyone?",
    )
    await slack.send(root)
    assert root.message is not None
    reply = build_channel_message(
        bridge.slack,
        slack_team_id=acme.slack_team_id,
        slack_channel_id=channel,
        slack_user_id=GRACE,
        text=f"Same here since 9am, <@{ADA}> &amp; me",
        thread_ts=root.message.ts,
    )
    await slack.send(reply)
    calls_before = replies_calls(bridge)

    await slack.mention(acme, "Can support look at this?", thread_ts=root.message.ts)
    await bridge.drain()

    assert genesys_texts(bridge.genesys, thread_id(acme, channel, root.message.ts)) == [
        "Earlier in this Slack thread:\n"
        "ada: Is the VPN down for anyone?\n"
        "grace: Same here since 9am, @ada & me",
        "Can support look at this?",
    ]
    assert replies_calls(bridge) - calls_before == 1


async def test_a_mention_starting_a_thread_has_no_context(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    calls_before = replies_calls(bridge)
    root = await slack.mention(acme, "A fresh question")
    await slack.reply(acme, thread_ts=root.ts, text="And a follow-up")
    await bridge.drain()
    assert genesys_texts(bridge.genesys, thread_id(acme, acme.support_channel, root.ts)) == [
        "A fresh question",
        "And a follow-up",
    ]
    assert replies_calls(bridge) == calls_before


async def test_other_people_mentioned_reach_the_agent_by_name(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, f"Please loop in <@{GRACE}> on this")
    await bridge.drain()
    assert genesys_texts(bridge.genesys, thread_id(acme, acme.support_channel, root.ts)) == [
        "Please loop in @grace on this"
    ]


async def test_agent_typing_is_accepted_and_not_shown(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Anyone there?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    reports = await agents.reply(acme.mentions_integration_id, thread, "", kind="typing")
    assert [r.outcome for r in reports] == ["delivered"]
    assert [a.status for a in reports[0].attempts] == [200]
    await agents.reply(acme.mentions_integration_id, thread, "Yes, here")
    await bridge.drain()
    assert slack_texts(bridge.slack, acme.support_channel, root.ts) == ["Yes, here"]
