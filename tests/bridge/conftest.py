"""What the bridge's fast tests share: the secret box and a tenant ready for traffic."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.models import GenesysIntegration, SlackInstallation, Tenant
from tests.factories import make_installation, make_integration, make_settings, make_tenant

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"


@dataclass
class Onboarded:
    tenant: Tenant
    installation: SlackInstallation
    integration: GenesysIntegration


@pytest.fixture
def box(database_url: str) -> SecretBox:
    return SecretBox(make_settings(database_url).keys)


@pytest.fixture
async def onboarded(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> Onboarded:
    """Installed in Slack, one integration for both mentions and DMs (committed to the
    test's savepoint, so the code under test sees it through its own sessions)."""
    async with sessions.begin() as session:
        tenant = await make_tenant(session, slack_team_id="T0ACME")
        installation = await make_installation(session, box, tenant=tenant)
        integration = await make_integration(
            session, box, tenant=tenant, webhook_secret=WEBHOOK_SECRET
        )
    return Onboarded(tenant, installation, integration)
