"""Both directions through the real app and worker code, against the simulators, in-process."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import BridgeMessage
from app.signing import slack_headers
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_dm, build_mention
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld
from tests.harness import APP_BASE, connect_genesys, drain, in_process, install

SUPPORT = "C0ACMESUPP"


async def onboarded(client: httpx.AsyncClient) -> None:
    await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
    await connect_genesys(
        client,
        mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
        dms=SANDBOX_DMS_INTEGRATION_ID,
        client_id=SANDBOX_ORG_CLIENT_ID,
        client_secret=SANDBOX_ORG_CLIENT_SECRET,
    )


async def test_mention_reaches_the_agent_and_the_reply_lands_in_the_thread(
    app_settings: Settings,
    slack_world: SlackWorld,
    genesys_world: GenesysWorld,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        await onboarded(client)
        slack_world.events_url = f"{APP_BASE}/slack/events"
        sender = EventSender(slack_world, signing_secret=SANDBOX_SIGNING_SECRET, http=client)
        built = build_mention(
            slack_world,
            slack_team_id=ACME_TEAM_ID,
            slack_channel_id=SUPPORT,
            slack_user_id="U0ACME0003",
            text="My order never arrived",
        )
        report = await sender.send(built)
        assert report.attempts[0].status == 200
        assert built.message is not None
        root_ts = built.message.ts
        await drain(app_settings, genesys_transport=genesys_transport)

        messages = [r for r in genesys_world.inbound if r.endpoint == "message"]
        assert len(messages) == 1
        body = messages[0].body
        assert messages[0].integration_id == SANDBOX_MENTIONS_INTEGRATION_ID
        assert body["text"] == "My order never arrived"
        from_id = body["channel"]["from"]["id"]
        assert from_id == f"{ACME_TEAM_ID}:{SUPPORT}:{root_ts}"
        assert body["channel"]["from"]["firstName"] == "Alan"
        attributes = body["channel"]["metadata"]["customAttributes"]
        assert all(isinstance(v, str) for v in attributes.values())
        root = slack_world.channel_messages(SUPPORT)[0]
        assert "white_check_mark" in root.reactions

        agent = Agent(genesys_world, http=client)
        await agent.reply(
            AgentReply(
                integration_id=SANDBOX_MENTIONS_INTEGRATION_ID,
                to_id=from_id,
                text="Sorry! <!channel> Let me check.",
            ),
            base_url="http://genesys.sim",
        )
        await drain(app_settings, genesys_transport=genesys_transport)

    posted = slack_world.bot_messages(SUPPORT)
    assert len(posted) == 1
    assert posted[0].thread_ts == root_ts
    assert "<!channel>" not in posted[0].text and "&lt;!channel&gt;" in posted[0].text
    receipts = [r for r in genesys_world.inbound if r.endpoint == "receipt"]
    assert [r.body["status"] for r in receipts] == ["Delivered"]
    async with engine.connect() as connection:
        statuses = (await connection.execute(select(BridgeMessage.status))).scalars().all()
    assert sorted(statuses) == ["delivered", "delivered", "delivered"]


async def test_dm_round_trip_and_duplicates_are_dropped(
    app_settings: Settings,
    slack_world: SlackWorld,
    genesys_world: GenesysWorld,
    genesys_transport: httpx.AsyncBaseTransport,
) -> None:
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        await onboarded(client)
        slack_world.events_url = f"{APP_BASE}/slack/events"
        sender = EventSender(slack_world, signing_secret=SANDBOX_SIGNING_SECRET, http=client)
        built = build_dm(
            slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="hello"
        )
        first = await sender.send(built)
        # Slack's retry of the same event: same event_id, so nothing new is stored.
        raw = json.dumps(first.envelope).encode()
        retry = await client.post(
            "/slack/events",
            content=raw,
            headers={
                **slack_headers(SANDBOX_SIGNING_SECRET, raw),
                "X-Slack-Retry-Num": "1",
                "X-Slack-Retry-Reason": "http_timeout",
            },
        )
        assert retry.status_code == 200
        await drain(app_settings, genesys_transport=genesys_transport)
        messages = [r for r in genesys_world.inbound if r.endpoint == "message"]
        assert len(messages) == 1
        assert messages[0].integration_id == SANDBOX_DMS_INTEGRATION_ID
        from_id = messages[0].body["channel"]["from"]["id"]
        assert from_id == f"{ACME_TEAM_ID}:U0ACME0002"

        agent = Agent(genesys_world, http=client)
        await agent.reply(
            AgentReply(
                integration_id=SANDBOX_DMS_INTEGRATION_ID,
                to_id=from_id,
                text="Hi Grace",
                duplicate=True,
            ),
            base_url="http://genesys.sim",
        )
        await drain(app_settings, genesys_transport=genesys_transport)
    assert built.channel is not None
    dm = built.channel.slack_channel_id
    posted = slack_world.bot_messages(dm)
    assert [m.text for m in posted] == ["Hi Grace"]
    assert posted[0].thread_ts is None


async def test_worker_refreshes_an_expiring_rotated_token_before_posting(
    app_settings: Settings,
    slack_world: SlackWorld,
    genesys_world: GenesysWorld,
    genesys_transport: httpx.AsyncBaseTransport,
) -> None:
    slack_world.token_rotation = True
    slack_world.token_lifetime_seconds = 300  # inside the worker's 10-minute margin
    async with in_process(app_settings, genesys_transport=genesys_transport) as client:
        await onboarded(client)
        slack_world.events_url = f"{APP_BASE}/slack/events"
        sender = EventSender(slack_world, signing_secret=SANDBOX_SIGNING_SECRET, http=client)
        await sender.send(
            build_dm(slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="hi")
        )
        await drain(app_settings, genesys_transport=genesys_transport)
    refreshes = [
        c
        for c in slack_world.calls
        if c.method == "oauth.v2.access" and c.params.get("grant_type") == "refresh_token"
    ]
    assert len(refreshes) == 1
    assert len([r for r in genesys_world.inbound if r.endpoint == "message"]) == 1
    # The ✓ reaction was posted with the refreshed token, so it reached Slack.
    dm_messages = [m for msgs in slack_world.messages.values() for m in msgs if m.text == "hi"]
    assert dm_messages and "white_check_mark" in dm_messages[0].reactions
