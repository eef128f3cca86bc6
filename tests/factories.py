"""Plain builders for settings and rows; each test makes what it needs in view."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Tenant

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
        status="active",
    )
    session.add(tenant)
    await session.flush()
    return tenant
