"""Bridge queries that decide where a conversation goes and who is told, on real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import store
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from app.crypto import SecretBox
from app.db.models import GenesysIntegration, RoutingRule, Tenant, TenantStatus
from app.tenants import store as tenants_store
from tests.factories import make_installation, make_tenant


def integration(tenant_id: uuid.UUID, *, mentions: bool, dms: bool) -> GenesysIntegration:
    return GenesysIntegration(
        genesys_integration_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        for_mentions=mentions,
        for_dms=dms,
        webhook_secret_enc="not-read-here",
        webhook_wiring="auto",
    )


async def test_the_chosen_integration_is_read_per_kind_and_follows_a_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        assert await store.chosen_integration(session, tenant_id=tenant.id, kind="dm") is None
        mentions = integration(tenant.id, mentions=True, dms=False)
        dms = integration(tenant.id, mentions=False, dms=True)
        session.add_all([mentions, dms])
        await session.flush()
        chosen = {
            kind: await store.chosen_integration(session, tenant_id=tenant.id, kind=kind)
            for kind in ("dm", "thread")
        }
        assert chosen == {
            "dm": dms.genesys_integration_id,
            "thread": mentions.genesys_integration_id,
        }
        mentions.for_dms, dms.for_dms = True, False
        await session.flush()
        assert (
            await store.chosen_integration(session, tenant_id=tenant.id, kind="dm")
            == mentions.genesys_integration_id
        )
        other = await make_tenant(session)
        assert await store.chosen_integration(session, tenant_id=other.id, kind="dm") is None


async def test_the_admin_alert_is_claimed_once_an_hour_per_tenant(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    hour = timedelta(hours=1)
    async with sessions.begin() as session:
        acme, globex = await make_tenant(session), await make_tenant(session)
        assert await store.claim_setup_alert(session, tenant_id=acme.id, every=hour)
        assert not await store.claim_setup_alert(session, tenant_id=acme.id, every=hour)
        assert await store.claim_setup_alert(session, tenant_id=globex.id, every=hour)
        await session.execute(
            update(Tenant)
            .where(Tenant.id == acme.id)
            .values(setup_alert_at=datetime.now(UTC) - timedelta(minutes=61))
        )
        assert await store.claim_setup_alert(session, tenant_id=acme.id, every=hour)
        assert not await store.claim_setup_alert(session, tenant_id=acme.id, every=hour)


def notice(tenant_id: uuid.UUID, conversation_id: uuid.UUID, key: str) -> NewMessage:
    return NewMessage(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        direction=Direction.TO_SLACK,
        kind=Kind.NOTICE,
        dedupe_key=key,
        payload={"text": "hello"},
        source_ts=datetime.now(UTC),
    )


async def test_a_conversation_is_created_once_and_a_message_inserted_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        thread = NewConversation(
            conversation_key="T0:C0:1.2",
            kind="thread",
            slack_channel_id="C0",
            slack_thread_ts="1.2",
        )
        first = await store.upsert_conversation(session, tenant_id=tenant.id, conversation=thread)
        again = await store.upsert_conversation(session, tenant_id=tenant.id, conversation=thread)
        assert first == again

        new_id = await store.insert_message(session, notice(tenant.id, first, "notice:1"))
        assert new_id is not None
        assert await store.insert_message(session, notice(tenant.id, first, "notice:1")) is None
        row = await store.get_message(session, message_id=new_id)
        assert row is not None
        assert (row.direction, row.kind, row.status) == ("to_slack", "notice", "pending")
        found = await store.find_message(
            session, tenant_id=tenant.id, direction=Direction.TO_SLACK, dedupe_key="notice:1"
        )
        assert found is not None and found.id == new_id
        pending = await store.next_pending(session, conversation_id=first)
        assert pending is not None and pending.id == new_id


async def test_the_tenant_of_slack_ids_follows_one_rule(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox
) -> None:
    async with sessions.begin() as session:
        team = await make_tenant(session, slack_team_id="T0TEAM", slack_enterprise_id="E0GRID")
        org = await make_tenant(
            session, slack_team_id=None, slack_enterprise_id="E0ORG", is_enterprise_install=True
        )
        org.slack_team_id = None
        for tenant in (team, org):
            await make_installation(session, box, tenant=tenant)
        await session.flush()

        async def bridge_finds(enterprise: str | None, team_id: str | None, is_org: bool) -> Any:
            found = await store.tenant_for_slack(
                session,
                slack_enterprise_id=enterprise,
                slack_team_id=team_id,
                is_enterprise_install=is_org,
            )
            return None if found is None else found.tenant.id

        assert await bridge_finds("E0GRID", "T0TEAM", False) == team.id
        assert await bridge_finds("E0ORG", "T0ANY", True) == org.id
        assert await bridge_finds("E0ORG", None, False) == org.id  # no workspace named
        assert await bridge_finds(None, "T0OTHER", False) is None
        # A workspace of an org installed org-wide finds the org only when asked to.
        assert (
            await tenants_store.find_tenant_for_slack(
                session,
                slack_enterprise_id="E0ORG",
                slack_team_id="T0W",
                is_enterprise_install=False,
            )
            is None
        )
        fallback = await tenants_store.find_tenant_for_slack(
            session,
            slack_enterprise_id="E0ORG",
            slack_team_id="T0W",
            is_enterprise_install=False,
            org_fallback=True,
        )
        assert fallback is not None and fallback.id == org.id
        # The workspace's own tenant wins over its org's.
        own = await tenants_store.find_tenant_for_slack(
            session,
            slack_enterprise_id="E0GRID",
            slack_team_id="T0TEAM",
            is_enterprise_install=False,
            org_fallback=True,
        )
        assert own is not None and own.id == team.id
        team.status = TenantStatus.DISABLED
        await session.flush()
        assert await bridge_finds("E0GRID", "T0TEAM", False) is None


async def test_the_away_notice_is_claimed_once_per_closed_period(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        thread = NewConversation(
            conversation_key="T0:C0:3.4",
            kind="thread",
            slack_channel_id="C0",
            slack_thread_ts="3.4",
        )
        conversation = await store.upsert_conversation(
            session, tenant_id=tenant.id, conversation=thread
        )
    evening = datetime(2026, 12, 3, 19, tzinfo=UTC)
    morning = datetime(2026, 12, 4, 9, tzinfo=UTC)

    async def claim(written_at: datetime, until: datetime) -> bool:
        async with sessions.begin() as session:
            return await store.claim_away_notice(
                session, conversation_id=conversation, written_at=written_at, until=until
            )

    assert await claim(evening, morning)
    assert not await claim(evening + timedelta(hours=2), morning)
    # The next evening is another closed period.
    assert await claim(evening + timedelta(days=1), morning + timedelta(days=1))


async def test_rules_are_read_per_tenant_and_keep_hours_only_when_complete(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        tenant, other = await make_tenant(session), await make_tenant(session)
        session.add_all(
            [
                RoutingRule(
                    tenant_id=tenant.id,
                    match_kind="channel",
                    match_id="C0BILL",
                    queue="Billing",
                    skills=["a"],
                    hours_days=[0, 1],
                    hours_from=time(9),
                    hours_to=time(17),
                    time_zone="Europe/Paris",
                ),
                RoutingRule(tenant_id=other.id, match_kind="default", match_id="", hours_days=[]),
            ]
        )
    async with sessions() as session:
        [found] = await store.routing_rules(session, tenant_id=tenant.id)
    assert (found.kind, found.match_id, found.queue, found.skills) == (
        "channel",
        "C0BILL",
        "Billing",
        ("a",),
    )
    assert found.hours is not None and found.hours.days == frozenset({0, 1})
