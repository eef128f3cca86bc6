"""Test infrastructure: a real, throwaway PostgreSQL migrated by alembic.

When `DATABASE_URL` is set the tests use it (its database must be disposable); otherwise a
private cluster is started in a temporary directory for the session and stopped at the end.
Store-level tests get sessions inside an outer transaction that is rolled back; tests that
run the whole app (which commits through its own engine) use `clean_db`, which truncates.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import DatabaseURL, Settings, parse_encryption_keys
from app.crypto import SecretBox
from app.db import sealed
from app.db.session import create_engine
from devkit.cluster import running_cluster
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import GenesysWorld
from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_world import SlackWorld
from tests.factories import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent

# Tables emptied between app-level tests; alembic_version and the queue's schema stay.
_KEEP = {"alembic_version"}


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (CI timeout, `timeout`) becomes Ctrl-C, so fixtures still stop their clusters."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def alembic_config(database_url: str) -> Config:
    config = Config(toml_file=str(ROOT / "pyproject.toml"))
    config.attributes["database_url"] = database_url
    return config


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        command.upgrade(alembic_config(external), "head")
        yield external
        return
    # Not under pytest's tmp dir: as root the server runs as `postgres`, which cannot enter
    # root's private /tmp/pytest-of-root.
    data_dir = Path(tempfile.mkdtemp(prefix="switchboard-test-pg-"))
    try:
        with running_cluster(data_dir, database="switchboard_test") as cluster:
            url = cluster.url("switchboard_test")
            command.upgrade(alembic_config(url), "head")
            yield url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseURL(database_url), pool_size=5, application_name="tests")
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions whose commits become savepoints of one outer transaction, rolled back after."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        yield async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
            # The test settings' keys, which open and seal message payloads.
            info={sealed.BOX: SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))},
        )
        await outer.rollback()


@pytest.fixture
async def clean_db(engine: AsyncEngine) -> AsyncIterator[None]:
    """For tests whose app commits for real: empty every table afterwards."""
    yield
    async with engine.begin() as connection:
        rows = await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
        tables = [name for (name,) in rows if name not in _KEEP]
        if tables:
            quoted = ", ".join(f'"{name}"' for name in tables)
            await connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    from tests.factories import make_settings

    return make_settings(database_url)


@pytest.fixture
def slack_world() -> SlackWorld:
    return SlackWorld.seeded()


@pytest.fixture
def slack_sim(slack_world: SlackWorld) -> Iterator[ServerThread]:
    """A real socket: Bolt's slack_sdk client (aiohttp) cannot use an ASGI transport."""
    with ServerThread(create_slack_sandbox(slack_world)) as server:
        slack_world.public_url = server.url
        yield server


@pytest.fixture
def genesys_world() -> GenesysWorld:
    return GenesysWorld.seeded()


@pytest.fixture
def genesys_transport(genesys_world: GenesysWorld) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=create_genesys_sandbox(genesys_world))


@pytest.fixture
def app_settings(database_url: str, slack_sim: ServerThread, clean_db: None) -> Settings:
    """Settings for the whole app against the simulators; committed rows are removed after."""
    from tests.harness import sandbox_settings

    return sandbox_settings(database_url, slack_url=slack_sim.url, genesys_url="http://genesys.sim")
