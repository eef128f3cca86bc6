"""The per-process tenant cache and the version triggers it relies on, on real Postgres.

The cache itself never decides whether an entry is current; the version does, and the version
is bumped by triggers on every write that changes what the cache holds, whoever makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import DatabaseURL
from app.crypto import SecretBox
from app.db.models import GenesysIntegration, SlackInstallation, Tenant
from app.db.session import create_engine, create_sessions, on_driver
from app.tenants.cache import TenantCache
from tests.factories import make_installation, make_integration, make_settings, make_tenant

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def box(database_url: str) -> SecretBox:
    return SecretBox(make_settings(database_url).keys)


@pytest.fixture
async def session(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


async def driver(session: AsyncSession) -> asyncpg.Connection[Any]:
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def version(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    found = await session.scalar(
        text("SELECT version FROM tenant WHERE id = :id"), {"id": tenant_id}
    )
    assert isinstance(found, int)
    return found


async def onboarded(session: AsyncSession, box: SecretBox) -> tuple[Tenant, GenesysIntegration]:
    tenant = await make_tenant(session, slack_team_id=f"T{uuid.uuid4().hex[:8].upper()}")
    await make_installation(session, box, tenant=tenant)
    integration = await make_integration(session, box, tenant=tenant, webhook_secret="s1")
    return tenant, integration


async def test_every_change_ingest_reads_bumps_the_version(
    session: AsyncSession, box: SecretBox
) -> None:
    tenant, integration = await onboarded(session, box)
    seen = [await version(session, tenant.id)]

    async def changed_by(statement: Any) -> None:
        await session.execute(statement)
        seen.append(await version(session, tenant.id))
        assert seen[-1] > seen[-2], statement

    await changed_by(update(Tenant).where(Tenant.id == tenant.id).values(forward_other_bots=True))
    await changed_by(
        update(SlackInstallation)
        .where(SlackInstallation.tenant_id == tenant.id)
        .values(slack_bot_user_id="U0NEWBOT")
    )
    row = GenesysIntegration
    await changed_by(
        update(row)
        .where(row.genesys_integration_id == integration.genesys_integration_id)
        .values(for_dms=False)
    )
    await changed_by(
        update(row)
        .where(row.genesys_integration_id == integration.genesys_integration_id)
        .values(
            previous_webhook_secret_enc=None,
            webhook_secret_enc=integration.webhook_secret_enc + "x",
        )
    )
    await changed_by(
        delete(row).where(row.genesys_integration_id == integration.genesys_integration_id)
    )
    await changed_by(delete(SlackInstallation).where(SlackInstallation.tenant_id == tenant.id))


async def test_webhook_bookkeeping_and_alerts_leave_the_version_alone(
    session: AsyncSession, box: SecretBox
) -> None:
    tenant, integration = await onboarded(session, box)
    before = await version(session, tenant.id)
    row = GenesysIntegration
    await session.execute(
        update(row)
        .where(row.genesys_integration_id == integration.genesys_integration_id)
        .values(last_verified_at=text("now()"), last_refused_at=text("now()"))
    )
    await session.execute(
        update(Tenant).where(Tenant.id == tenant.id).values(setup_alert_at=text("now()"))
    )
    assert await version(session, tenant.id) == before


async def test_a_cached_tenant_is_served_without_a_query_until_invalidated(
    session: AsyncSession, box: SecretBox
) -> None:
    tenant, integration = await onboarded(session, box)
    cache = TenantCache()
    connection = await driver(session)
    keys: dict[str, Any] = {
        "slack_enterprise_id": None,
        "slack_team_id": tenant.slack_team_id,
        "is_enterprise_install": False,
    }
    first = await cache.get_by_slack_ids(connection, **keys)
    assert first is not None and first.tenant_id == tenant.id
    assert first.integration_for("dm") == integration.genesys_integration_id
    assert first.slack_bot_user_id == "U0BOT"

    await session.execute(
        update(Tenant).where(Tenant.id == tenant.id).values(forward_other_bots=True)
    )
    # Still the cached guess, which the version now shows to be stale.
    assert await cache.get_by_slack_ids(connection, **keys) is first
    assert not await cache.is_current(connection, tenant_id=tenant.id, version=first.version)
    again = await cache.get_by_slack_ids(connection, **keys)
    assert again is not None and again.forward_other_bots and again.version > first.version
    assert await cache.is_current(connection, tenant_id=tenant.id, version=again.version)


async def test_only_active_tenants_and_known_integrations_are_found(
    session: AsyncSession, box: SecretBox
) -> None:
    tenant, integration = await onboarded(session, box)
    cache = TenantCache()
    connection = await driver(session)
    await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(status="disabled"))
    assert (
        await cache.get_by_slack_ids(
            connection,
            slack_enterprise_id=None,
            slack_team_id=tenant.slack_team_id,
            is_enterprise_install=False,
        )
        is None
    )
    found = await cache.get_by_integration(
        connection, genesys_integration_id=integration.genesys_integration_id, fresh=False
    )
    assert found is not None and not found.tenant_active
    assert (
        await cache.get_by_integration(connection, genesys_integration_id="nope", fresh=False)
        is None
    )


async def test_an_org_wide_install_is_found_by_its_org(
    session: AsyncSession, box: SecretBox
) -> None:
    org = await make_tenant(
        session, is_enterprise_install=True, slack_enterprise_id="E0GRID", slack_team_id=None
    )
    await session.execute(update(Tenant).where(Tenant.id == org.id).values(slack_team_id=None))
    await make_installation(session, box, tenant=org)
    cache = TenantCache()
    connection = await driver(session)
    found = await cache.get_by_slack_ids(
        connection, slack_enterprise_id="E0GRID", slack_team_id="T0ANY", is_enterprise_install=True
    )
    assert found is not None and found.tenant_id == org.id
    assert (
        await cache.get_by_slack_ids(
            connection, slack_enterprise_id=None, slack_team_id=None, is_enterprise_install=True
        )
        is None
    )


async def test_on_driver_replaces_a_connection_that_died(database_url: str) -> None:
    """Without pool_pre_ping (the web's engine): a backend killed under a pooled connection
    costs no error."""
    engine = create_engine(
        DatabaseURL(database_url), pool_size=1, application_name="tests", pre_ping=False
    )
    sessions = create_sessions(engine)

    async def backend(connection: asyncpg.Connection[Any]) -> int:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        assert isinstance(pid, int)
        return pid

    try:
        first = await on_driver(sessions, backend)
        other = await asyncpg.connect(DatabaseURL(database_url).libpq)
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await other.close()
        second = await on_driver(sessions, backend)
        assert second != first
    finally:
        await engine.dispose()
