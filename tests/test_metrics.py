"""/metrics, /healthz and /readyz over HTTP against the real app and database."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.web.metrics import _delivery_latency
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
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = scraped.text
    # Parsed as Prometheus parses it, so label order and number format do not matter.
    samples = [s for f in text_string_to_metric_families(body) for s in f.samples]

    def value(name: str, **labels: str) -> float | None:
        found = [s.value for s in samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, (name, labels)
        return found[0] if found else None

    assert value("switchboard_messages", direction="to_genesys", status="pending") == 1
    assert value("switchboard_queue_depth") == 1
    assert value("switchboard_conversations_waiting") == 1
    assert value("switchboard_conversations_in_delivery") == 0  # no worker runs here
    per_tenant = [s for s in samples if s.name == "switchboard_tenant_messages"]
    assert [(s.labels["direction"], s.labels["status"], s.value) for s in per_tenant] == [
        ("to_genesys", "pending", 1)
    ]
    uuid.UUID(per_tenant[0].labels["tenant_id"])
    assert value("switchboard_ingest_latency_seconds_count", source="slack", status="200") == 1
    assert "Acme" not in body and "U0ACME0002" not in body


def test_delivery_latency_buckets_are_cumulative_per_direction() -> None:
    family = _delivery_latency([("to_slack", 0.2), ("to_genesys", 3.0), ("to_slack", 0.004)])
    samples = {(s.name, s.labels["direction"], s.labels.get("le")): s.value for s in family.samples}
    assert samples[("switchboard_delivery_latency_seconds_bucket", "to_slack", "0.005")] == 1
    assert samples[("switchboard_delivery_latency_seconds_bucket", "to_slack", "0.25")] == 2
    assert samples[("switchboard_delivery_latency_seconds_bucket", "to_slack", "+Inf")] == 2
    assert samples[("switchboard_delivery_latency_seconds_bucket", "to_genesys", "2.5")] == 0
    assert samples[("switchboard_delivery_latency_seconds_bucket", "to_genesys", "5.0")] == 1
    assert samples[("switchboard_delivery_latency_seconds_count", "to_genesys", None)] == 1
    assert samples[("switchboard_delivery_latency_seconds_sum", "to_slack", None)] == pytest.approx(
        0.204
    )
