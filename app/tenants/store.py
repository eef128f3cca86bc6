"""Queries about tenants and their Slack installations. Take a session; never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    AuditEvent,
    GenesysConnection,
    GenesysIntegration,
    RoutingRule,
    SlackInstallation,
    SlackOAuthState,
    Tenant,
    TenantStatus,
)


async def get_tenant(session: AsyncSession, *, tenant_id: uuid.UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def slack_owner(
    *,
    slack_enterprise_id: str | None,
    slack_team_id: str | None,
    is_enterprise_install: bool,
    org_fallback: bool = False,
) -> ColumnElement[bool]:
    """The one rule for which tenant owns Slack IDs: the org's tenant for an org-wide install
    (or when no workspace is named), else the workspace's. With `org_fallback`, a workspace of
    an Enterprise Grid org whose app was installed org-wide also finds the org's tenant."""
    org = and_(
        Tenant.is_enterprise_install.is_(True), Tenant.slack_enterprise_id == slack_enterprise_id
    )
    if is_enterprise_install or not slack_team_id:
        return org if slack_enterprise_id else false()
    team = and_(Tenant.is_enterprise_install.is_(False), Tenant.slack_team_id == slack_team_id)
    return or_(team, org) if org_fallback and slack_enterprise_id else team


async def find_tenant_for_slack(
    session: AsyncSession,
    *,
    slack_enterprise_id: str | None,
    slack_team_id: str | None,
    is_enterprise_install: bool,
    org_fallback: bool = False,
) -> Tenant | None:
    """The tenant an install or event belongs to (`slack_owner`); the workspace's own tenant
    wins over its org's."""
    query = (
        select(Tenant)
        .where(
            slack_owner(
                slack_enterprise_id=slack_enterprise_id,
                slack_team_id=slack_team_id,
                is_enterprise_install=is_enterprise_install,
                org_fallback=org_fallback,
            )
        )
        .order_by(Tenant.is_enterprise_install)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def upsert_tenant_for_slack(
    session: AsyncSession,
    *,
    slack_enterprise_id: str | None,
    slack_team_id: str | None,
    is_enterprise_install: bool,
    name: str,
) -> Tenant:
    """Create the tenant on first install; on reinstall reactivate it and keep its settings.

    The partial unique indexes make two concurrent first installs converge on one row.
    """
    values = {
        "id": uuid.uuid4(),
        "slack_enterprise_id": slack_enterprise_id,
        "slack_team_id": None if is_enterprise_install else slack_team_id,
        "is_enterprise_install": is_enterprise_install,
        "name": name,
        "status": TenantStatus.ACTIVE.value,
    }
    if is_enterprise_install:
        target = {
            "index_elements": ["slack_enterprise_id"],
            "index_where": text("is_enterprise_install"),
        }
    else:
        target = {
            "index_elements": ["slack_team_id"],
            # Must repeat the partial index's predicate verbatim for ON CONFLICT to use it.
            "index_where": text("NOT is_enterprise_install"),
        }
    statement = (
        insert(Tenant)
        .values(**values)
        .on_conflict_do_update(
            **target,  # type: ignore[arg-type]
            set_={
                "name": name,
                "status": TenantStatus.ACTIVE.value,
                "uninstalled_at": None,
                "slack_enterprise_id": slack_enterprise_id,
            },
        )
        .returning(Tenant)
    )
    tenant = (await session.execute(statement)).scalar_one()
    await session.refresh(tenant)
    return tenant


async def get_installation(
    session: AsyncSession, *, tenant_id: uuid.UUID
) -> SlackInstallation | None:
    return await session.get(SlackInstallation, tenant_id)


async def save_installation(
    session: AsyncSession, *, tenant_id: uuid.UUID, values: dict[str, object]
) -> None:
    """Insert or replace the tenant's one installation row (a reinstall brings new tokens)."""
    statement = insert(SlackInstallation).values(tenant_id=tenant_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[SlackInstallation.tenant_id],
        set_={**values, "updated_at": func.now()},
    )
    await session.execute(statement)


async def list_installations(session: AsyncSession) -> Sequence[SlackInstallation]:
    return (await session.execute(select(SlackInstallation))).scalars().all()


async def record_audit(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    actor_slack_user_id: str | None = None,
    fields: list[str] | None = None,
) -> None:
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            action=action,
            actor_slack_user_id=actor_slack_user_id,
            fields=fields or [],
        )
    )


async def delete_genesys_setup(session: AsyncSession, *, tenant_id: uuid.UUID) -> list[str]:
    """What was deleted, as audit field names: the integrations first, then the connection."""
    removed: list[str] = []
    for model, name in ((GenesysIntegration, "integrations"), (GenesysConnection, "credentials")):
        result = await session.execute(delete(model).where(model.tenant_id == tenant_id))
        if result.rowcount:  # type: ignore[attr-defined]
            removed.append(name)
    return removed


async def list_audit(
    session: AsyncSession, *, tenant_id: uuid.UUID, limit: int = 50, offset: int = 0
) -> Sequence[AuditEvent]:
    """Newest first; `offset` pages back (the page asks for one row more than it shows, to
    know whether an older page exists without counting the whole history)."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(query)).scalars().all()


async def issue_oauth_state(session: AsyncSession, *, state: str, expire_at: datetime) -> None:
    session.add(SlackOAuthState(state=state, expire_at=expire_at))


async def consume_oauth_state(session: AsyncSession, *, state: str) -> bool:
    """Delete and report an unexpired state in one statement, so only one callback wins."""
    statement = (
        delete(SlackOAuthState)
        .where(SlackOAuthState.state == state, SlackOAuthState.expire_at > func.now())
        .returning(SlackOAuthState.state)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def purge_expired_oauth_states(session: AsyncSession) -> int:
    statement = delete(SlackOAuthState).where(SlackOAuthState.expire_at <= func.now())
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def get_connection(
    session: AsyncSession, *, tenant_id: uuid.UUID
) -> GenesysConnection | None:
    return await session.get(GenesysConnection, tenant_id)


async def list_tenant_integrations(
    session: AsyncSession, *, tenant_id: uuid.UUID, include_previous: bool = False
) -> Sequence[GenesysIntegration]:
    """The integrations chosen for mentions or DMs; with `include_previous`, also those the
    admin switched away from and has not retired yet."""
    query = (
        select(GenesysIntegration)
        .where(GenesysIntegration.tenant_id == tenant_id)
        .order_by(GenesysIntegration.created_at)
    )
    if not include_previous:
        query = query.where(or_(GenesysIntegration.for_mentions, GenesysIntegration.for_dms))
    return (await session.execute(query)).scalars().all()


async def list_previous_integrations(
    session: AsyncSession, *, tenant_id: uuid.UUID
) -> Sequence[GenesysIntegration]:
    query = (
        select(GenesysIntegration)
        .where(
            GenesysIntegration.tenant_id == tenant_id,
            GenesysIntegration.for_mentions.is_(False),
            GenesysIntegration.for_dms.is_(False),
        )
        .order_by(GenesysIntegration.replaced_at)
    )
    return (await session.execute(query)).scalars().all()


async def get_tenant_integration(
    session: AsyncSession, *, tenant_id: uuid.UUID, genesys_integration_id: str
) -> GenesysIntegration | None:
    query = select(GenesysIntegration).where(
        GenesysIntegration.tenant_id == tenant_id,
        GenesysIntegration.genesys_integration_id == genesys_integration_id,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def delete_previous_integration(
    session: AsyncSession, *, tenant_id: uuid.UUID, genesys_integration_id: str
) -> bool:
    """Retire an integration no longer chosen for anything; one still in use (chosen, or
    named by a routing rule) is kept."""
    used_by_rule = (
        select(RoutingRule.id)
        .where(RoutingRule.genesys_integration_id == GenesysIntegration.genesys_integration_id)
        .exists()
    )
    statement = (
        delete(GenesysIntegration)
        .where(
            GenesysIntegration.tenant_id == tenant_id,
            GenesysIntegration.genesys_integration_id == genesys_integration_id,
            GenesysIntegration.for_mentions.is_(False),
            GenesysIntegration.for_dms.is_(False),
            ~used_by_rule,
        )
        .returning(GenesysIntegration.genesys_integration_id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def restore_webhook_secret(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    genesys_integration_id: str,
    only_if_secret_enc: str,
    values: dict[str, object],
) -> None:
    """Undo a rotation Genesys refused, unless another change came in since."""
    statement = (
        update(GenesysIntegration)
        .where(
            GenesysIntegration.tenant_id == tenant_id,
            GenesysIntegration.genesys_integration_id == genesys_integration_id,
            GenesysIntegration.webhook_secret_enc == only_if_secret_enc,
        )
        .values(**values)
    )
    await session.execute(statement)


async def record_webhook_verified(
    session: AsyncSession,
    *,
    genesys_integration_id: str,
    not_since: datetime,
    verified_secret_enc: str | None = None,
) -> None:
    """Note a verified webhook unless one was noted after `not_since` (so at most one write
    per interval, however busy the integration). With `verified_secret_enc`, the webhook was
    signed with the current secret: the previous one is finished, provided the current one
    is still the secret that verified (a rotation in between keeps its own previous)."""
    row = GenesysIntegration
    statement = update(row).where(row.genesys_integration_id == genesys_integration_id)
    if verified_secret_enc is None:
        statement = statement.where(
            or_(row.last_verified_at.is_(None), row.last_verified_at < not_since)
        ).values(last_verified_at=func.now())
    else:
        statement = statement.where(row.webhook_secret_enc == verified_secret_enc).values(
            last_verified_at=func.now(),
            previous_webhook_secret_enc=None,
            previous_secret_expires_at=None,
        )
    await session.execute(statement)


async def record_webhook_refused(
    session: AsyncSession, *, genesys_integration_id: str, not_since: datetime
) -> None:
    """Note a refused webhook at most once per interval, so a flood of forgeries for a known
    integration costs one write a minute, not one each."""
    row = GenesysIntegration
    statement = (
        update(row)
        .where(
            row.genesys_integration_id == genesys_integration_id,
            or_(row.last_refused_at.is_(None), row.last_refused_at < not_since),
        )
        .values(last_refused_at=func.now())
    )
    await session.execute(statement)


async def find_integration(
    session: AsyncSession, *, genesys_integration_id: str
) -> GenesysIntegration | None:
    """Resolve the tenant of an inbound webhook: the integration ID is globally unique."""
    return await session.get(GenesysIntegration, genesys_integration_id)


async def integration_owner(
    session: AsyncSession, *, genesys_integration_id: str
) -> uuid.UUID | None:
    query = select(GenesysIntegration.tenant_id).where(
        GenesysIntegration.genesys_integration_id == genesys_integration_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_tenants(session: AsyncSession) -> Sequence[Tenant]:
    return (await session.execute(select(Tenant).order_by(Tenant.created_at))).scalars().all()


async def set_tenant_status(session: AsyncSession, *, tenant_id: uuid.UUID, status: str) -> bool:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.status == TenantStatus.UNINSTALLED:
        return False
    tenant.status = status
    return True


# The hot path's reads, as prepared asyncpg statements (see `app.tenants.cache`). The owner
# rule is `slack_owner`'s: an org-wide install's tenant by org, else the workspace's own.
_ACTIVE_SLACK_TENANT = """
    SELECT t.id, t.version, t.slack_team_id, t.slack_enterprise_id, t.is_enterprise_install,
           t.forward_other_bots, t.ack_reaction, i.slack_bot_user_id, i.slack_bot_id,
           (SELECT g.genesys_integration_id FROM genesys_integration g
             WHERE g.tenant_id = t.id AND g.for_mentions
             ORDER BY g.genesys_integration_id LIMIT 1) AS mentions_integration_id,
           (SELECT g.genesys_integration_id FROM genesys_integration g
             WHERE g.tenant_id = t.id AND g.for_dms
             ORDER BY g.genesys_integration_id LIMIT 1) AS dms_integration_id
    FROM tenant t JOIN slack_installation i ON i.tenant_id = t.id
    WHERE t.status = 'active' AND {owner}
"""
ACTIVE_SLACK_TENANT_BY_TEAM = _ACTIVE_SLACK_TENANT.format(
    owner="NOT t.is_enterprise_install AND t.slack_team_id = $1"
)
ACTIVE_SLACK_TENANT_BY_ORG = _ACTIVE_SLACK_TENANT.format(
    owner="t.is_enterprise_install AND t.slack_enterprise_id = $1"
)

INTEGRATION_WITH_TENANT = """
    SELECT g.genesys_integration_id, g.tenant_id, t.version, t.status = 'active' AS active,
           t.slack_team_id, t.slack_enterprise_id, g.webhook_secret_enc,
           g.previous_webhook_secret_enc, g.previous_secret_expires_at, g.last_verified_at,
           g.last_refused_at
    FROM genesys_integration g JOIN tenant t ON t.id = g.tenant_id
    WHERE g.genesys_integration_id = $1
"""

TENANT_VERSION = "SELECT version FROM tenant WHERE id = $1"
