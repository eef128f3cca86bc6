from __future__ import annotations

import pytest

from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import Clock, genesys_session

OPEN = "/api/v2/conversations/messaging/integrations/open"
SECRET = "a-secret-of-24-characters"


async def test_list_is_paged_and_only_shows_the_clients_org() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        first = (await http.get(f"{OPEN}?pageSize=2&pageNumber=1", headers=auth)).json()
        second = (await http.get(f"{OPEN}?pageSize=2&pageNumber=2", headers=auth)).json()
    ids = {e["id"] for e in first["entities"] + second["entities"]}
    assert ids == {
        SANDBOX_MENTIONS_INTEGRATION_ID,
        SANDBOX_DMS_INTEGRATION_ID,
        SANDBOX_PENDING_INTEGRATION_ID,
    }
    assert SANDBOX_OTHER_MENTIONS_INTEGRATION_ID not in ids
    assert (first["pageSize"], first["pageNumber"], first["total"], first["pageCount"]) == (
        2,
        1,
        3,
        2,
    )
    assert first["nextUri"] == second["selfUri"]
    assert second["previousUri"] == first["selfUri"]
    assert first["firstUri"] == second["firstUri"]
    assert first["lastUri"] == second["selfUri"]
    assert "nextUri" not in second


async def test_get_shows_status_and_recipient_but_not_the_secret_by_default() -> None:
    world = GenesysWorld.seeded(webhook_url="https://bridge.test/genesys", webhook_secret=SECRET)
    async with genesys_session(world) as (http, auth):
        response = await http.get(f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}", headers=auth)
    body = response.json()
    assert response.status_code == 200
    assert body["createStatus"] == "Completed"
    assert body["outboundNotificationWebhookUrl"] == "https://bridge.test/genesys"
    assert body["recipient"]["selfUri"].startswith("/api/v2/routing/message/recipients/")
    assert body["selfUri"] == f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}"
    assert "outboundNotificationWebhookSignatureSecretToken" not in body


async def test_get_returns_the_secret_when_switched_on() -> None:
    world = GenesysWorld.seeded(
        config=GenesysConfig(return_secret_on_get=True), webhook_secret=SECRET
    )
    async with genesys_session(world) as (http, auth):
        body = (await http.get(f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}", headers=auth)).json()
    assert body["outboundNotificationWebhookSignatureSecretToken"] == SECRET


@pytest.mark.parametrize(
    "integration_id",
    ["00000000-0000-4000-8000-000000000000", SANDBOX_OTHER_MENTIONS_INTEGRATION_ID],
)
async def test_get_of_unknown_or_foreign_integration_is_404(integration_id: str) -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.get(f"{OPEN}/{integration_id}", headers=auth)
    assert response.status_code == 404
    assert response.json()["code"] == "not.found"


async def test_patch_sets_webhook_url_secret_headers_and_name() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        response = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={
                "name": "Slack DMs (Acme)",
                "outboundNotificationWebhookUrl": "https://bridge.test/genesys/acme",
                "outboundNotificationWebhookSignatureSecretToken": SECRET,
                "webhookHeaders": {"X-Bridge-Tenant": "acme"},
            },
        )
    body = response.json()
    assert response.status_code == 200
    assert body["name"] == "Slack DMs (Acme)"
    assert body["outboundNotificationWebhookUrl"] == "https://bridge.test/genesys/acme"
    assert body["webhookHeaders"] == {"X-Bridge-Tenant": "acme"}
    assert world.integrations[SANDBOX_DMS_INTEGRATION_ID].webhook_secret == SECRET


async def test_patch_without_name_is_refused_as_genesys_does() -> None:
    """OpenIntegrationUpdateRequest requires `name`; the body is left untouched on a 400."""
    world = GenesysWorld.seeded(webhook_secret=SECRET)
    async with genesys_session(world) as (http, auth):
        response = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={
                "outboundNotificationWebhookUrl": "https://bridge.test/new",
                "outboundNotificationWebhookSignatureSecretToken": "y" * 32,
            },
        )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"]) == ("bad.request", 400)
    assert body["message"] == "should have required property 'name'"
    assert body["details"] == [{"errorCode": "bad.request", "fieldName": "name"}]
    assert body["contextId"]
    integration = world.integrations[SANDBOX_DMS_INTEGRATION_ID]
    assert (integration.webhook_secret, integration.webhook_url) == (SECRET, None)


@pytest.mark.parametrize("secret", ["", "short", "exactly-15-chars"[:15]])
async def test_patch_refuses_a_secret_of_15_characters_or_fewer(secret: str) -> None:
    world = GenesysWorld.seeded(webhook_secret=SECRET)
    async with genesys_session(world) as (http, auth):
        response = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={
                "name": "Slack DMs",
                "outboundNotificationWebhookUrl": "https://bridge.test/new",
                "outboundNotificationWebhookSignatureSecretToken": secret,
            },
        )
    assert response.status_code == 400
    assert response.json()["code"] == "bad.request"
    integration = world.integrations[SANDBOX_DMS_INTEGRATION_ID]
    assert (integration.webhook_secret, integration.webhook_url) == (SECRET, None)


async def test_patch_accepts_a_secret_of_16_characters() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        response = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={"name": "Slack DMs", "outboundNotificationWebhookSignatureSecretToken": "x" * 16},
        )
    assert response.status_code == 200


async def test_https_only_webhook_is_a_switch() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(require_https_webhook=True))
    async with genesys_session(world) as (http, auth):
        plain = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={
                "name": "Slack DMs",
                "outboundNotificationWebhookUrl": "http://127.0.0.1:8000/genesys",
            },
        )
        https = await http.patch(
            f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}",
            headers=auth,
            json={
                "name": "Slack DMs",
                "outboundNotificationWebhookUrl": "https://bridge.test/genesys",
            },
        )
    assert (plain.status_code, https.status_code) == (400, 200)


async def test_create_starts_initiated_and_completes_after_the_delay() -> None:
    clock = Clock()
    world = GenesysWorld.seeded(
        config=GenesysConfig(integration_create_delay_seconds=30), clock=clock
    )
    async with genesys_session(world) as (http, auth):
        created = await http.post(
            OPEN,
            headers=auth,
            json={
                "name": "Slack - new workspace",
                "outboundNotificationWebhookUrl": "https://bridge.test/genesys/new",
                "outboundNotificationWebhookSignatureSecretToken": SECRET,
            },
        )
        integration_id = created.json()["id"]
        early = (await http.get(f"{OPEN}/{integration_id}", headers=auth)).json()
        inbound = f"/api/v2/conversations/messages/{integration_id}/inbound/open/message"
        body = {"channel": {"from": {"id": "U1"}}, "text": "hi"}
        refused = await http.post(inbound, headers=auth, json=body)
        clock.now += 31
        late = (await http.get(f"{OPEN}/{integration_id}", headers=auth)).json()
        accepted = await http.post(inbound, headers=auth, json=body)
    assert created.status_code == 200
    assert created.json()["createStatus"] == "Initiated"
    assert early["createStatus"] == "Initiated"
    assert "recipient" not in early
    assert refused.status_code == 404
    assert late["createStatus"] == "Completed"
    assert "recipient" in late
    assert accepted.status_code == 200


async def test_create_can_end_in_error() -> None:
    config = GenesysConfig(integration_create_delay_seconds=0, integration_create_result="Error")
    async with genesys_session(GenesysWorld.seeded(config=config)) as (http, auth):
        created = await http.post(
            OPEN,
            headers=auth,
            json={
                "name": "Slack - broken",
                "outboundNotificationWebhookUrl": "https://bridge.test/genesys/x",
                "outboundNotificationWebhookSignatureSecretToken": SECRET,
            },
        )
        body = (await http.get(f"{OPEN}/{created.json()['id']}", headers=auth)).json()
    assert body["createStatus"] == "Error"
    assert body["createError"]["code"]


async def test_create_requires_webhook_and_a_long_secret() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        missing = await http.post(OPEN, headers=auth, json={"name": "x"})
        short = await http.post(
            OPEN,
            headers=auth,
            json={
                "name": "x",
                "outboundNotificationWebhookUrl": "https://bridge.test/genesys/x",
                "outboundNotificationWebhookSignatureSecretToken": "too-short",
            },
        )
    assert (missing.status_code, short.status_code) == (400, 400)
    assert len(world.integrations) == 4
