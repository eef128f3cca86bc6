"""Fixtures for the end-to-end tests: one running system per test module.

Starting the processes and onboarding two tenants takes seconds, so a module's scenarios
share one system (`scope="module"`; "package" would mean the whole session here, as the
test folders have no `__init__.py`) on the session's throwaway database, emptied before and
after, so the rest of the suite never meets it. Scenarios keep apart by using conversations
of their own, and `bridge` puts the simulators back to normal (no faults, no rate limit,
every process up) around each test. The Postgres-restart scenario owns a private cluster
and builds its own system.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sandbox.genesys_config import GenesysConfig
from sandbox.slack_limits import POST_BURST
from sandbox.slack_world import MAX_TEXT_LENGTH
from tests.e2e.stack import GENESYS_TIME_SCALE, System, running_system

_KEEP = {"alembic_version"}


async def empty_database(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        rows = await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
        tables = [name for (name,) in rows if name not in _KEEP]
        if tables:
            quoted = ", ".join(f'"{name}"' for name in tables)
            await connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
async def system(
    database_url: str, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    await empty_database(engine)
    try:
        async with running_system(
            database_url, tmp_path_factory.mktemp("e2e-logs"), webs=2, workers=2
        ) as running:
            yield running
    finally:
        await empty_database(engine)


def reset_simulators(system: System) -> None:
    system.slack.faults.clear()
    system.slack.post_rate_per_channel = None
    system.slack.post_burst = POST_BURST
    system.slack.max_text_length = MAX_TEXT_LENGTH
    system.genesys.faults.clear()
    system.genesys.config = GenesysConfig(time_scale=GENESYS_TIME_SCALE)
    for channel in system.slack.channels.values():
        if channel.slack_channel_id in ("C0ACMESUPP", "C0ACMEGENL", "C0GLBXSUPP"):
            channel.is_archived = False


@pytest.fixture
async def bridge(system: System) -> AsyncIterator[System]:
    """The shared system, normal again: no faults armed, at least one web and one worker."""
    reset_simulators(system)
    formation = system.formation
    formation.check_alive()
    if not formation.webs:
        await formation.ready(formation.spawn_web())
    if not formation.workers:
        await formation.add("worker")
    yield system
    reset_simulators(system)
    formation.check_alive()
