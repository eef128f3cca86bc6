"""What happens when a workspace uninstalls the app or revokes its tokens.

Slack does not promise the order of `app_uninstalled` and `tokens_revoked`, and either may be
redelivered, so the purge is idempotent: the second run finds nothing left and records nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Base
from app.db.models import (
    BridgeMessage,
    Conversation,
    GenesysConnection,
    GenesysIntegration,
    SlackInstallation,
    Tenant,
)
from app.tenants import store

# Tenant-owned tables emptied by a purge, in dependency order. The tenant row itself stays
# (status "uninstalled", no secrets) so a reinstall is recognised and audit records keep
# pointing somewhere.
PURGED_TABLES: tuple[type[Base], ...] = (
    BridgeMessage,
    Conversation,
    GenesysIntegration,
    GenesysConnection,
    SlackInstallation,
)


async def purge_tenant(session: AsyncSession, *, tenant_id: uuid.UUID, reason: str) -> bool:
    """Delete the tenant's tokens, credentials and conversations; keep an audit record.

    Returns False when there was nothing left to purge (a redelivered event).
    """
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        return False
    purged: list[str] = []
    for model in PURGED_TABLES:
        tenant_column = model.__table__.c.tenant_id
        result = await session.execute(delete(model).where(tenant_column == tenant_id))
        if result.rowcount:  # type: ignore[attr-defined]
            purged.append(model.__tablename__)
    already_gone = tenant.status == "uninstalled" and not purged
    tenant.status = "uninstalled"
    tenant.uninstalled_at = tenant.uninstalled_at or datetime.now(UTC)
    if already_gone:
        return False
    await store.record_audit(
        session, tenant_id=tenant_id, action=f"tenant.purged.{reason}", fields=purged
    )
    return True
