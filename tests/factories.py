"""Plain builders for settings and rows; each test makes what it needs in view."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import GenesysIntegration, SlackInstallation, Tenant, TenantStatus
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET, SLACK_BOT_TOKEN

TEST_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
OTHER_KEY = base64.urlsafe_b64encode(b"o" * 32).decode()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "base_url": "https://switchboard.test",
        "encryption_keys": f"k1:{TEST_KEY}",
        "session_secret": "s" * 40,
        "slack_client_id": "111.222",
        "slack_client_secret": "client-secret-for-tests",
        "slack_signing_secret": "signing-secret-for-tests",
    }
    values.update(overrides)
    return Settings(**values)


async def make_tenant(
    session: AsyncSession,
    *,
    slack_team_id: str | None = None,
    name: str = "Acme",
    is_enterprise_install: bool = False,
    slack_enterprise_id: str | None = None,
) -> Tenant:
    tenant = Tenant(
        id=uuid.uuid4(),
        slack_team_id=slack_team_id or f"T{uuid.uuid4().hex[:10].upper()}",
        slack_enterprise_id=slack_enterprise_id,
        is_enterprise_install=is_enterprise_install,
        name=name,
        status=TenantStatus.ACTIVE,
    )
    session.add(tenant)
    await session.flush()
    return tenant


async def make_installation(
    session: AsyncSession,
    box: SecretBox,
    *,
    tenant: Tenant,
    bot_token: str = "xoxb-test",
    slack_bot_user_id: str = "U0BOT",
    installer_slack_user_id: str = "U0ADMIN",
) -> SlackInstallation:
    row = SlackInstallation(
        tenant_id=tenant.id,
        slack_app_id="A0APP",
        slack_team_id=tenant.slack_team_id,
        slack_enterprise_id=tenant.slack_enterprise_id,
        is_enterprise_install=tenant.is_enterprise_install,
        bot_token_enc=box.encrypt(bot_token, tenant_id=tenant.id, purpose=SLACK_BOT_TOKEN),
        slack_bot_id="B0BOT",
        slack_bot_user_id=slack_bot_user_id,
        bot_scopes=["chat:write"],
        installer_slack_user_id=installer_slack_user_id,
        installed_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row


async def make_integration(
    session: AsyncSession,
    box: SecretBox,
    *,
    tenant: Tenant,
    webhook_secret: str,
    mentions: bool = True,
    dms: bool = True,
) -> GenesysIntegration:
    row = GenesysIntegration(
        genesys_integration_id=str(uuid.uuid4()),
        tenant_id=tenant.id,
        for_mentions=mentions,
        for_dms=dms,
        webhook_secret_enc=box.encrypt(
            webhook_secret, tenant_id=tenant.id, purpose=GENESYS_WEBHOOK_SECRET
        ),
        webhook_wiring="auto",
    )
    session.add(row)
    await session.flush()
    return row
