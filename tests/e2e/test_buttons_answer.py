"""Buttons that answer: a click, a date or a list choice goes back to Genesys once, from the
person in the conversation, and the agent's message then says what was chosen, without its
buttons. Anyone else is told privately, and nothing reaches Genesys. Content Slack cannot show
is shown as text and the agent gets a Failed receipt saying why.
"""

from __future__ import annotations

from typing import Any

import pytest

from devkit.harness.tenants import TenantSpec
from sandbox.faults import FaultSpec
from sandbox.genesys_records import DeliveryReport
from sandbox.slack_actions import Choice
from sandbox.slack_records import SlackMessage
from tests.e2e.ledger import accepted, hits, receipts, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id


def elements(message: SlackMessage, kind: str | None = None) -> list[dict[str, Any]]:
    found = [
        element
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
    ]
    return [e for e in found if kind is None or e.get("type") == kind]


def answers(system: System, from_id: str) -> list[dict[str, Any]]:
    return [
        r.body
        for r in accepted(system.genesys, "structured")
        if r.body["channel"]["from"]["id"] == from_id
    ]


async def offered(
    system: System, spec: TenantSpec, text: str, *, kind: str, options: list[str] | None = None
) -> tuple[SlackMessage, str, str, DeliveryReport]:
    """A customer's question in a thread, and the agent's answer offering choices."""
    slack, agents = SlackPeople(system), Agents(system)
    root = await slack.mention(spec, f"Choices: {text}")
    thread = thread_id(spec, spec.support_channel, root.ts)
    await system.drain()
    [report] = await agents.reply(
        spec.mentions_integration_id, thread, text, kind=kind, quick_replies=options
    )
    await system.drain()
    [posted] = slack_posts(system.slack, spec.support_channel, root.ts)
    return posted, thread, root.ts, report


def shown(system: System, message: SlackMessage) -> SlackMessage:
    found = system.slack.find_message(message.slack_channel_id, message.ts)
    assert found is not None
    return found


async def test_a_click_updates_the_message_and_removes_its_buttons(bridge: System) -> None:
    acme = bridge.acme.spec
    posted, thread, _, report = await offered(
        bridge, acme, "Did that help?", kind="quick_replies", options=["Yes, thanks", "No"]
    )
    buttons = elements(posted, "button")
    assert [b["text"]["text"] for b in buttons] == ["Yes, thanks", "No"]

    clicked = await SlackPeople(bridge).act(acme, posted, buttons[0], user=acme.customer)
    assert clicked.status_code == 200, clicked.text
    await bridge.drain()

    [answer] = answers(bridge, thread)
    assert answer["originatingMessageId"] == report.message_id
    assert answer["buttonResponse"]["payload"] == "Yes, thanks"
    now = shown(bridge, posted)
    assert elements(now) == [], "the buttons are gone"
    assert "Did that help?" in str(now.blocks)
    assert f"<@{acme.customer}> chose *Yes, thanks*" in str(now.blocks)
    assert now.edited is not None


async def test_someone_else_gets_an_ephemeral_note_and_nothing_is_forwarded(
    bridge: System,
) -> None:
    acme = bridge.acme.spec
    posted, thread, root_ts, _ = await offered(
        bridge, acme, "Shall I refund?", kind="quick_replies", options=["Yes", "No"]
    )
    bystander = acme.installer
    clicked = await SlackPeople(bridge).act(
        acme, posted, elements(posted, "button")[0], user=bystander
    )
    assert clicked.status_code == 200, clicked.text
    await bridge.drain()

    assert answers(bridge, thread) == []
    assert len(elements(shown(bridge, posted), "button")) == 2, "the buttons stay"
    notes = [
        m
        for m in bridge.slack.bot_messages(acme.support_channel)
        if m.ephemeral_to == bystander and m.thread_ts == root_ts
    ]
    assert len(notes) == 1
    assert "Only the person" in notes[0].text


async def test_a_date_picked_reaches_genesys_and_updates_the_message(bridge: System) -> None:
    acme = bridge.acme.spec
    posted, thread, _, report = await offered(
        bridge, acme, "Pick a day for a call", kind="date_picker"
    )
    [picker] = elements(posted, "datepicker")
    day = str(picker["initial_date"])

    picked = await SlackPeople(bridge).act(
        acme, posted, picker, user=acme.customer, choice=Choice(date=day)
    )
    assert picked.status_code == 200, picked.text
    await bridge.drain()

    [answer] = answers(bridge, thread)
    assert answer["originatingMessageId"] == report.message_id
    response = answer["buttonResponse"]
    assert response["type"] == "DatePicker"
    assert response["payload"].startswith(day), response
    now = shown(bridge, posted)
    assert elements(now) == []
    assert "chose" in str(now.blocks) and day in str(now.blocks)


async def test_a_list_choice_reaches_genesys_and_updates_the_message(bridge: System) -> None:
    acme = bridge.acme.spec
    posted, thread, _, report = await offered(
        bridge, acme, "Which plan?", kind="list_picker", options=["Basic", "Pro", "Team"]
    )
    [select] = elements(posted, "static_select")
    assert [o["text"]["text"] for o in select["options"]] == ["Basic", "Pro", "Team"]

    picked = await SlackPeople(bridge).act(
        acme, posted, select, user=acme.customer, choice=Choice(option=1)
    )
    assert picked.status_code == 200, picked.text
    await bridge.drain()

    [answer] = answers(bridge, thread)
    assert answer["originatingMessageId"] == report.message_id
    assert answer["buttonResponse"] == {"type": "Button", "text": "Pro", "payload": "item-2"}
    now = shown(bridge, posted)
    assert elements(now) == []
    assert f"<@{acme.customer}> chose *Pro*" in str(now.blocks)


@pytest.mark.parametrize("content_type", ["QuickReplyV2", "Location"])
async def test_unsupported_content_shows_its_text_and_the_agent_gets_a_failed_receipt(
    bridge: System, content_type: str
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, f"Unsupported {content_type}: hello")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    payload = agents.prepare(acme.mentions_integration_id, thread, f"Here is a {content_type}")
    payload["type"] = "Structured"
    inner = {"title": f"The {content_type}'s own title", "options": [{"text": "deep"}]}
    payload["content"] = [{"contentType": content_type, content_type[0].lower() + "x": inner}]
    report = await agents.push(payload)
    await bridge.drain()

    assert report.outcome == "delivered"
    [posted] = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert f"Here is a {content_type}" in posted.text
    assert f"The {content_type}'s own title" in posted.text
    assert "cannot be shown" in str(posted.blocks)
    [receipt] = receipts(bridge.genesys, report.message_id)
    assert receipt["status"] == "Failed", receipt
    reasons: Any = receipt["reasons"]
    [reason] = reasons
    assert reason["code"] == "UnsupportedMessage"
    assert content_type in reason["message"]


async def test_in_a_dm_the_update_is_retried_through_429_and_5xx(bridge: System) -> None:
    """The rewrite rides the conversation's queue: Slack's 429 (Retry-After) and 503 on
    `chat.update` are retried, and the answer still reaches Genesys once."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    asked = await slack.dm(acme, "Buttons in a DM: can you help?")
    direct = dm_id(acme, acme.customer)
    await bridge.drain()
    [report] = await agents.reply(
        acme.dms_integration_id,
        direct,
        "Solved?",
        kind="quick_replies",
        quick_replies=["Yes", "No"],
    )
    await bridge.drain()
    [posted] = slack_posts(bridge.slack, asked.slack_channel_id, None)
    bridge.slack.faults.arm(
        FaultSpec(route="chat.update", kind="rate_limit", retry_after=1.0, times=1)
    )
    bridge.slack.faults.arm(FaultSpec(route="chat.update", kind="status", status=503, times=1))
    before = hits(bridge.slack.faults, "chat.update")

    clicked = await slack.act(acme, posted, elements(posted, "button")[1], user=acme.customer)
    assert clicked.status_code == 200, clicked.text
    await bridge.drain()

    assert hits(bridge.slack.faults, "chat.update") - before == 2
    [answer] = answers(bridge, direct)
    assert answer["originatingMessageId"] == report.message_id
    assert answer["buttonResponse"]["payload"] == "No"
    now = shown(bridge, posted)
    assert elements(now) == []
    assert f"<@{acme.customer}> chose *No*" in str(now.blocks)
