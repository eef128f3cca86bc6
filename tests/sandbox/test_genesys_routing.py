"""Recipients and flows, the caller's permissions, and an org admin's edits through the control
API: what Test connection reads, and how tests change it behind the bridge's back."""

from __future__ import annotations

import pytest

from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    PERMISSION_RECEIVE,
    PERMISSION_ROUTING,
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_FLOW_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from tests.sandbox.simulators import genesys_client, genesys_session, login

OPEN = "/api/v2/conversations/messaging/integrations/open"
RECIPIENTS = "/api/v2/routing/message/recipients"
SUBJECTS_ME = "/api/v2/authorization/subjects/me"
EVENT = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open/event"


async def test_a_seeded_integrations_recipient_has_its_flow() -> None:
    async with genesys_session(GenesysWorld.seeded()) as (http, auth):
        integration = (await http.get(f"{OPEN}/{SANDBOX_DMS_INTEGRATION_ID}", headers=auth)).json()
        recipient = await http.get(integration["recipient"]["selfUri"], headers=auth)
    assert recipient.status_code == 200
    body = recipient.json()
    assert body["id"] == integration["recipient"]["id"]
    assert body["flow"]["id"] == SANDBOX_FLOW_ID
    assert body["flow"]["name"]


async def test_unbinding_the_flow_through_the_control_api_removes_it() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        unbound = await http.patch(
            f"/_sandbox/integrations/{SANDBOX_DMS_INTEGRATION_ID}", json={"flow": None}
        )
        assert unbound.status_code == 200, unbound.text
        recipient_id = world.integrations[SANDBOX_DMS_INTEGRATION_ID].recipient_id
        body = (await http.get(f"{RECIPIENTS}/{recipient_id}", headers=auth)).json()
        assert "flow" not in body
        rebound = await http.patch(
            f"/_sandbox/integrations/{SANDBOX_DMS_INTEGRATION_ID}",
            json={"flow": {"id": "f-2", "name": "Other flow"}},
        )
        assert rebound.status_code == 200
        body = (await http.get(f"{RECIPIENTS}/{recipient_id}", headers=auth)).json()
    assert body["flow"]["id"] == "f-2"


@pytest.mark.parametrize(
    "integration_id",
    [SANDBOX_OTHER_MENTIONS_INTEGRATION_ID, SANDBOX_PENDING_INTEGRATION_ID, "no-such-recipient"],
)
async def test_a_foreign_unfinished_or_unknown_recipient_is_404(integration_id: str) -> None:
    world = GenesysWorld.seeded()
    integration = world.integrations.get(integration_id)
    recipient_id = integration.recipient_id if integration else integration_id
    async with genesys_session(world) as (http, auth):
        response = await http.get(f"{RECIPIENTS}/{recipient_id}", headers=auth)
    assert response.status_code == 404
    assert response.json()["code"] == "not.found"


async def test_reading_a_recipient_needs_routing_message_manage() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        removed = await http.patch(
            f"/_sandbox/clients/{SANDBOX_ORG_CLIENT_ID}",
            json={"remove_permissions": [PERMISSION_ROUTING]},
        )
        assert removed.status_code == 200
        recipient_id = world.integrations[SANDBOX_DMS_INTEGRATION_ID].recipient_id
        response = await http.get(f"{RECIPIENTS}/{recipient_id}", headers=auth)
    assert response.status_code == 403
    assert PERMISSION_ROUTING in response.json()["message"]


async def test_subjects_me_lists_the_clients_permissions_as_role_policies() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        auth = await login(http, SANDBOX_NO_RECEIVE_CLIENT_ID, SANDBOX_NO_RECEIVE_CLIENT_SECRET)
        response = await http.get(SUBJECTS_ME, headers=auth)
    assert response.status_code == 200
    held = {
        f"{policy['domain']}:{policy['entityName']}:{action}"
        for grant in response.json()["grants"]
        for policy in grant["role"]["policies"]
        for action in policy["actions"]
    }
    assert "messaging:integration:view" in held
    assert PERMISSION_RECEIVE not in held


async def test_subjects_me_can_refuse_client_credentials() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(subjects_me_answers_client_credentials=False))
    async with genesys_session(world) as (http, auth):
        response = await http.get(SUBJECTS_ME, headers=auth)
        anonymous = await http.get(SUBJECTS_ME)
    assert response.status_code == 400
    assert "user context" in response.json()["message"]
    assert anonymous.status_code == 401


async def test_removing_a_permission_makes_inbound_calls_403_with_genesys_error_body() -> None:
    world = GenesysWorld.seeded()
    async with genesys_session(world) as (http, auth):
        await http.patch(
            f"/_sandbox/clients/{SANDBOX_ORG_CLIENT_ID}",
            json={"remove_permissions": [PERMISSION_RECEIVE]},
        )
        response = await http.post(EVENT, headers=auth, json={})
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "missing.permissions"
    assert PERMISSION_RECEIVE in body["message"]
    assert set(body) >= {"message", "code", "status", "contextId", "details", "errors"}


@pytest.mark.parametrize(("body_first", "status"), [(False, 403), (True, 400)])
async def test_the_order_of_body_and_permission_checks_is_a_switch(
    body_first: bool, status: int
) -> None:
    world = GenesysWorld.seeded(
        config=GenesysConfig(inbound_body_checked_before_permission=body_first)
    )
    async with genesys_client(world) as http:
        auth = await login(http, SANDBOX_NO_RECEIVE_CLIENT_ID, SANDBOX_NO_RECEIVE_CLIENT_SECRET)
        invalid = await http.post(EVENT, headers=auth, json={})
        valid = await http.post(
            EVENT,
            headers=auth,
            json={
                "channel": {
                    "from": {"id": "T1:U1", "idType": "Opaque"},
                    "time": "2026-01-01T00:00:00Z",
                },
                "events": [{"eventType": "Typing"}],
            },
        )
    assert invalid.status_code == status
    assert valid.status_code == 403


async def test_control_api_refuses_unknown_permissions_and_fields() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        unknown = await http.patch(
            f"/_sandbox/clients/{SANDBOX_ORG_CLIENT_ID}", json={"permissions": ["no:such:thing"]}
        )
        extra = await http.patch(
            f"/_sandbox/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}", json={"colour": "red"}
        )
        missing = await http.patch("/_sandbox/clients/nobody", json={})
    assert unknown.status_code == 422
    assert extra.status_code == 422
    assert missing.status_code == 404


async def test_control_api_changes_the_webhook_behind_the_bridges_back() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(return_secret_on_get=True))
    async with genesys_session(world) as (http, auth):
        changed = await http.patch(
            f"/_sandbox/integrations/{SANDBOX_MENTIONS_INTEGRATION_ID}",
            json={"webhook_url": "https://elsewhere.test/hook", "webhook_secret": "x" * 20},
        )
        assert changed.status_code == 200
        body = (await http.get(f"{OPEN}/{SANDBOX_MENTIONS_INTEGRATION_ID}", headers=auth)).json()
    assert body["outboundNotificationWebhookUrl"] == "https://elsewhere.test/hook"
    assert body["outboundNotificationWebhookSignatureSecretToken"] == "x" * 20
