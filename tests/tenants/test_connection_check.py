"""Test connection against the Genesys simulator, one switch at a time: each row is Pass only
for what it checked, and says what to do otherwise."""

from __future__ import annotations

import uuid

from app.db.models import GenesysConnection
from app.genesys.messages import PermissionPolicy
from app.tenants.connection_check import Check
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import (
    PERMISSION_CONVERSATION_VIEW,
    PERMISSION_DISCONNECT,
    PERMISSION_ROUTING,
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
)
from tests.tenants.test_onboarding import Setup, choose, connect, new_tenant, setup

__all__ = ["setup"]  # the fixture, shared with test_onboarding


def rows(checks: list[Check]) -> dict[str, str]:
    return {check.name: check.status for check in checks}


async def ready(setup: Setup, **credentials: str) -> uuid.UUID:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id, **credentials)
    await choose(
        setup, tenant_id, mentions=SANDBOX_MENTIONS_INTEGRATION_ID, dms=SANDBOX_DMS_INTEGRATION_ID
    )
    return tenant_id


def test_policies_honour_genesys_wildcards() -> None:
    def policy(entity: str, *actions: str) -> PermissionPolicy:
        return PermissionPolicy.model_validate(
            {"domain": "conversation", "entityName": entity, "actions": list(actions)}
        )

    assert policy("message", "receive").allows("conversation:message:receive")
    assert policy("*", "receive").allows("conversation:message:receive")
    assert policy("message", "*").allows("conversation:message:receive")
    assert not policy("message", "view").allows("conversation:message:receive")
    assert not policy("*", "*").allows("messaging:integration:view")


async def test_a_healthy_org_passes_every_row_it_can_check(setup: Setup) -> None:
    tenant_id = await ready(setup)
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert {name: status for name, status in rows(checks).items() if status != "pass"} == {
        "Webhook secret of Slack mentions": "skip",
        "Webhook secret of Slack DMs": "skip",
    }
    assert not any(record.endpoint == "message" for record in setup.world.inbound)


async def test_the_probe_is_only_a_warning_until_a_test_message_proves_it(setup: Setup) -> None:
    setup.world.config = GenesysConfig(
        subjects_me_answers_client_credentials=False, inbound_body_checked_before_permission=True
    )
    tenant_id = await ready(setup)
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    permissions = next(c for c in checks if c.name == "Permissions")
    assert (permissions.status, permissions.fix) == ("warning", permissions.fix)
    assert permissions.fix is not None and "test message" in permissions.fix
    async with setup.sessions() as session:
        row = await session.get(GenesysConnection, tenant_id)
    assert row is not None
    before = row.last_verified_at  # set when the credentials were verified, not by the test
    assert before is not None

    proven = await setup.onboarding.test_connection(tenant_id=tenant_id, send_test_message=True)
    assert rows(proven)["Permissions"] == "pass"
    assert rows(proven)["Test message"] == "pass"
    async with setup.sessions() as session:
        row = await session.get(GenesysConnection, tenant_id)
    assert row is not None and row.last_verified_at is not None
    assert row.last_verified_at > before


async def test_the_probe_names_a_missing_permission_from_the_403(setup: Setup) -> None:
    setup.world.config = GenesysConfig(subjects_me_answers_client_credentials=False)
    tenant_id = await ready(
        setup,
        client_id=SANDBOX_NO_RECEIVE_CLIENT_ID,
        client_secret=SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    )
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    permissions = next(c for c in checks if c.name == "Permissions")
    assert permissions.status == "fail"
    assert "conversation:message:receive" in permissions.detail
    probes = [r for r in setup.world.inbound if r.endpoint == "event"]
    assert [(r.status, r.body) for r in probes] == [(403, {})]


async def test_without_routing_permission_the_flow_is_a_warning(setup: Setup) -> None:
    tenant_id = await ready(setup)
    client = setup.world.clients[SANDBOX_ORG_CLIENT_ID]
    client.permissions = client.permissions - {PERMISSION_ROUTING}
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    flow = next(c for c in checks if c.name == "Message flow of Slack mentions")
    assert flow.status == "warning"
    assert flow.fix is not None and PERMISSION_ROUTING in flow.fix
    permissions = next(c for c in checks if c.name == "Permissions")
    assert permissions.status == "pass" and PERMISSION_ROUTING in permissions.detail


async def test_without_the_names_permission_agent_names_is_a_warning_not_a_fail(
    setup: Setup,
) -> None:
    tenant_id = await ready(setup)
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert rows(checks)["Agent names"] == "pass"
    client = setup.world.clients[SANDBOX_ORG_CLIENT_ID]
    client.permissions = client.permissions - {PERMISSION_CONVERSATION_VIEW}
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    names = next(c for c in checks if c.name == "Agent names")
    assert names.status == "warning"
    assert names.fix is not None and PERMISSION_CONVERSATION_VIEW in names.fix
    assert "fail" not in rows(checks).values()


async def test_without_the_disconnect_permission_conversation_end_warns(setup: Setup) -> None:
    tenant_id = await ready(setup)
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert rows(checks)["Conversation end"] == "pass"
    client = setup.world.clients[SANDBOX_ORG_CLIENT_ID]
    client.permissions = client.permissions - {PERMISSION_DISCONNECT}
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    ends = next(c for c in checks if c.name == "Conversation end")
    assert ends.status == "warning"
    assert "End chat" in ends.detail
    assert ends.fix is not None and PERMISSION_DISCONNECT in ends.fix
    assert "fail" not in rows(checks).values()


async def test_a_secret_genesys_shows_is_compared(setup: Setup) -> None:
    setup.world.config = GenesysConfig(return_secret_on_get=True)
    tenant_id = await ready(setup)
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert rows(checks)["Webhook secret of Slack mentions"] == "pass"
    setup.world.integrations[SANDBOX_DMS_INTEGRATION_ID].webhook_secret = "y" * 30
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    secret = next(c for c in checks if c.name == "Webhook secret of Slack DMs")
    assert secret.status == "fail"
    assert "y" * 30 not in f"{secret.detail} {secret.fix}"


async def test_manual_wiring_with_a_visible_secret_can_pass(setup: Setup) -> None:
    setup.world.config = GenesysConfig(return_secret_on_get=True)
    tenant_id = await new_tenant(setup)
    await connect(
        setup,
        tenant_id,
        client_id=SANDBOX_NO_EDIT_CLIENT_ID,
        client_secret=SANDBOX_NO_EDIT_CLIENT_SECRET,
    )
    wired = await choose(
        setup,
        tenant_id,
        mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
        dms=SANDBOX_MENTIONS_INTEGRATION_ID,
    )
    integration = setup.world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID]
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    # Nothing pasted yet: Genesys shows no secret, so it cannot be compared.
    assert rows(checks)["Webhook secret of Slack mentions"] == "warning"
    integration.webhook_url = setup.onboarding.webhook_url
    integration.webhook_secret = wired[0].secret_to_paste
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert rows(checks)["Webhook secret of Slack mentions"] == "pass"
    assert rows(checks)["Webhook of Slack mentions"] == "pass"


async def test_rows_after_a_broken_integration_are_skipped_not_passed(setup: Setup) -> None:
    tenant_id = await ready(setup)
    setup.world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID].create_status = "Error"
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    status = rows(checks)
    assert status["Integration Slack mentions"] == "fail"
    assert [status[f"{step} of Slack mentions"] for step in ("Message flow", "Webhook")] == [
        "skip",
        "skip",
    ]
    assert status["Message flow of Slack DMs"] == "pass"
