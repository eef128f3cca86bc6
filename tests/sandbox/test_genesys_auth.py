from __future__ import annotations

from typing import Any

import pytest

from app.genesys.errors import GenesysPermissionError, error_for_response
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from tests.sandbox.simulators import Clock, basic, genesys_client, login

INBOUND = f"/api/v2/conversations/messages/{SANDBOX_DMS_INTEGRATION_ID}/inbound/open/message"
INTEGRATION = f"/api/v2/conversations/messaging/integrations/open/{SANDBOX_DMS_INTEGRATION_ID}"


def text_body(message_id: str = "m-1") -> dict[str, Any]:
    return {"channel": {"messageId": message_id, "from": {"id": "T1:U1"}}, "text": "hi"}


TEXT = text_body()


async def test_client_credentials_grant_returns_a_bearer_token() -> None:
    world = GenesysWorld.seeded()
    async with genesys_client(world) as http:
        response = await http.post(
            "/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 1}


async def test_token_ttl_follows_the_config_switch() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(token_ttl_seconds=300))
    async with genesys_client(world) as http:
        response = await http.post(
            "/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
    assert response.json()["expires_in"] == 300


async def test_wrong_secret_gets_invalid_client_in_oauth_shape() -> None:
    world = GenesysWorld.seeded()
    async with genesys_client(world) as http:
        response = await http.post(
            "/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, "not-the-secret"),
            data={"grant_type": "client_credentials"},
        )
    body = response.json()
    assert response.status_code == 401
    assert body["error"] == "invalid_client"
    assert body["description"] == body["error_description"]
    assert world.stats.token_grants == {}


async def test_bad_credentials_status_is_switchable_to_400() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(bad_credentials_status=400))
    async with genesys_client(world) as http:
        response = await http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


async def test_other_grant_types_are_unsupported() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        response = await http.post(
            "/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET),
            data={"grant_type": "password"},
        )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_expired_token_gets_401_error_body() -> None:
    clock = Clock()
    world = GenesysWorld.seeded(config=GenesysConfig(token_ttl_seconds=300), clock=clock)
    async with genesys_client(world) as http:
        headers = await login(http)
        assert (await http.post(INBOUND, headers=headers, json=TEXT)).status_code == 200
        clock.now += 301
        response = await http.post(INBOUND, headers=headers, json=TEXT)
    body = response.json()
    assert response.status_code == 401
    assert body["code"] == "bad.credentials"
    assert body["status"] == 401
    assert set(body) == {"message", "code", "status", "contextId", "details", "errors"}


async def test_missing_bearer_token_is_401() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        response = await http.post(INBOUND, json=TEXT)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication.required"


async def test_missing_receive_permission_is_403_naming_it() -> None:
    world = GenesysWorld.seeded()
    async with genesys_client(world) as http:
        headers = await login(http, SANDBOX_NO_RECEIVE_CLIENT_ID, SANDBOX_NO_RECEIVE_CLIENT_SECRET)
        response = await http.post(INBOUND, headers=headers, json=TEXT)
    body = response.json()
    assert response.status_code == 403
    assert body["code"] == "missing.permissions"
    assert "[conversation:message:receive]" in body["message"]
    assert world.conversations == {}


@pytest.mark.parametrize("code", ["missing.permissions", "not.authorized"])
async def test_the_code_of_a_missing_permission_403_is_a_switch_the_product_does_not_read(
    code: str,
) -> None:
    """The ErrorBody `code` of that 403 is UNCONFIRMED (`missing_permission_code`); with either
    one the product finds the missing permission by its name in `message`."""
    world = GenesysWorld.seeded()
    world.config.missing_permission_code = code
    async with genesys_client(world) as http:
        headers = await login(http, SANDBOX_NO_RECEIVE_CLIENT_ID, SANDBOX_NO_RECEIVE_CLIENT_SECRET)
        response = await http.post(INBOUND, headers=headers, json=TEXT)
    assert response.status_code == 403
    assert response.json()["code"] == code
    error = error_for_response(response, operation="send message")
    assert isinstance(error, GenesysPermissionError)
    assert error.missing_permissions == ["conversation:message:receive"]


async def test_missing_edit_permission_is_403_on_patch_but_view_still_works() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        headers = await login(http, SANDBOX_NO_EDIT_CLIENT_ID, SANDBOX_NO_EDIT_CLIENT_SECRET)
        patched = await http.patch(INTEGRATION, headers=headers, json={"name": "renamed"})
        viewed = await http.get(INTEGRATION, headers=headers)
    assert patched.status_code == 403
    assert patched.json()["message"] == (
        "You are missing the following permission(s): [messaging:integration:edit]"
    )
    assert viewed.status_code == 200
    assert viewed.json()["name"] == "Slack DMs"


async def test_one_token_serves_many_messages() -> None:
    world = GenesysWorld.seeded()
    async with genesys_client(world) as http:
        headers = await login(http)
        for n in range(5):
            sent = await http.post(INBOUND, headers=headers, json=text_body(f"m-{n}"))
            assert sent.status_code == 200
        stats = (await http.get("/_sandbox/stats")).json()
    assert stats["token_grants"] == {SANDBOX_ORG_CLIENT_ID: 1}
    assert stats["tokens_per_message"] == 0.2


async def test_optional_rate_limit_answers_429_with_retry_after() -> None:
    world = GenesysWorld.seeded(config=GenesysConfig(rate_limit_per_minute=2))
    async with genesys_client(world) as http:
        headers = await login(http)
        statuses = [(await http.post(INBOUND, headers=headers, json=TEXT)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "too.many.requests"
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert world.stats.rate_limited == 1
