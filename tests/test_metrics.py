"""/metrics, /healthz and /readyz over HTTP against the real app and database."""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
)
from sandbox.slack_events import EventSender
from sandbox.slack_payloads import build_dm
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld
from tests.harness import APP_BASE, connect_genesys, in_process, install


async def test_health_endpoints_are_cheap_and_carry_no_secrets(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["database"] == "up" and ready.json()["queue"] == "up"
    assert "secret" not in ready.text.lower()


async def test_metrics_need_the_token(database_url: str, app_settings: Settings) -> None:
    off = app_settings.model_copy(update={"metrics_token": SecretStr("")})
    async with in_process(off) as client:
        assert (await client.get("/metrics")).status_code == 404
    on = app_settings.model_copy(update={"metrics_token": SecretStr("m" * 24)})
    async with in_process(on) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401


async def test_metrics_count_traffic_per_direction_and_tenant(
    app_settings: Settings,
    slack_world: SlackWorld,
    genesys_transport: httpx.AsyncBaseTransport,
    engine: AsyncEngine,
) -> None:
    settings = app_settings.model_copy(update={"metrics_token": SecretStr("m" * 24)})
    async with in_process(settings, genesys_transport=genesys_transport) as client:
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
        await sender.send(
            build_dm(slack_world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="x")
        )
        scraped = await client.get("/metrics", headers={"authorization": f"Bearer {'m' * 24}"})
    assert scraped.status_code == 200
    body = scraped.text
    assert 'switchboard_messages{direction="to_genesys",status="pending"} 1' in body
    assert "switchboard_queue_depth 1" in body
    assert "switchboard_queue_jobs 1" in body
    assert 'switchboard_tenant_messages{tenant_id="' in body
    assert 'switchboard_ingest_latency_seconds_count{source="slack",status="200"} 1' in body
    assert "Acme" not in body and "U0ACME0002" not in body
