"""What inbound traffic needs to know about a tenant, kept per process and checked, not trusted.

Every Slack event needs its tenant, installation and chosen integrations, and every Genesys
webhook its integration's secrets; reading them costs more than storing the event. So each
process keeps them here, keyed by Slack IDs and by integration ID, with the tenant's
`version`, which triggers bump whenever any of it changes (migration c2a1_tenant_version).

A cached entry is only a guess. Whoever acts on one checks its version in the same statement
that acts (the ingest statements in `app.bridge.queueing` store nothing for a stale version),
or with `is_current` before a decision that writes nothing; on a mismatch it calls
`invalidate` and reads again. So an uninstall, a disable, or a rotated or retired webhook
secret takes effect for the very next event in every process, with no notification to miss.
Only active tenants are cached, and nothing is cached for IDs that match no tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.tenants import store

# Far more tenants than one process serves; past it the oldest entries go first.
MAX_ENTRIES = 50_000

SlackKey = tuple[str | None, str | None, bool]


@dataclass(frozen=True, slots=True)
class CachedTenant:
    """An active tenant with its installation and the integrations it chose."""

    tenant_id: uuid.UUID
    version: int
    slack_team_id: str | None
    slack_enterprise_id: str | None
    is_enterprise_install: bool
    forward_other_bots: bool
    ack_reaction: bool
    slack_bot_user_id: str | None
    slack_bot_id: str | None
    mentions_integration_id: str | None
    dms_integration_id: str | None

    def integration_for(self, kind: str) -> str | None:
        return self.dms_integration_id if kind == "dm" else self.mentions_integration_id


@dataclass(frozen=True, slots=True)
class CachedIntegration:
    """An integration's secrets (still encrypted) and what its tenant's webhooks check."""

    genesys_integration_id: str
    tenant_id: uuid.UUID
    version: int
    tenant_active: bool
    slack_team_id: str | None
    slack_enterprise_id: str | None
    webhook_secret_enc: str
    previous_webhook_secret_enc: str | None
    previous_secret_expires_at: datetime | None
    last_verified_at: datetime | None
    last_refused_at: datetime | None


def _owner_query(key: SlackKey) -> tuple[str, str] | None:
    """`tenants.store.slack_owner`'s rule as a statement and its one argument."""
    slack_enterprise_id, slack_team_id, is_enterprise_install = key
    if is_enterprise_install or not slack_team_id:
        if not slack_enterprise_id:
            return None
        return store.ACTIVE_SLACK_TENANT_BY_ORG, slack_enterprise_id
    return store.ACTIVE_SLACK_TENANT_BY_TEAM, slack_team_id


class TenantCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._by_slack: dict[SlackKey, CachedTenant] = {}
        self._by_integration: dict[str, CachedIntegration] = {}
        self._keys: dict[uuid.UUID, set[tuple[str, Any]]] = {}

    async def get_by_slack_ids(
        self,
        connection: asyncpg.Connection[Any],
        *,
        slack_enterprise_id: str | None,
        slack_team_id: str | None,
        is_enterprise_install: bool,
    ) -> CachedTenant | None:
        """The active tenant that owns these Slack IDs, from the cache or read on a miss."""
        key = (slack_enterprise_id, slack_team_id, is_enterprise_install)
        cached = self._by_slack.get(key)
        if cached is not None:
            return cached
        query = _owner_query(key)
        if query is None:
            return None
        row = await connection.fetchrow(*query)
        if row is None:
            return None
        tenant = CachedTenant(*row.values())
        self._remember("slack", key, tenant)
        return tenant

    async def get_by_integration(
        self, connection: asyncpg.Connection[Any], *, genesys_integration_id: str, fresh: bool
    ) -> CachedIntegration | None:
        """The integration (any tenant status), from the cache unless `fresh`."""
        if not fresh:
            cached = self._by_integration.get(genesys_integration_id)
            if cached is not None:
                return cached
        row = await connection.fetchrow(store.INTEGRATION_WITH_TENANT, genesys_integration_id)
        if row is None:
            self._by_integration.pop(genesys_integration_id, None)
            return None
        integration = CachedIntegration(*row.values())
        self._remember("integration", genesys_integration_id, integration)
        return integration

    async def is_current(
        self, connection: asyncpg.Connection[Any], *, tenant_id: uuid.UUID, version: int
    ) -> bool:
        """Whether nothing about the tenant changed since `version` was read; if something
        did, its entries are dropped."""
        current = await connection.fetchval(store.TENANT_VERSION, tenant_id)
        if current == version:
            return True
        self.invalidate(tenant_id)
        return False

    def invalidate(self, tenant_id: uuid.UUID) -> None:
        """Forget everything cached about a tenant; the next lookup reads it again."""
        for kind, key in self._keys.pop(tenant_id, ()):
            self._entries(kind).pop(key, None)

    def _entries(self, kind: str) -> dict[Any, Any]:
        return self._by_slack if kind == "slack" else self._by_integration

    def _remember(self, kind: str, key: Any, value: CachedTenant | CachedIntegration) -> None:
        entries = self._entries(kind)
        entries.pop(key, None)
        entries[key] = value
        self._keys.setdefault(value.tenant_id, set()).add((kind, key))
        while len(entries) > self._max_entries:
            oldest = next(iter(entries))
            self._keys.get(entries.pop(oldest).tenant_id, set()).discard((kind, oldest))
