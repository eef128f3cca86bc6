from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.config import Settings
from app.sandbox.genesys_app import create_genesys_sandbox
from app.sandbox.genesys_world import GenesysWorld
from app.sandbox.runner import ServerThread
from app.sandbox.slack_app import create_slack_sandbox
from app.sandbox.slack_world import SlackWorld
from tests.harness import sandbox_settings


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
    return sandbox_settings(database_url, slack_url=slack_sim.url, genesys_url="http://genesys.sim")
