"""Who is talking, end to end: an agent's reply is posted in Slack under the agent's name,
which the worker looked up through the Genesys Conversations and Users APIs (the webhook
names only the integration); with the tenant's switch off, or an install that predates
`chat:write.customize`, under the app's own name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.e2e.admin import Admin
from tests.e2e.ledger import slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id

CUSTOMIZE = "chat:write.customize"


def _post_params(system: System, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """What our worker sent to chat.postMessage in one thread (the Slack sim's call log)."""
    return [
        call.params
        for call in system.slack.calls
        if call.method == "chat.postMessage"
        and call.ok
        and call.params.get("channel") == channel
        and call.params.get("thread_ts") == thread_ts
    ]


async def test_a_reply_is_posted_under_the_agents_name(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Who am I talking to?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    lookups_before = bridge.genesys.stats.api_calls.get("users.get", 0)
    await agents.reply(acme.mentions_integration_id, thread, "Hi, Dana here", agent_name="Dana")
    await agents.reply(acme.mentions_integration_id, thread, "Still me", agent_name="Dana")
    await bridge.drain()

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert [(p.text, p.username) for p in posts] == [
        ("Hi, Dana here", "Dana"),
        ("Still me", "Dana"),
    ]
    sent = _post_params(bridge, acme.support_channel, root.ts)
    assert [p.get("username") for p in sent] == ["Dana", "Dana"]
    # Looked up once per conversation participant, not once per message.
    assert bridge.genesys.stats.api_calls.get("users.get", 0) - lookups_before == 1


async def test_the_agents_profile_image_becomes_the_posts_icon(bridge: System) -> None:
    """The Users API's `images` (GC-SDK `User`): an https image is posted as `icon_url`. The
    sim serves its own images over http unless told an https host, as real ones are; an http
    image is not used, so that reply goes out with the name alone."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Can I see who you are?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    bridge.genesys.config.user_image_base_url = "https://profiles.example.test"
    await agents.reply(acme.mentions_integration_id, thread, "Robin here", agent_name="Robin Ng")
    await bridge.drain()
    bridge.genesys.config.user_image_base_url = None
    await agents.reply(acme.mentions_integration_id, thread, "Kim here", agent_name="Kim Lo")
    await bridge.drain()

    robin = bridge.genesys.agents["Robin Ng"]
    icon = f"https://profiles.example.test/{robin}/x400.svg"
    sent = _post_params(bridge, acme.support_channel, root.ts)
    assert [(p.get("username"), p.get("icon_url")) for p in sent] == [
        ("Robin Ng", icon),
        ("Kim Lo", None),
    ]
    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert [(p.text, p.icon_url) for p in posts] == [("Robin here", icon), ("Kim here", None)]


async def test_with_names_switched_off_the_app_posts_as_itself(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    admin = await Admin(bridge, acme).sign_in()
    saved = await admin.post("/onboarding/behaviour", {"ack_reaction": "on"})
    assert saved.status_code == 303, saved.text
    assert 'id="agent_names"' in (await admin.page()).text

    root = await slack.mention(acme, "Names off, please")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(acme.mentions_integration_id, thread, "Anonymous help", agent_name="Dana")
    await bridge.drain()

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert [(p.text, p.username) for p in posts] == [("Anonymous help", None)]
    assert [p.get("username") for p in _post_params(bridge, acme.support_channel, root.ts)] == [
        None
    ]


async def test_an_install_without_customize_gets_plain_posts(bridge: System) -> None:
    """An install from before the scope was requested: Slack's token lacks it and so does the
    stored installation. The post goes out without a custom identity and is not failed."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    globex = bridge.globex.spec
    async with bridge.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE slack_installation SET bot_scopes = array_remove(bot_scopes, :scope)"
                " WHERE slack_team_id = :team"
            ),
            {"scope": CUSTOMIZE, "team": globex.slack_team_id},
        )
    for token in bridge.slack.tokens.values():
        if token.slack_team_id == globex.slack_team_id:
            token.scopes = token.scopes - {CUSTOMIZE}

    root = await slack.mention(globex, "Old install here")
    thread = thread_id(globex, globex.support_channel, root.ts)
    reports = await agents.reply(
        globex.mentions_integration_id, thread, "Plain reply", agent_name="Lee"
    )
    assert [r.outcome for r in reports] == ["delivered"]
    await bridge.drain()

    posts = slack_posts(bridge.slack, globex.support_channel, root.ts)
    assert [(p.text, p.username) for p in posts] == [("Plain reply", None)]
    assert [p.get("username") for p in _post_params(bridge, globex.support_channel, root.ts)] == [
        None
    ]
