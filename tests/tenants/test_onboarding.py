"""Connecting a Genesys org: every bad input is refused with a field message and saves nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import AuditEvent, GenesysConnection, GenesysIntegration
from app.genesys.clients import GenesysClients
from app.signing import verify_genesys
from app.tenants.integrations import FieldErrors, WiredIntegration
from app.tenants.onboarding import Onboarding
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_NO_RECEIVE_CLIENT_ID,
    SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
    SANDBOX_PENDING_INTEGRATION_ID,
    GenesysWorld,
)
from tests.factories import make_settings, make_tenant

Sessions = async_sessionmaker[AsyncSession]


class Setup:
    def __init__(self, settings: Settings, sessions: Sessions) -> None:
        self.world = GenesysWorld.seeded()
        self.box = SecretBox(settings.keys)
        self.clients = GenesysClients()
        self.sessions = sessions
        self.onboarding = Onboarding(
            settings,
            sessions=sessions,
            box=self.box,
            clients=self.clients,
            transport=httpx.ASGITransport(app=create_genesys_sandbox(self.world)),
        )


@pytest.fixture
async def setup(database_url: str, sessions: Sessions) -> Setup:
    settings = make_settings(
        database_url,
        genesys_api_url="http://genesys.sim",
        genesys_login_url="http://genesys.sim",
    )
    return Setup(settings, sessions)


async def new_tenant(setup: Setup) -> uuid.UUID:
    async with setup.sessions.begin() as session:
        return (await make_tenant(session)).id


async def connect(setup: Setup, tenant_id: uuid.UUID, **overrides: str) -> list[str]:
    values = {
        "region": "us_east_1",
        "client_id": SANDBOX_ORG_CLIENT_ID,
        "client_secret": SANDBOX_ORG_CLIENT_SECRET,
    }
    values.update(overrides)
    return await setup.onboarding.connect(
        tenant_id=tenant_id, actor_slack_user_id="U0ADMIN", **values
    )


async def choose(
    setup: Setup, tenant_id: uuid.UUID, *, mentions: str, dms: str
) -> list[WiredIntegration]:
    """What the setup page submits: the admin's two picks, with consent to wire them."""
    return await setup.onboarding.choose_integrations(
        tenant_id=tenant_id,
        actor_slack_user_id="U0ADMIN",
        mentions_integration_id=mentions,
        dms_integration_id=dms,
        auto_wire=True,
    )


async def saved_connection(setup: Setup, tenant_id: uuid.UUID) -> GenesysConnection | None:
    async with setup.sessions() as session:
        return await session.get(GenesysConnection, tenant_id)


async def test_valid_credentials_are_saved_encrypted_and_audited(setup: Setup) -> None:
    tenant_id = await new_tenant(setup)
    changed = await connect(setup, tenant_id)
    assert changed == ["region", "client_id", "client_secret"]
    row = await saved_connection(setup, tenant_id)
    assert row is not None and row.region == "us_east_1"
    async with setup.sessions() as session:
        dump = (
            await session.execute(text("SELECT row_to_json(g)::text FROM genesys_connection g"))
        ).scalar_one()
        audit = (await session.execute(select(AuditEvent))).scalars().all()
    assert SANDBOX_ORG_CLIENT_SECRET not in dump
    assert [(a.action, a.actor_slack_user_id, a.fields) for a in audit] == [
        ("genesys.credentials_changed", "U0ADMIN", ["region", "client_id", "client_secret"])
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region": "mars_north_1"}, "region"),
        ({"region": ""}, "region"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_secret": "wrong-secret"}, "client_secret"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "client_secret"),
    ],
)
async def test_bad_credentials_are_refused_and_nothing_is_saved(
    setup: Setup, overrides: dict[str, str], field: str
) -> None:
    tenant_id = await new_tenant(setup)
    with pytest.raises(FieldErrors) as caught:
        await connect(setup, tenant_id, **overrides)
    assert field in caught.value.errors
    assert caught.value.errors[field]
    assert await saved_connection(setup, tenant_id) is None


async def test_blank_secret_keeps_the_stored_one_and_a_change_drops_the_cached_client(
    setup: Setup,
) -> None:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id)
    first = await setup.onboarding.client_for(tenant_id)
    assert first is not None
    await first.list_integrations()
    assert await connect(setup, tenant_id, client_secret="") == []
    assert await setup.onboarding.client_for(tenant_id) is first  # nothing changed
    await connect(
        setup,
        tenant_id,
        client_id=SANDBOX_NO_EDIT_CLIENT_ID,
        client_secret=SANDBOX_NO_EDIT_CLIENT_SECRET,
    )
    second = await setup.onboarding.client_for(tenant_id)
    assert second is not first and first.is_closed
    row = await saved_connection(setup, tenant_id)
    assert row is not None and row.credentials_version == 2


async def test_integrations_are_wired_automatically_with_a_strong_secret(setup: Setup) -> None:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id)
    choices = await setup.onboarding.available_integrations(tenant_id)
    assert choices.listed
    assert SANDBOX_MENTIONS_INTEGRATION_ID in {i.id for i in choices.integrations}
    wired = await choose(
        setup, tenant_id, mentions=SANDBOX_MENTIONS_INTEGRATION_ID, dms=SANDBOX_DMS_INTEGRATION_ID
    )
    assert [w.wiring for w in wired] == ["auto", "auto"]
    assert all(w.secret_to_paste is None for w in wired)
    sim = setup.world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID]
    assert sim.webhook_url == "https://switchboard.test/genesys/webhook"
    assert sim.webhook_secret is not None and len(sim.webhook_secret) > 15
    async with setup.sessions() as session:
        rows = (await session.execute(select(GenesysIntegration))).scalars().all()
    stored = {r.genesys_integration_id: r for r in rows}
    assert stored[SANDBOX_MENTIONS_INTEGRATION_ID].for_mentions
    assert not stored[SANDBOX_MENTIONS_INTEGRATION_ID].for_dms
    assert stored[SANDBOX_DMS_INTEGRATION_ID].for_dms
    secret = setup.box.decrypt(
        stored[SANDBOX_MENTIONS_INTEGRATION_ID].webhook_secret_enc,
        tenant_id=tenant_id,
        purpose=GENESYS_WEBHOOK_SECRET,
    )
    assert secret == sim.webhook_secret
    assert sim.webhook_secret not in stored[SANDBOX_MENTIONS_INTEGRATION_ID].webhook_secret_enc
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id, send_test_message=True)
    # Genesys does not show the secret by default, so it is not compared: Skipped, never Pass.
    assert [(c.name, c.status) for c in checks if c.status != "pass"] == [
        ("Webhook secret of Slack mentions", "skip"),
        ("Webhook secret of Slack DMs", "skip"),
    ]
    assert any(c.name == "Test message" for c in checks)


async def test_one_integration_can_serve_both_mentions_and_dms(setup: Setup) -> None:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id)
    wired = await choose(
        setup, tenant_id, mentions=SANDBOX_DMS_INTEGRATION_ID, dms=SANDBOX_DMS_INTEGRATION_ID
    )
    assert [(w.genesys_integration_id, w.purposes) for w in wired] == [
        (SANDBOX_DMS_INTEGRATION_ID, ["mentions", "dms"])
    ]


async def test_without_edit_permission_the_admin_gets_values_to_paste(setup: Setup) -> None:
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
    assert wired[0].wiring == "manual"
    assert wired[0].reason is not None and "messaging:integration:edit" in wired[0].reason
    secret = wired[0].secret_to_paste
    assert secret is not None and len(secret) > 15
    # The shown secret is the one stored: a webhook signed with it will verify.
    async with setup.sessions() as session:
        row = await session.get(GenesysIntegration, SANDBOX_MENTIONS_INTEGRATION_ID)
    assert row is not None
    stored = setup.box.decrypt(
        row.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
    )
    assert verify_genesys(stored, signature=_sign(secret, b"{}"), body=b"{}")
    # Until the admin pastes it, the test names the webhook as the failing step.
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    failing = [c for c in checks if c.status == "fail"]
    assert [c.name.split(" ")[0] for c in failing] == ["Webhook"]
    assert failing[0].fix is not None and "/genesys/webhook" in failing[0].fix


def _sign(secret: str, body: bytes) -> str:
    from app.signing import genesys_signature

    return genesys_signature(secret, body)


@pytest.mark.parametrize(
    ("mentions", "dms", "field", "phrase"),
    [
        ("", SANDBOX_DMS_INTEGRATION_ID, "mentions_integration_id", "Choose"),
        ("not an id!", SANDBOX_DMS_INTEGRATION_ID, "mentions_integration_id", "not an integration"),
        (str(uuid.uuid4()), SANDBOX_DMS_INTEGRATION_ID, "mentions_integration_id", "No Open"),
        (SANDBOX_MENTIONS_INTEGRATION_ID, SANDBOX_PENDING_INTEGRATION_ID, "dms_integration_id", ""),
        (
            SANDBOX_OTHER_MENTIONS_INTEGRATION_ID,
            SANDBOX_DMS_INTEGRATION_ID,
            "mentions_integration_id",
            "No Open",
        ),
    ],
)
async def test_bad_integrations_are_refused_and_nothing_is_saved(
    setup: Setup, mentions: str, dms: str, field: str, phrase: str
) -> None:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id)
    with pytest.raises(FieldErrors) as caught:
        await choose(setup, tenant_id, mentions=mentions, dms=dms)
    assert phrase in caught.value.errors[field]
    async with setup.sessions() as session:
        assert (await session.execute(select(GenesysIntegration))).first() is None
    assert setup.world.integrations[SANDBOX_DMS_INTEGRATION_ID].webhook_url is None


async def test_an_integration_of_another_tenant_is_refused(setup: Setup) -> None:
    first, second = await new_tenant(setup), await new_tenant(setup)
    for tenant_id in (first, second):
        await connect(setup, tenant_id)
    await choose(
        setup, first, mentions=SANDBOX_MENTIONS_INTEGRATION_ID, dms=SANDBOX_MENTIONS_INTEGRATION_ID
    )
    with pytest.raises(FieldErrors) as caught:
        await choose(
            setup, second, mentions=SANDBOX_MENTIONS_INTEGRATION_ID, dms=SANDBOX_DMS_INTEGRATION_ID
        )
    assert "another workspace" in caught.value.errors["mentions_integration_id"]


async def test_missing_receive_permission_is_named_by_the_test(setup: Setup) -> None:
    tenant_id = await new_tenant(setup)
    await connect(
        setup,
        tenant_id,
        client_id=SANDBOX_NO_RECEIVE_CLIENT_ID,
        client_secret=SANDBOX_NO_RECEIVE_CLIENT_SECRET,
    )
    await choose(
        setup,
        tenant_id,
        mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
        dms=SANDBOX_MENTIONS_INTEGRATION_ID,
    )
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id, send_test_message=True)
    permissions = next(c for c in checks if c.name == "Permissions")
    assert permissions.status == "fail"
    assert "conversation:message:receive" in permissions.detail


async def test_webhook_pointing_elsewhere_fails_the_test(setup: Setup) -> None:
    tenant_id = await new_tenant(setup)
    await connect(setup, tenant_id)
    await choose(
        setup,
        tenant_id,
        mentions=SANDBOX_MENTIONS_INTEGRATION_ID,
        dms=SANDBOX_MENTIONS_INTEGRATION_ID,
    )
    setup.world.integrations[SANDBOX_MENTIONS_INTEGRATION_ID].webhook_url = "https://elsewhere"
    checks = await setup.onboarding.test_connection(tenant_id=tenant_id)
    assert [c.status for c in checks if c.name.startswith("Webhook of")] == ["fail"]


async def test_test_connection_without_a_connection_says_what_to_do(setup: Setup) -> None:
    checks = await setup.onboarding.test_connection(tenant_id=await new_tenant(setup))
    assert [(c.name, c.status) for c in checks] == [("Token grant", "fail")]
    assert checks[0].fix
