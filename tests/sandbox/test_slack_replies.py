"""The simulated `conversations.replies`: the history scope of the channel's kind, the parent
first, cursor paging, and the limits Slack puts on apps not approved for the Marketplace."""

from __future__ import annotations

import pytest

from sandbox.slack_records import SlackMessage
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import BOT_SCOPES, SUPPORT, client, error_of, install

HISTORY_SCOPES = (*BOT_SCOPES, "channels:history")

pytestmark = pytest.mark.usefixtures("base")


def _thread(world: SlackWorld, replies: int) -> str:
    root = world.add_message(
        SlackMessage(world.new_ts(), SUPPORT, ACME_TEAM_ID, "root", user="U0ACME0001")
    )
    for n in range(replies):
        world.add_message(
            SlackMessage(
                world.new_ts(),
                SUPPORT,
                ACME_TEAM_ID,
                f"reply {n}",
                user="U0ACME0002",
                thread_ts=root.ts,
            )
        )
    return root.ts


async def test_parent_first_then_pages_with_a_cursor(world: SlackWorld, base: str) -> None:
    world.marketplace_approved = True
    ts = _thread(world, 4)
    slack = client(base, install(world, scopes=HISTORY_SCOPES))
    first = await slack.conversations_replies(channel=SUPPORT, ts=ts, limit=3)
    assert [m["text"] for m in first["messages"]] == ["root", "reply 0", "reply 1"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await slack.conversations_replies(channel=SUPPORT, ts=ts, limit=3, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["reply 2", "reply 3"]
    assert second["has_more"] is False
    assert second["response_metadata"]["next_cursor"] == ""
    bad = await error_of(slack.conversations_replies(channel=SUPPORT, ts=ts, cursor="nope"))
    assert bad.response["error"] == "invalid_cursor"


async def test_latest_is_exclusive_unless_inclusive(world: SlackWorld, base: str) -> None:
    world.marketplace_approved = True
    ts = _thread(world, 2)
    slack = client(base, install(world, scopes=HISTORY_SCOPES))
    whole = await slack.conversations_replies(channel=SUPPORT, ts=ts)
    last = whole["messages"][-1]["ts"]
    before = await slack.conversations_replies(channel=SUPPORT, ts=ts, latest=last)
    upto = await slack.conversations_replies(channel=SUPPORT, ts=ts, latest=last, inclusive=True)
    assert [m["text"] for m in before["messages"]] == ["root", "reply 0"]
    assert [m["text"] for m in upto["messages"]] == ["root", "reply 0", "reply 1"]


async def test_needs_the_history_scope_of_the_channel(world: SlackWorld, base: str) -> None:
    world.marketplace_approved = True
    ts = _thread(world, 1)
    slack = client(base, install(world, scopes=("chat:write", "groups:history")))
    error = await error_of(slack.conversations_replies(channel=SUPPORT, ts=ts))
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "channels:history"
    unknown = await error_of(
        client(base, install(world, scopes=HISTORY_SCOPES)).conversations_replies(
            channel=SUPPORT, ts="1.000001"
        )
    )
    assert unknown.response["error"] == "thread_not_found"


async def test_non_marketplace_apps_get_15_a_page_once_a_minute(
    world: SlackWorld, base: str
) -> None:
    assert world.marketplace_approved is False
    ts = _thread(world, 20)
    slack = client(base, install(world, scopes=HISTORY_SCOPES))
    page = await slack.conversations_replies(channel=SUPPORT, ts=ts, limit=200)
    assert len(page["messages"]) == 15
    assert page["has_more"] is True
    limited = await error_of(slack.conversations_replies(channel=SUPPORT, ts=ts))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) > 1
