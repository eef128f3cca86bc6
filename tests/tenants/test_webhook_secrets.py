"""Webhook secrets in onboarding: made only when an integration is first wired or rotated on
request; integrations switched away from are kept until retired."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.models import AuditEvent, GenesysIntegration
from app.genesys.clients import GenesysClients
from app.tenants import store
from app.tenants.integrations import WiredIntegration
from app.tenants.onboarding import Onboarding
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET
from app.tenants.webhook_secrets import (
    PREVIOUS_SECRET_GRACE,
    IntegrationNotFound,
    RotationFailed,
    RotationUnfinished,
)
from sandbox.faults import FaultSpec
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_MENTIONS_INTEGRATION_ID,
    SANDBOX_NO_EDIT_CLIENT_ID,
    SANDBOX_NO_EDIT_CLIENT_SECRET,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from tests.factories import make_settings, make_tenant

Sessions = async_sessionmaker[AsyncSession]
MENTIONS, DMS = SANDBOX_MENTIONS_INTEGRATION_ID, SANDBOX_DMS_INTEGRATION_ID


class Setup:
    def __init__(self, database_url: str, sessions: Sessions) -> None:
        settings = make_settings(
            database_url,
            genesys_api_url="http://genesys.sim",
            genesys_login_url="http://genesys.sim",
        )
        self.world = GenesysWorld.seeded()
        self.box = SecretBox(settings.keys)
        self.sessions = sessions
        self.onboarding = Onboarding(
            settings,
            sessions=sessions,
            box=self.box,
            clients=GenesysClients(),
            transport=httpx.ASGITransport(app=create_genesys_sandbox(self.world)),
        )
        self.tenant_id = uuid.uuid4()

    async def connect(self, *, can_edit: bool = True) -> None:
        async with self.sessions.begin() as session:
            self.tenant_id = (await make_tenant(session)).id
        await self.onboarding.connect(
            tenant_id=self.tenant_id,
            actor_slack_user_id="U0ADMIN",
            region="us_east_1",
            client_id=SANDBOX_ORG_CLIENT_ID if can_edit else SANDBOX_NO_EDIT_CLIENT_ID,
            client_secret=SANDBOX_ORG_CLIENT_SECRET if can_edit else SANDBOX_NO_EDIT_CLIENT_SECRET,
        )

    async def choose(
        self, *, mentions: str = MENTIONS, dms: str = DMS, auto_wire: bool = True
    ) -> list[WiredIntegration]:
        return await self.onboarding.choose_integrations(
            tenant_id=self.tenant_id,
            actor_slack_user_id="U0ADMIN",
            mentions_integration_id=mentions,
            dms_integration_id=dms,
            auto_wire=auto_wire,
        )

    async def rotate(self, integration_id: str) -> WiredIntegration:
        return await self.onboarding.rotate_secret(
            tenant_id=self.tenant_id,
            actor_slack_user_id="U0ADMIN",
            genesys_integration_id=integration_id,
        )

    async def row(self, integration_id: str) -> GenesysIntegration:
        async with self.sessions() as session:
            row = await store.get_tenant_integration(
                session, tenant_id=self.tenant_id, genesys_integration_id=integration_id
            )
        assert row is not None
        return row

    async def secret(self, integration_id: str, *, previous: bool = False) -> str:
        row = await self.row(integration_id)
        stored = row.previous_webhook_secret_enc if previous else row.webhook_secret_enc
        assert stored is not None
        return self.box.decrypt(stored, tenant_id=self.tenant_id, purpose=GENESYS_WEBHOOK_SECRET)

    async def actions(self) -> list[tuple[str, list[str]]]:
        async with self.sessions() as session:
            events = (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.tenant_id == self.tenant_id)
                    .order_by(AuditEvent.created_at, AuditEvent.action)
                )
            ).scalars()
            return [(e.action, e.fields) for e in events]


@pytest.fixture
async def setup(database_url: str, sessions: Sessions) -> Setup:
    return Setup(database_url, sessions)


async def test_saving_again_keeps_each_secret_even_when_the_patch_fails(setup: Setup) -> None:
    await setup.connect()
    await setup.choose()
    first = await setup.secret(MENTIONS)
    assert setup.world.integrations[MENTIONS].webhook_secret == first

    setup.world.faults.arm(FaultSpec(route="integrations.patch", kind="status", status=503))
    wired = await setup.choose()
    assert all(w.kept_secret and w.secret_to_paste is None for w in wired)
    assert all(w.reason is not None and not w.patched for w in wired)
    assert await setup.secret(MENTIONS) == first
    assert (await setup.row(MENTIONS)).webhook_wiring == "auto"

    setup.world.faults.clear()
    again = await setup.choose(auto_wire=False)
    assert [(w.kept_secret, w.secret_to_paste, w.patched) for w in again] == [
        (True, None, False)
    ] * 2
    assert await setup.secret(MENTIONS) == first
    # Only the first save changed anything worth auditing.
    assert [fields for action, fields in await setup.actions() if "integrations" in action] == [
        ["mentions_integration_id", "dms_integration_id", "webhook_secret"]
    ]


async def test_a_patch_carries_the_name_genesys_has_now(setup: Setup) -> None:
    await setup.connect()
    await setup.choose()
    setup.world.integrations[MENTIONS].name = "Renamed in Genesys"
    await setup.rotate(MENTIONS)
    assert setup.world.integrations[MENTIONS].name == "Renamed in Genesys"
    assert (await setup.row(MENTIONS)).name == "Slack mentions"  # ours, as last chosen


async def test_switching_keeps_the_old_integration_until_it_is_retired(setup: Setup) -> None:
    await setup.connect()
    await setup.choose()
    old_secret = await setup.secret(DMS)
    await setup.choose(mentions=MENTIONS, dms=MENTIONS)

    kept = await setup.row(DMS)
    assert (kept.for_mentions, kept.for_dms) == (False, False)
    assert kept.replaced_at is not None
    assert await setup.secret(DMS) == old_secret
    async with setup.sessions() as session:
        chosen = await store.list_tenant_integrations(session, tenant_id=setup.tenant_id)
        previous = await store.list_previous_integrations(session, tenant_id=setup.tenant_id)
    assert [r.genesys_integration_id for r in chosen] == [MENTIONS]
    assert [r.genesys_integration_id for r in previous] == [DMS]

    # Chosen again: the same row and secret, in use once more.
    await setup.choose()
    back = await setup.row(DMS)
    assert back.for_dms and back.replaced_at is None
    assert await setup.secret(DMS) == old_secret

    await setup.choose(mentions=MENTIONS, dms=MENTIONS)
    with pytest.raises(IntegrationNotFound):  # still in use: not retirable
        await setup.onboarding.retire_integration(
            tenant_id=setup.tenant_id,
            actor_slack_user_id="U0ADMIN",
            genesys_integration_id=MENTIONS,
        )
    with pytest.raises(IntegrationNotFound):  # another tenant cannot retire ours
        await setup.onboarding.retire_integration(
            tenant_id=uuid.uuid4(), actor_slack_user_id="U0ADMIN", genesys_integration_id=DMS
        )
    await setup.onboarding.retire_integration(
        tenant_id=setup.tenant_id, actor_slack_user_id="U0ADMIN", genesys_integration_id=DMS
    )
    async with setup.sessions() as session:
        assert await session.get(GenesysIntegration, DMS) is None
    assert ("genesys.integration_retired", ["genesys_integration_id"]) in await setup.actions()


async def test_rotation_patches_the_new_secret_and_keeps_the_old_one_for_a_while(
    setup: Setup,
) -> None:
    await setup.connect()
    await setup.choose()
    old = await setup.secret(MENTIONS)
    outcome = await setup.rotate(MENTIONS)
    assert outcome.patched and outcome.secret_to_paste is None
    new = await setup.secret(MENTIONS)
    assert new != old and setup.world.integrations[MENTIONS].webhook_secret == new
    assert await setup.secret(MENTIONS, previous=True) == old
    until = (await setup.row(MENTIONS)).previous_secret_expires_at
    assert until is not None
    assert abs(until - (datetime.now(UTC) + PREVIOUS_SECRET_GRACE)) < timedelta(minutes=1)
    assert ("genesys.webhook_secret_rotated", ["webhook_secret"]) in await setup.actions()
    # Automatic wiring may rotate again at once: Genesys holds whatever we PATCHed last.
    await setup.rotate(MENTIONS)
    assert await setup.secret(MENTIONS, previous=True) == new


async def test_a_rotation_genesys_refuses_changes_nothing(setup: Setup) -> None:
    await setup.connect()
    await setup.choose()
    old = await setup.secret(MENTIONS)
    setup.world.faults.arm(FaultSpec(route="integrations.patch", kind="status", status=503))
    with pytest.raises(RotationFailed):
        await setup.rotate(MENTIONS)
    row = await setup.row(MENTIONS)
    assert await setup.secret(MENTIONS) == old
    assert row.previous_webhook_secret_enc is None and row.previous_secret_expires_at is None
    assert setup.world.integrations[MENTIONS].webhook_secret == old
    assert "genesys.webhook_secret_rotated" not in [a for a, _ in await setup.actions()]


async def test_manual_rotation_shows_the_secret_once_and_waits_for_it(setup: Setup) -> None:
    await setup.connect(can_edit=False)
    [wired] = await setup.choose(mentions=MENTIONS, dms=MENTIONS)
    assert wired.secret_to_paste is not None
    pasted = wired.secret_to_paste
    outcome = await setup.rotate(MENTIONS)
    assert outcome.secret_to_paste is not None and outcome.secret_to_paste != pasted
    assert await setup.secret(MENTIONS) == outcome.secret_to_paste
    assert await setup.secret(MENTIONS, previous=True) == pasted
    # Not pasted (nor seen) yet: another rotation would end the secret Genesys may still use.
    with pytest.raises(RotationUnfinished):
        await setup.rotate(MENTIONS)
    with pytest.raises(IntegrationNotFound):
        await setup.rotate(str(uuid.uuid4()))
