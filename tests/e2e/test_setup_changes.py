"""Conversations follow the tenant's current set-up, and the notices people get are true.

Globex starts installed in Slack but not connected to Genesys; its admin connects it halfway
through a scenario. Acme's admin swaps the mention and DM integrations. A set-up problem
tells the person that an admin has been told, and the installing admin gets a DM (at most
one an hour per workspace). A dead letter replayed with `python -m app deadletters replay`
turns its failure notice into "delivered".
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bridge.inbound import CONTINUATION_ATTRIBUTE, CONTINUATION_NOTE
from app.bridge.notices import (
    DELIVERED_LATER_NOTICE,
    NOT_DELIVERED_NOTICE,
    SETUP_ALERT_HEADLINE,
    SETUP_PROBLEM_NOTICE,
)
from app.db.models import BridgeMessage, Conversation
from devkit.harness.processes import PYTHON, ROOT
from devkit.harness.tenants import GLOBEX, connect_genesys_as_admin
from sandbox.faults import FaultSpec
from sandbox.genesys_records import InboundRecord
from sandbox.slack_world import SlackWorld
from tests.e2e.conftest import empty_database
from tests.e2e.ledger import accepted, assert_bridged, slack_posts, slack_texts
from tests.e2e.stack import System, running_system
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id


@pytest.fixture(scope="module")
async def system(
    database_url: str, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """This module's own system: Globex is installed in Slack only, not connected."""
    await empty_database(engine)
    try:
        async with running_system(
            database_url,
            tmp_path_factory.mktemp("e2e-setup-logs"),
            webs=1,
            workers=2,
            slack_only=frozenset({GLOBEX.name}),
        ) as running:
            yield running
    finally:
        await empty_database(engine)


def dm_channel_of(world: SlackWorld, slack_user_id: str) -> str | None:
    """The bot's DM with a person, if one was ever opened."""
    for channel in world.channels.values():
        if channel.is_im and channel.im_user == slack_user_id:
            return channel.slack_channel_id
    return None


def admin_alerts(system: System, slack_user_id: str) -> list[str]:
    channel = dm_channel_of(system.slack, slack_user_id)
    texts = slack_texts(system.slack, channel, None) if channel else []
    return [t for t in texts if t.startswith(SETUP_ALERT_HEADLINE)]


def accepted_from(system: System, from_id: str, *, after: int = 0) -> list[InboundRecord]:
    return [
        r
        for r in accepted(system.genesys)
        if r.seq > after and r.body["channel"]["from"]["id"] == from_id
    ]


def last_seq(system: System) -> int:
    return max((r.seq for r in list(system.genesys.inbound)), default=0)


async def conversation_row(engine: AsyncEngine, key: str) -> tuple[str | None, str | None]:
    """(genesys_integration_id, genesys_conversation_id) of the conversation with `key`."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    Conversation.genesys_integration_id, Conversation.genesys_conversation_id
                ).where(Conversation.conversation_key == key)
            )
        ).one()
    return row[0], row[1]


async def test_a_person_who_wrote_before_genesys_was_connected_gets_through_once_it_is(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    globex = bridge.globex.spec
    first = await slack.dm(globex, "Early: is anyone there?")
    await bridge.drain()
    await slack.dm(globex, "Early: hello again?")
    await bridge.drain()
    direct = first.slack_channel_id
    assert slack_texts(bridge.slack, direct, None) == [SETUP_PROBLEM_NOTICE] * 2

    await connect_genesys_as_admin(bridge.onboarding, bridge.globex)
    await slack.dm(globex, "Connected: now you hear me")
    await slack.dm(globex, "Connected: and this too")
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={
            dm_id(globex, globex.customer): [
                "Connected: now you hear me",
                "Connected: and this too",
            ]
        },
        to_slack={(direct, None): [SETUP_PROBLEM_NOTICE] * 2},
    )
    records = accepted_from(bridge, dm_id(globex, globex.customer))
    assert {r.integration_id for r in records} == {globex.dms_integration_id}
    integration_id, _ = await conversation_row(bridge.engine, dm_id(globex, globex.customer))
    assert integration_id == globex.dms_integration_id
    # The notices said an admin has been told: the installing admin got one DM, not two.
    [alert] = admin_alerts(bridge, globex.installer)
    assert "connect" in alert.lower()
    assert "Early:" not in alert, "an alert names the problem, never a person's words"


async def test_switching_integrations_moves_existing_conversations_with_a_note(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Switch: thread before")
    dm = await slack.dm(acme, "Switch: DM before")
    thread, direct = thread_id(acme, acme.support_channel, root.ts), dm_id(acme, acme.customer)
    await agents.reply(acme.dms_integration_id, direct, "Switch: agent in the DM")
    await bridge.drain()
    old_thread = await conversation_row(bridge.engine, thread)
    before = last_seq(bridge)

    # The admin swaps the two integrations on the onboarding page.
    await bridge.onboarding.choose_integrations(
        tenant_id=bridge.acme.tenant_id,
        actor_slack_user_id=acme.installer,
        mentions_integration_id=acme.dms_integration_id,
        dms_integration_id=acme.mentions_integration_id,
        auto_wire=True,
    )
    try:
        await slack.reply(acme, thread_ts=root.ts, text="Switch: thread after")
        await slack.reply(acme, thread_ts=root.ts, text="Switch: thread after, again")
        await slack.dm(acme, "Switch: DM after")
        await bridge.drain()

        moved_thread = accepted_from(bridge, thread, after=before)
        moved_dm = accepted_from(bridge, direct, after=before)
        assert [r.integration_id for r in moved_thread] == [acme.dms_integration_id] * 2
        assert [r.integration_id for r in moved_dm] == [acme.mentions_integration_id]
        first, second = (r.body for r in moved_thread)
        permalink = first["channel"]["metadata"]["customAttributes"]["slackPermalink"]
        assert first["text"] == f"{CONTINUATION_NOTE} {permalink}\nSwitch: thread after"
        assert first["channel"]["metadata"]["customAttributes"][CONTINUATION_ATTRIBUTE] == "true"
        assert second["text"] == "Switch: thread after, again", "the note comes once"
        assert CONTINUATION_ATTRIBUTE not in second["channel"]["metadata"]["customAttributes"]
        [dm_body] = (r.body for r in moved_dm)
        assert dm_body["text"].startswith(CONTINUATION_NOTE)
        assert dm_body["text"].endswith("\nSwitch: DM after")

        # Genesys opened a new conversation on each new integration; ours now points at it.
        integration_id, genesys_conversation_id = await conversation_row(bridge.engine, thread)
        assert integration_id == acme.dms_integration_id
        assert genesys_conversation_id == moved_thread[0].conversation_id
        assert genesys_conversation_id != old_thread[1]
        assert slack_texts(bridge.slack, dm.slack_channel_id, None) == ["Switch: agent in the DM"]
        assert slack_texts(bridge.slack, acme.support_channel, root.ts) == []
    finally:
        await connect_genesys_as_admin(bridge.onboarding, bridge.acme)


async def test_a_set_up_problem_says_so_and_the_admin_is_told_once_an_hour(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=403, times=1)
    )
    denied = await slack.mention(acme, "Setup: the client lost its role")
    await bridge.drain()
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=404, times=1)
    )
    missing = await slack.mention(acme, "Setup: the integration is gone")
    await bridge.drain()
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=1)
    )
    refused = await slack.mention(acme, "Setup: not a set-up problem")
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_slack={
            (acme.support_channel, denied.ts): [SETUP_PROBLEM_NOTICE],
            (acme.support_channel, missing.ts): [SETUP_PROBLEM_NOTICE],
            (acme.support_channel, refused.ts): [NOT_DELIVERED_NOTICE],
        },
    )
    [alert] = admin_alerts(bridge, acme.installer)
    assert "permission" in alert.lower()
    assert "Setup:" not in alert


async def test_a_replayed_dead_letter_turns_its_notice_into_delivered(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    bridge.genesys.faults.arm(
        FaultSpec(route="inbound.message", kind="status", status=400, times=1)
    )
    root = await slack.mention(acme, "Replay: lost for now")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    assert slack_texts(bridge.slack, acme.support_channel, root.ts) == [NOT_DELIVERED_NOTICE]
    async with bridge.engine.connect() as connection:
        dead_id = (
            await connection.execute(
                select(BridgeMessage.id).where(
                    BridgeMessage.dedupe_key == thread, BridgeMessage.status == "dead"
                )
            )
        ).scalar_one()

    replay = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "app",
        "deadletters",
        "replay",
        "--id",
        str(dead_id),
        env={**os.environ, **bridge.formation.env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(replay.communicate(), timeout=60)
    assert replay.returncode == 0, err.decode()
    assert "replaying dead letters in 1 conversations" in out.decode()
    await bridge.drain()

    assert_bridged(
        bridge.slack,
        bridge.genesys,
        to_genesys={thread: ["Replay: lost for now"]},
        to_slack={(acme.support_channel, root.ts): [DELIVERED_LATER_NOTICE]},
    )
    [notice] = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert notice.edited is not None, "the notice was updated in place, not posted again"
