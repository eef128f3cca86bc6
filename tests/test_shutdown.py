"""Graceful shutdown: a worker told to stop (SIGTERM, as Heroku does) loses and repeats nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sandbox.faults import FaultSpec
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from sandbox.runner import ServerThread
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_dm
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld
from tests.factories import TEST_KEY
from tests.harness import APP_BASE, connect_genesys, in_process, install, sandbox_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEOPLE = ("U0ACME0001", "U0ACME0002", "U0ACME0003")
# Conversations a worker holds (`app.bridge.dispatch`: an advisory lock per conversation).
CLAIMED = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1398227524"


@pytest.fixture
def genesys() -> Iterator[tuple[GenesysWorld, ServerThread]]:
    world = GenesysWorld.seeded()
    with ServerThread(create_genesys_sandbox(world)) as server:
        yield world, server


def start_worker(database_url: str, slack_url: str, genesys_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": f"k1:{TEST_KEY}",
        "SESSION_SECRET": "s" * 40,
        "BASE_URL": APP_BASE,
        "SLACK_CLIENT_ID": "1000000000001.2000000000002",
        "SLACK_CLIENT_SECRET": "unused-by-the-worker",
        "SLACK_SIGNING_SECRET": SANDBOX_SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "GENESYS_API_URL": genesys_url,
        "GENESYS_LOGIN_URL": genesys_url,
        "WORKER_CONCURRENCY": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_for(engine: AsyncEngine, query: str, expected: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        async with engine.connect() as connection:
            value = (await connection.execute(text(query))).scalar_one()
        if value == expected:
            return
        assert time.monotonic() < deadline, f"{query!r} stayed at {value}, expected {expected}"
        await asyncio.sleep(0.1)


async def test_sigterm_lets_in_flight_deliveries_finish_and_the_rest_wait(
    database_url: str,
    engine: AsyncEngine,
    clean_db: None,
    slack_sim: ServerThread,
    slack_world: SlackWorld,
    genesys: tuple[GenesysWorld, ServerThread],
) -> None:
    genesys_world, genesys_server = genesys
    settings = sandbox_settings(
        database_url, slack_url=slack_sim.url, genesys_url=genesys_server.url
    )
    async with in_process(settings) as client:
        await install(client, target=ACME_TEAM_ID, slack_user_id="U0ACME0001")
        await connect_genesys(
            client,
            mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
            dms=SANDBOX_DMS_INTEGRATION_ID,
            client_id=SANDBOX_ORG_CLIENT_ID,
            client_secret=SANDBOX_ORG_CLIENT_SECRET,
        )
        slack_world.events_url = f"{APP_BASE}/slack/events"
        sender = EventSender(slack_world, signing_secret=SANDBOX_SIGNING_SECRET, http=client)
        # Every delivery to Genesys takes 2 s, so SIGTERM lands while deliveries are in flight.
        genesys_world.faults.arm(FaultSpec(route="inbound.message", kind="delay", delay=2.0))
        for person in PEOPLE:
            for n in range(2):
                await sender.send(
                    build_dm(
                        slack_world,
                        slack_team_id=ACME_TEAM_ID,
                        slack_user_id=person,
                        text=f"message {n}",
                    )
                )
    first = start_worker(database_url, slack_sim.url, genesys_server.url)
    try:
        await wait_for(engine, CLAIMED, 3, 30)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0  # finished its in-flight flushes within the grace
    finally:
        if first.poll() is None:
            first.kill()
    async with engine.connect() as connection:
        claimed = (await connection.execute(text(CLAIMED))).scalar_one()
        pending = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM bridge_message WHERE direction = 'to_genesys' "
                    "AND kind = 'message' AND status = 'pending'"
                )
            )
        ).scalar_one()
    assert claimed == 0  # every conversation it held is free again
    assert pending == 0  # the in-flight flushes finished their conversations and recorded it
    genesys_world.faults.clear()
    second = start_worker(database_url, slack_sim.url, genesys_server.url)
    try:
        await wait_for(
            engine,
            "SELECT count(*) FROM bridge_message WHERE direction = 'to_genesys' "
            "AND kind = 'message' AND status = 'delivered'",
            6,
            60,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    ids = [
        r.body["channel"]["messageId"]
        for r in genesys_world.inbound
        if r.endpoint == "message" and r.status == 200
    ]
    assert len(ids) == 6 and len(set(ids)) == 6  # nothing lost, nothing sent twice
    for person in PEOPLE:
        texts = [
            r.body["text"]
            for r in genesys_world.inbound
            if r.endpoint == "message" and r.body["channel"]["from"]["id"].endswith(person)
        ]
        assert texts == ["message 0", "message 1"]  # order kept per conversation
