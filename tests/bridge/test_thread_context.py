"""The thread-context message and the end-of-conversation rule, as pure functions."""

from __future__ import annotations

from app.bridge.end_chat import END_CHAT_ACTION, with_end_chat
from app.bridge.thread_context import (
    CONTEXT_MESSAGES,
    MORE_NOTE,
    authors,
    context_mrkdwn,
    mentioned_user_ids,
)
from app.genesys.conversations import state_of
from app.slack.directory import ThreadMessage


def test_mentioned_ids_in_order_once() -> None:
    texts = ["<@U0AAA1> and <@W0BBB2|bob> then <@U0AAA1>", "<#C0CCC1> <@U0DDD3>"]
    assert mentioned_user_ids(texts) == ["U0AAA1", "W0BBB2", "U0DDD3"]


def test_context_names_authors_skips_own_bot_and_empty() -> None:
    messages = [
        ThreadMessage(ts="1.1", text="Is it down?", slack_user_id="U1"),
        ThreadMessage(ts="1.2", text="deploying", bot_id="B9", username="Deploybot"),
        ThreadMessage(ts="1.3", text="our own", bot_id="BOURS"),
        ThreadMessage(ts="1.4", text="  ", slack_user_id="U2"),
        ThreadMessage(ts="1.5", text="ask <@U0DDD3>", slack_user_id="U<2>"),
    ]
    assert authors(messages) == ["U1", "U2", "U<2>", "U0DDD3"]
    text = context_mrkdwn(
        messages, names={"U1": "ada", "U<2>": "a<b"}, own_bot_id="BOURS", has_more=False
    )
    assert text == (
        "Earlier in this Slack thread:\nada: Is it down?\nDeploybot: deploying\n"
        "a&lt;b: ask <@U0DDD3>"
    )


def test_context_caps_and_says_more_exists() -> None:
    many = [ThreadMessage(ts=f"1.{n}", text=f"m{n}", slack_user_id="U1") for n in range(20)]
    text = context_mrkdwn(many, names={}, own_bot_id=None, has_more=False)
    assert text is not None
    lines = text.splitlines()
    assert len(lines) == 1 + CONTEXT_MESSAGES + 1
    assert lines[-1] == MORE_NOTE
    assert context_mrkdwn([], names={}, own_bot_id=None, has_more=True) is None


def test_state_of_a_conversation() -> None:
    customer = {"purpose": "customer", "state": "connected"}
    agent_gone = {"purpose": "agent", "state": "disconnected"}
    assert state_of({"participants": [customer, agent_gone]}) == "open"
    assert state_of({"participants": [{**customer, "state": "disconnected"}]}) == "ended"
    assert state_of({"endTime": "2026-12-03T10:00:00Z", "participants": [customer]}) == "ended"
    assert state_of({}) == "open"


def test_end_chat_goes_under_words_not_under_choices() -> None:
    plain = with_end_chat("Here you go", None, "gc-1")
    assert plain is not None
    assert plain[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "Here you go"}}
    assert plain[-1]["elements"][0]["action_id"] == END_CHAT_ACTION
    assert plain[-1]["elements"][0]["value"] == "gc-1"
    choices = [{"type": "actions", "elements": [{"type": "button", "action_id": "sb_qr_0"}]}]
    assert with_end_chat("Pick one", choices, "gc-1") is None
    assert with_end_chat("x" * 3001, None, "gc-1") is None
