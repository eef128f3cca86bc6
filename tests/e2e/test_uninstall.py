"""Uninstalling, against real web processes: the purge is done before Slack gets its 200.

Slack does not redeliver an event it got a 200 for, so if the web process died between the
ack and the purge, the workspace's tokens and Genesys credentials would stay stored for good.
Each test holds a lock on the tenant's row while the event arrives, so the purge cannot
finish until the test lets it: an ack that comes back while the lock is held was sent before
the purge. No worker runs during these tests; nothing may depend on a queued job.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import AuditEvent, GenesysConnection, SlackInstallation, Tenant
from devkit.harness.tenants import GLOBEX, install_slack
from sandbox.slack_payloads import build_app_uninstalled, build_tokens_revoked
from tests.e2e.ledger import wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople

# Long enough for a web process to answer an event it does not make wait.
EARLY_ACK_SECONDS = 1.0


@asynccontextmanager
async def tenant_row_locked(engine: AsyncEngine, tenant_id: uuid.UUID) -> AsyncIterator[None]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(
            text("SELECT id FROM tenant WHERE id = :id FOR UPDATE"), {"id": tenant_id}
        )
        try:
            yield
        finally:
            await transaction.rollback()


async def answered_within(
    requests: list[asyncio.Task[httpx.Response]], seconds: float
) -> list[asyncio.Task[httpx.Response]]:
    done, _ = await asyncio.wait(requests, timeout=seconds)
    return [task for task in requests if task in done]


async def stored(engine: AsyncEngine, tenant_id: uuid.UUID) -> tuple[str, int, int, int]:
    """Tenant status, installation rows, Genesys connection rows, purge audit rows."""
    async with AsyncSession(engine) as session:
        tenant = await session.get(Tenant, tenant_id, populate_existing=True)
        assert tenant is not None
        installs = await session.scalar(
            select(func.count()).where(SlackInstallation.tenant_id == tenant_id)
        )
        connections = await session.scalar(
            select(func.count()).where(GenesysConnection.tenant_id == tenant_id)
        )
        purges = await session.scalar(
            select(func.count()).where(
                AuditEvent.tenant_id == tenant_id, AuditEvent.action.like("tenant.purged.%")
            )
        )
        return tenant.status, installs or 0, connections or 0, purges or 0


def purge_runs(system: System) -> int:
    """Purges the web processes report as finished, whatever their outcome."""
    webs = [p for p in system.formation.processes if p.kind == "web"]
    return sum(p.log().count("tenant purged") for p in webs)


async def without_workers(system: System) -> None:
    for worker in system.formation.workers:
        worker.stop()


async def restore_webs(system: System, count: int = 2) -> None:
    while len(system.formation.webs) < count:
        await system.formation.ready(system.formation.spawn_web())
    await system.formation.readyz()


async def test_the_purge_is_committed_before_the_ack(system: System) -> None:
    """Deliver `app_uninstalled`, kill -9 every web process the moment the 200 arrives, and
    find the tokens and credentials already gone."""
    formation, tenant_id = system.formation, system.globex.tenant_id
    await without_workers(system)
    assert await stored(system.engine, tenant_id) == ("active", 1, 1, 0)
    people = SlackPeople(system)
    envelope = people.envelope(
        build_app_uninstalled(system.slack, slack_team_id=GLOBEX.slack_team_id)
    )
    try:
        async with tenant_row_locked(system.engine, tenant_id):
            request = asyncio.create_task(people.post(envelope))
            early = await answered_within([request], EARLY_ACK_SECONDS)
            if early:  # acked while the purge could not have run: crash right now
                for web in formation.webs:
                    web.kill()
        response = await request
        assert response.status_code == 200, response.text
        for web in formation.webs:  # kill -9 right after the 200
            web.kill()
        status, installs, connections, purges = await stored(system.engine, tenant_id)
        assert (installs, connections) == (0, 0), (
            f"acked {'before' if early else 'after'} the purge, and after a crash right "
            f"after the 200 the tenant still has {installs} installation and "
            f"{connections} Genesys connection rows (status {status})"
        )
        assert (status, purges) == ("uninstalled", 1)
        assert not early, "the 200 came back before the purge had committed"
    finally:
        await restore_webs(system)


async def test_concurrent_uninstall_events_write_one_audit_row(system: System) -> None:
    """`app_uninstalled` twice (Slack's retry) and `tokens_revoked`, all at once."""
    tenant_id = system.globex.tenant_id
    await without_workers(system)
    await restore_webs(system)
    await install_slack(system.http, system.app_url, GLOBEX)  # back after the previous test
    _, _, _, purges_before = await stored(system.engine, tenant_id)
    runs_before = purge_runs(system)
    people = SlackPeople(system)
    revoked = build_tokens_revoked(system.slack, slack_team_id=GLOBEX.slack_team_id)
    uninstalled = replace(
        build_app_uninstalled(system.slack, slack_team_id=GLOBEX.slack_team_id),
        installation=revoked.installation,
    )
    assert revoked.event["tokens"]["bot"], revoked.event
    first = people.envelope(uninstalled)
    deliveries: list[Coroutine[Any, Any, httpx.Response]] = [
        people.post(first),
        people.post(first, retry_num=1),
        people.post(people.envelope(revoked)),
    ]
    async with tenant_row_locked(system.engine, tenant_id):
        requests = [asyncio.create_task(delivery) for delivery in deliveries]
        await answered_within(requests, EARLY_ACK_SECONDS)
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200, 200, 200]
    # Every purge has run to its end (its log line) before the rows are counted.
    await wait_until(
        lambda: purge_runs(system) - runs_before >= 3, 10, what="three purges to finish"
    )
    status, installs, connections, purges = await stored(system.engine, tenant_id)
    assert (status, installs, connections) == ("uninstalled", 0, 0)
    assert purges - purges_before == 1, f"{purges - purges_before} purge audit rows, not 1"
