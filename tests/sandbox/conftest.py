"""One seeded Slack world per module, reset before each test, and a live simulator on request.

The world is module-scoped because seeding and, above all, starting uvicorn per test would
dominate the run; `reset()` puts the seed back so nothing leaks from one test to the next.
Modules that talk to the simulator over HTTP add `pytest.mark.usefixtures("base")`, so even a
test that only asks for `world` has the server behind `world.public_url`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox.runner import ServerThread
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_world import SlackWorld


@pytest.fixture(scope="module")
def seeded() -> SlackWorld:
    return SlackWorld.seeded()


@pytest.fixture
def world(seeded: SlackWorld) -> SlackWorld:
    seeded.reset()
    return seeded


@pytest.fixture(scope="module")
def base(seeded: SlackWorld) -> Iterator[str]:
    """A real socket: slack_sdk's aiohttp client cannot use an ASGI transport."""
    with ServerThread(create_slack_sandbox(seeded)) as server:
        seeded.public_url = server.url
        yield server.url


@pytest.fixture
async def http(world: SlackWorld, base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base) as client:
        yield client
