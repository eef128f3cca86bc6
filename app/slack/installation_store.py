"""Bolt's installation and OAuth-state ports, implemented over our own tables.

The stock SQLAlchemy stores keep tokens in plaintext and pile up a row per reinstall. Ours
keeps one installation per tenant, encrypts every token with the tenant-bound `SecretBox`,
and turns uninstall/revocation into the tenant purge in `tenants.offboarding`.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.models import SlackInstallation, Tenant, TenantStatus
from app.tenants import offboarding, store
from app.tenants.purposes import SLACK_BOT_REFRESH_TOKEN, SLACK_BOT_TOKEN

log = logging.getLogger(__name__)

BOT_TOKEN = SLACK_BOT_TOKEN
BOT_REFRESH_TOKEN = SLACK_BOT_REFRESH_TOKEN


def _epoch_to_datetime(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


class PostgresInstallationStore(AsyncInstallationStore):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        """First install creates the tenant; reinstall or token rotation updates it in place."""
        is_org = bool(installation.is_enterprise_install)
        name = (
            (installation.enterprise_name if is_org else installation.team_name)
            or installation.team_id
            or installation.enterprise_id
            or "Slack workspace"
        )
        async with self._sessions.begin() as session:
            tenant = await store.upsert_tenant_for_slack(
                session,
                slack_enterprise_id=installation.enterprise_id,
                slack_team_id=installation.team_id,
                is_enterprise_install=is_org,
                name=name,
            )
            previous = await store.get_installation(session, tenant_id=tenant.id)
            values = self._values(tenant, installation)
            if previous is not None:
                # Whoever reinstalls, the original installer keeps the installer's rights;
                # the newcomer is an admin only if Slack says so (`app.slack.app`).
                values["installer_slack_user_id"] = previous.installer_slack_user_id
            await store.save_installation(session, tenant_id=tenant.id, values=values)
            await store.record_audit(
                session,
                tenant_id=tenant.id,
                action="slack.reinstalled" if previous else "slack.installed",
                actor_slack_user_id=installation.user_id,
                fields=["bot_token", "bot_scopes"],
            )
        log.info("slack installation saved", extra={"tenant_id": str(tenant.id)})

    async def async_save_bot(self, bot: Bot) -> None:
        """A rotated bot token (Bolt's authorize, or the worker before posting).

        The tenant row is locked and must still be active: a refresh that was in flight while
        the workspace uninstalled must not bring its tokens back.
        """
        async with self._sessions.begin() as session:
            found = await store.find_tenant_for_slack(
                session,
                slack_enterprise_id=bot.enterprise_id,
                slack_team_id=bot.team_id,
                is_enterprise_install=bool(bot.is_enterprise_install),
            )
            if found is None:
                return
            tenant = await session.get(
                Tenant, found.id, with_for_update=True, populate_existing=True
            )
            row = await store.get_installation(session, tenant_id=found.id)
            if tenant is None or tenant.status != TenantStatus.ACTIVE or row is None:
                return
            row.bot_token_enc = self._box.encrypt(
                bot.bot_token, tenant_id=tenant.id, purpose=BOT_TOKEN
            )
            if bot.bot_refresh_token:
                row.bot_refresh_token_enc = self._box.encrypt(
                    bot.bot_refresh_token, tenant_id=tenant.id, purpose=BOT_REFRESH_TOKEN
                )
            row.bot_token_expires_at = _epoch_to_datetime(bot.bot_token_expires_at)
            await store.record_audit(
                session, tenant_id=tenant.id, action="slack.token_rotated", fields=["bot_token"]
            )

    def _values(self, tenant: Tenant, installation: Installation) -> dict[str, object]:
        def seal(value: str | None, purpose: str) -> str | None:
            if not value:
                return None
            return self._box.encrypt(value, tenant_id=tenant.id, purpose=purpose)

        installed_at = installation.installed_at
        return {
            "slack_app_id": installation.app_id or "",
            "slack_enterprise_id": installation.enterprise_id,
            "slack_enterprise_name": installation.enterprise_name,
            "slack_enterprise_url": installation.enterprise_url,
            "slack_team_id": installation.team_id,
            "slack_team_name": installation.team_name,
            "is_enterprise_install": bool(installation.is_enterprise_install),
            "bot_token_enc": seal(installation.bot_token, BOT_TOKEN),
            "bot_refresh_token_enc": seal(installation.bot_refresh_token, BOT_REFRESH_TOKEN),
            "bot_token_expires_at": _epoch_to_datetime(installation.bot_token_expires_at),
            "slack_bot_id": installation.bot_id,
            "slack_bot_user_id": installation.bot_user_id,
            "bot_scopes": list(installation.bot_scopes or []),
            "installer_slack_user_id": installation.user_id,
            "token_type": installation.token_type,
            "installed_at": datetime.fromtimestamp(float(installed_at), tz=UTC),
        }

    async def _load(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None,
    ) -> tuple[Tenant, SlackInstallation] | None:
        async with self._sessions() as session:
            # With `org_fallback`, a workspace of a Grid org whose app was installed org-wide.
            tenant = await store.find_tenant_for_slack(
                session,
                slack_enterprise_id=enterprise_id,
                slack_team_id=team_id,
                is_enterprise_install=bool(is_enterprise_install),
                org_fallback=True,
            )
            if tenant is None or tenant.status != TenantStatus.ACTIVE:
                return None
            row = await store.get_installation(session, tenant_id=tenant.id)
            if row is None or row.bot_token_enc is None:
                return None
            return tenant, row

    def _open(
        self, tenant: Tenant, row: SlackInstallation, column: str | None, purpose: str
    ) -> str | None:
        if column is None:
            return None
        return self._box.decrypt(column, tenant_id=tenant.id, purpose=purpose)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self._load(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if found is None:
            return None
        tenant, row = found
        expires = row.bot_token_expires_at
        return Bot(
            app_id=row.slack_app_id,
            enterprise_id=row.slack_enterprise_id,
            enterprise_name=row.slack_enterprise_name,
            team_id=row.slack_team_id,
            team_name=row.slack_team_name,
            bot_token=self._open(tenant, row, row.bot_token_enc, BOT_TOKEN) or "",
            bot_id=row.slack_bot_id or "",
            bot_user_id=row.slack_bot_user_id or "",
            bot_scopes=row.bot_scopes,
            bot_refresh_token=self._open(tenant, row, row.bot_refresh_token_enc, BOT_REFRESH_TOKEN),
            bot_token_expires_at=int(expires.timestamp()) if expires else None,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at.timestamp(),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await self._load(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if found is None:
            return None
        tenant, row = found
        if user_id is not None and user_id != row.installer_slack_user_id:
            return None  # we request no user tokens; only the installer has a record
        expires = row.bot_token_expires_at
        return Installation(
            app_id=row.slack_app_id,
            enterprise_id=row.slack_enterprise_id,
            enterprise_name=row.slack_enterprise_name,
            enterprise_url=row.slack_enterprise_url,
            team_id=row.slack_team_id,
            team_name=row.slack_team_name,
            bot_token=self._open(tenant, row, row.bot_token_enc, BOT_TOKEN),
            bot_id=row.slack_bot_id,
            bot_user_id=row.slack_bot_user_id,
            bot_scopes=row.bot_scopes,
            bot_refresh_token=self._open(tenant, row, row.bot_refresh_token_enc, BOT_REFRESH_TOKEN),
            bot_token_expires_at=int(expires.timestamp()) if expires else None,
            user_id=row.installer_slack_user_id,
            is_enterprise_install=row.is_enterprise_install,
            token_type=row.token_type,
            installed_at=row.installed_at.timestamp(),
        )

    async def _revoke(self, *, enterprise_id: str | None, team_id: str | None, reason: str) -> None:
        async with self._sessions.begin() as session:
            tenant = await store.find_tenant_for_slack(
                session,
                slack_enterprise_id=enterprise_id,
                slack_team_id=team_id,
                is_enterprise_install=team_id is None,
                org_fallback=True,
            )
            if tenant is None:
                return
            await offboarding.purge_tenant(session, tenant_id=tenant.id, reason=reason)
        log.info("tenant purged", extra={"tenant_id": str(tenant.id), "reason": reason})

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._revoke(enterprise_id=enterprise_id, team_id=team_id, reason="tokens_revoked")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """A user's OAuth token was revoked. We hold no user tokens, so nothing is stored."""

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._revoke(enterprise_id=enterprise_id, team_id=team_id, reason="app_uninstalled")


class PostgresOAuthStateStore(AsyncOAuthStateStore):
    """Install-flow states in Postgres, so the install and the callback may hit different dynos."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, expiration_seconds: int = 600
    ) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            await store.issue_oauth_state(
                session, state=state, expire_at=datetime.now(UTC) + self._ttl
            )
        return state

    async def async_consume(self, state: str) -> bool:
        async with self._sessions.begin() as session:
            return await store.consume_oauth_state(session, state=state)
