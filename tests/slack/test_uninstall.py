"""Uninstall through real, signed `app_uninstalled` and `tokens_revoked` events.

Slack sends both events for one uninstall, in no promised order, and redelivers an event
whose ack it missed. Whatever arrives first purges the tenant before it is acked; everything
after it is a harmless 200 that records nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db.models import AuditEvent, BridgeMessage, SlackInstallation, Tenant
from sandbox.slack_payloads import (
    BuiltEvent,
    build_app_uninstalled,
    build_dm,
    build_tokens_revoked,
)
from sandbox.slack_seed import ACME_TEAM_ID, INITECH_ENTERPRISE_ID, INITECH_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.harness import in_process, install
from tests.slack.delivery import event_sender, redeliver, settle, statuses

WORKSPACE = pytest.param(ACME_TEAM_ID, "U0ACME0001", ACME_TEAM_ID, id="workspace")
ORG_WIDE = pytest.param(INITECH_ENTERPRISE_ID, "W0INIT0001", INITECH_TEAM_ID, id="org-wide")


def uninstall_events(world: SlackWorld, slack_team_id: str) -> dict[str, BuiltEvent]:
    """Both events of one uninstall, each carrying the install's bot user as Slack sends them.

    Building one revokes the simulator's tokens, so the second builder would no longer see
    the installation; give it the one captured by the first.
    """
    revoked = build_tokens_revoked(world, slack_team_id=slack_team_id)
    uninstalled = replace(
        build_app_uninstalled(world, slack_team_id=slack_team_id),
        installation=revoked.installation,
    )
    assert revoked.event["tokens"]["bot"], revoked.event
    return {"app_uninstalled": uninstalled, "tokens_revoked": revoked}


async def tenant_state(engine: AsyncEngine) -> tuple[Tenant, int, list[str]]:
    """The one tenant, how many installation rows exist, and the purge audit actions."""
    async with AsyncSession(engine) as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
        installs = len((await session.execute(select(SlackInstallation))).all())
        purges = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("tenant.purged.%"))
        )
        return tenant, installs, list(purges)


@pytest.mark.parametrize(("target", "installer", "event_team"), [WORKSPACE, ORG_WIDE])
@pytest.mark.parametrize("first", ["app_uninstalled", "tokens_revoked"])
async def test_uninstall_events_purge_the_tenant_once_in_either_order(
    app_settings: Settings,
    engine: AsyncEngine,
    slack_world: SlackWorld,
    target: str,
    installer: str,
    event_team: str,
    first: str,
) -> None:
    second = "tokens_revoked" if first == "app_uninstalled" else "app_uninstalled"
    async with in_process(app_settings) as client:
        callback = await install(client, target=target, slack_user_id=installer)
        assert callback.status_code == 303, callback.text
        assert (await client.get("/onboarding")).status_code == 200
        tenant, installs, purges = await tenant_state(engine)
        assert (tenant.status, installs, purges) == ("active", 1, [])

        sender = event_sender(slack_world, client)
        events = uninstall_events(slack_world, event_team)
        report = await sender.send(events[first])
        assert statuses(report) == [200]
        assert await settle() == 0  # the purge ran before the ack; nothing is left running
        gone, installs, purges = await tenant_state(engine)
        assert gone.id == tenant.id and gone.uninstalled_at is not None
        assert (installs, purges) == (0, [f"tenant.purged.{first}"])

        # Slack missed the ack and retries the same event_id; then the other event comes.
        again = await redeliver(client, report)
        assert again.status_code == 200
        assert await settle() == 0
        late = await sender.send(events[second])
        assert statuses(late) == [200]
        assert await settle() == 0
        late_again = await redeliver(client, late, retry_num=2)
        assert late_again.status_code == 200
        assert await settle() == 0

        refused = await client.get("/onboarding")
    assert refused.status_code == 404
    assert "no longer installed" in refused.text
    after, installs, purges = await tenant_state(engine)
    assert (after.status, after.uninstalled_at) == ("uninstalled", gone.uninstalled_at)
    assert (installs, purges) == (0, [f"tenant.purged.{first}"])
    await assert_purge_record_is_anonymous(engine, tenant.id, installer)


async def assert_purge_record_is_anonymous(
    engine: AsyncEngine, tenant_id: uuid.UUID, installer: str
) -> None:
    async with engine.connect() as connection:
        purge = (
            await connection.execute(
                select(AuditEvent).where(AuditEvent.action.like("tenant.purged.%"))
            )
        ).one()
        dump = (
            await connection.execute(
                text(
                    "SELECT row_to_json(a)::text FROM audit_event a "
                    "WHERE action LIKE 'tenant.purged.%'"
                )
            )
        ).scalar_one()
    assert purge.tenant_id == tenant_id
    assert purge.actor_slack_user_id is None
    assert purge.fields == ["slack_installation"]
    for personal in (installer, "xox", "@", "Lovelace", "Lumbergh"):
        assert personal not in dump


async def test_uninstall_purges_the_messages_bridged_for_the_workspace(
    app_settings: Settings, engine: AsyncEngine, slack_world: SlackWorld
) -> None:
    """The purge's promise covers conversations: what people wrote must not outlive it."""
    async with in_process(app_settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        sender = event_sender(slack_world, client)
        dm = build_dm(
            slack_world,
            slack_team_id=ACME_TEAM_ID,
            slack_user_id="U0ACME0003",
            text="my card number is 4111 1111 1111 1111",
        )
        assert statuses(await sender.send(dm)) == [200]
        async with AsyncSession(engine) as session:
            kept = len((await session.execute(select(BridgeMessage.id))).all())
        assert kept == 1, "the DM was not stored; this test needs it stored"
        events = uninstall_events(slack_world, ACME_TEAM_ID)
        assert statuses(await sender.send(events["app_uninstalled"])) == [200]
        assert await settle() == 0
    async with engine.connect() as connection:
        leftovers = {
            table: (await connection.execute(text(f"SELECT row_to_json(t)::text FROM {table} t")))
            .scalars()
            .all()
            for table in ("conversation", "bridge_message")
        }
    assert leftovers == {"conversation": [], "bridge_message": []}
    _, installs, purges = await tenant_state(engine)
    assert (installs, purges) == (0, ["tenant.purged.app_uninstalled"])
