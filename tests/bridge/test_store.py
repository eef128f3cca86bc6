"""Bridge queries that decide where a conversation goes and who is told, on real Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import store
from app.db.models import GenesysIntegration, Tenant
from tests.factories import make_tenant


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
