"""The end of a conversation, end to end. Open Messaging sends no end event, so the worker
reads the open conversations' participants through the Genesys Conversations API; when the
agent ends one (the simulated console's "End conversation"), the thread is told, the
conversation is marked ended, and the customer's next message opens a new Genesys
conversation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.bridge.end_chat import END_CHAT_ACTION
from sandbox.genesys_agent import Agent
from sandbox.genesys_world import PERMISSION_DISCONNECT, Conversation
from tests.e2e.ledger import slack_posts, slack_texts, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

CLOSED = "Support closed this conversation."
# The worker reads open conversations every couple of seconds in the tests (stack.py).
NOTICE_WITHIN = 30.0


def conversations_of(system: System, from_id: str) -> list[Conversation]:
    return [c for c in system.genesys.conversations.values() if c.external_id == from_id]


async def test_agent_ends_and_the_next_message_starts_a_new_conversation(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "My printer is on fire")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(acme.mentions_integration_id, thread, "Put it out first", agent_name="Dana")
    await bridge.drain()
    [first] = conversations_of(bridge, thread)

    Agent(bridge.genesys).end(first.id)

    def closed_once() -> bool:
        return slack_texts(bridge.slack, acme.support_channel, root.ts).count(CLOSED) == 1

    await wait_until(closed_once, NOTICE_WITHIN, what="the closed notice in the thread")
    async with bridge.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT ended_at IS NOT NULL, ended_genesys_conversation_id"
                    " FROM conversation WHERE conversation_key = :key"
                ),
                {"key": thread},
            )
        ).one()
    assert tuple(row) == (True, first.id)

    await slack.reply(acme, thread_ts=root.ts, text="It is back on fire")
    await bridge.drain()
    conversations = conversations_of(bridge, thread)
    assert len(conversations) == 2
    second = next(c for c in conversations if c.id != first.id)
    assert second.ended_at is None
    assert [m.text for m in second.messages if m.direction == "Inbound"] == ["It is back on fire"]
    async with bridge.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT genesys_conversation_id, ended_at FROM conversation"
                    " WHERE conversation_key = :key"
                ),
                {"key": thread},
            )
        ).one()
    assert tuple(row) == (second.id, None)

    # The agent answers in the new conversation, into the same thread; one notice only.
    await agents.reply(acme.mentions_integration_id, thread, "On my way", agent_name="Dana")
    await bridge.drain()
    texts = slack_texts(bridge.slack, acme.support_channel, root.ts)
    assert texts[-1] == "On my way"
    assert texts.count(CLOSED) == 1


async def test_an_ended_dm_is_told_too(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    await slack.dm(acme, "Quick question")
    from_id = f"{acme.slack_team_id}:{acme.customer}"
    await agents.reply(acme.dms_integration_id, from_id, "Ask away", agent_name="Lee")
    await bridge.drain()
    live = [c for c in conversations_of(bridge, from_id) if c.ended_at is None]
    assert len(live) == 1

    Agent(bridge.genesys).end(live[0].id)

    def closed() -> bool:
        return any(
            m.text == CLOSED and m.slack_team_id == acme.slack_team_id and m.thread_ts is None
            for channel, messages in bridge.slack.messages.items()
            if channel.startswith("D")
            for m in messages
        )

    await wait_until(closed, NOTICE_WITHIN, what="the closed notice in the DM")


def end_chat_buttons(system: System, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    return [
        element
        for post in slack_posts(system.slack, channel, thread_ts)
        for block in post.blocks or []
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id") == END_CHAT_ACTION
    ]


async def test_the_customer_ends_the_chat_with_the_button(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "End chat: I will close this myself")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(acme.mentions_integration_id, thread, "Here is your answer")
    await agents.reply(acme.mentions_integration_id, thread, "Anything else?")
    await bridge.drain()
    # Offered once per Genesys conversation, on the agent's first reply, under its words.
    [button] = end_chat_buttons(bridge, acme.support_channel, root.ts)
    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert [p.text for p in posts] == ["Here is your answer", "Anything else?"]
    assert "Here is your answer" in str(posts[0].blocks)
    [conversation] = conversations_of(bridge, thread)

    clicked = await slack.click(acme, posts[0], button, user=acme.customer)
    assert clicked.status_code == 200, clicked.text
    again = await slack.click(acme, posts[0], button, user=acme.customer)
    assert again.status_code == 200, again.text
    await bridge.drain()

    assert conversation.ended_at is not None
    assert all(p.state == "disconnected" for p in conversation.participants)
    await wait_until(
        lambda: slack_texts(bridge.slack, acme.support_channel, root.ts).count(CLOSED) == 1,
        NOTICE_WITHIN,
        what="the closed notice after End chat",
    )
    assert bridge.genesys.stats.api_calls.get("conversations.patch", 0) >= 1


async def test_without_the_disconnect_permission_no_button_is_offered(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    globex = bridge.globex.spec
    client = bridge.genesys.clients[globex.genesys_client_id]
    granted = client.permissions
    client.permissions = granted - {PERMISSION_DISCONNECT}
    try:
        root = await slack.mention(globex, "End chat: not for us")
        thread = thread_id(globex, globex.support_channel, root.ts)
        await agents.reply(globex.mentions_integration_id, thread, "Plain answer")
        await bridge.drain()
        assert slack_texts(bridge.slack, globex.support_channel, root.ts) == ["Plain answer"]
        assert end_chat_buttons(bridge, globex.support_channel, root.ts) == []
    finally:
        client.permissions = granted


async def test_if_genesys_reopens_the_ended_conversation_its_next_end_is_told_too(
    bridge: System,
) -> None:
    """UNCONFIRMED (external-contracts §G10): whether the customer's next message opens a new
    conversation (above) or reopens the ended one. Reopened, it is watched again."""
    bridge.genesys.config.ended_conversation_reopens = True
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Reopen: first question")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(acme.mentions_integration_id, thread, "Answered", agent_name="Dana")
    await bridge.drain()
    [conversation] = conversations_of(bridge, thread)

    def closed(times: int) -> bool:
        return slack_texts(bridge.slack, acme.support_channel, root.ts).count(CLOSED) == times

    Agent(bridge.genesys).end(conversation.id)
    await wait_until(lambda: closed(1), NOTICE_WITHIN, what="the first closed notice")
    await slack.reply(acme, thread_ts=root.ts, text="Reopen: one more thing")
    await bridge.drain()
    assert conversations_of(bridge, thread) == [conversation]
    assert conversation.ended_at is None
    async with bridge.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT genesys_conversation_id, ended_at, ended_genesys_conversation_id"
                    " FROM conversation WHERE conversation_key = :key"
                ),
                {"key": thread},
            )
        ).one()
    assert tuple(row) == (conversation.id, None, None)

    Agent(bridge.genesys).end(conversation.id)
    await wait_until(lambda: closed(2), NOTICE_WITHIN, what="the second closed notice")
