"""What happens when a workspace uninstalls the app or revokes its tokens.

Slack does not promise the order of `app_uninstalled` and `tokens_revoked`, and either may be
redelivered, so the purge is idempotent: the second run finds nothing left and records nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Base
from app.db.models import (
    BridgeMessage,
    Conversation,
    GenesysConnection,
    GenesysIntegration,
    SlackInstallation,
    Tenant,
    TenantStatus,
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

    Returns False when there was nothing left to purge (a redelivered or concurrent event).
    The status change comes first and is conditional: concurrent purges queue on the tenant
    row, and only the one that finds it still installed (or finds rows left) records a purge.
    """
    closed = await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.status != TenantStatus.UNINSTALLED)
        .values(
            status=TenantStatus.UNINSTALLED.value,
            uninstalled_at=func.coalesce(Tenant.uninstalled_at, func.now()),
        )
        .returning(Tenant.id)
        .execution_options(synchronize_session="fetch")
    )
    newly_uninstalled = closed.scalar_one_or_none() is not None
    purged: list[str] = []
    for model in PURGED_TABLES:
        tenant_column = model.__table__.c.tenant_id
        result = await session.execute(delete(model).where(tenant_column == tenant_id))
        if result.rowcount:  # type: ignore[attr-defined]
            purged.append(model.__tablename__)
    if not newly_uninstalled and not purged:
        return False
    await store.record_audit(
        session, tenant_id=tenant_id, action=f"tenant.purged.{reason}", fields=purged
    )
    return True
