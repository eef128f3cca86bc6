"""Rotating an integration's webhook secret, and retiring an integration switched away from.

During a rotation the previous secret keeps verifying until a webhook signed with the new one
arrives, or for `PREVIOUS_SECRET_GRACE`. No transaction is open while Genesys is called.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.genesys.client import GenesysClient
from app.genesys.errors import GenesysError
from app.tenants import store
from app.tenants.connection_check import error_hint as _error_hint
from app.tenants.genesys_access import TenantGenesys
from app.tenants.integrations import WEBHOOK_SECRET_BYTES, WiredIntegration
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET

log = logging.getLogger(__name__)

# After a rotation the old secret keeps verifying this long at most, so a manually wired
# integration gives the admin a working day to paste the new one; the first webhook signed
# with the new secret ends it sooner.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


class IntegrationNotFound(Exception):
    """No such integration for this tenant (or, to retire, it is still in use)."""


class RotationFailed(Exception):
    """Genesys did not take the new secret; the stored secrets are as they were."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


class RotationUnfinished(Exception):
    """The previous rotation of a manually wired integration has not been seen in use."""

    def __init__(self, previous_until: datetime) -> None:
        super().__init__(previous_until.isoformat())
        self.previous_until = previous_until


class WebhookSecrets:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox, genesys: TenantGenesys
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._genesys = genesys

    async def rotate_secret(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str | None,
        genesys_integration_id: str,
    ) -> WiredIntegration:
        """Replace an integration's webhook secret on the admin's request.

        The old secret keeps verifying until a webhook signed with the new one arrives, or for
        `PREVIOUS_SECRET_GRACE`. An automatically wired integration gets the new secret by
        PATCH; if that fails nothing changes. A manually wired one shows the new secret to
        paste, once. While an earlier rotation of a manually wired integration is unfinished,
        another is refused: it would end the secret Genesys may still be using.
        """
        async with self._sessions() as session:
            row = await store.get_tenant_integration(
                session, tenant_id=tenant_id, genesys_integration_id=genesys_integration_id
            )
        if row is None:
            raise IntegrationNotFound(genesys_integration_id)
        now = datetime.now(UTC)
        pending = (
            row.previous_webhook_secret_enc is not None
            and row.previous_secret_expires_at is not None
            and row.previous_secret_expires_at > now
        )
        if row.webhook_wiring != "auto" and pending:
            assert row.previous_secret_expires_at is not None
            raise RotationUnfinished(row.previous_secret_expires_at)
        name: str | None = None
        client: GenesysClient | None = None
        if row.webhook_wiring == "auto":
            client = await self._genesys.client_for(tenant_id)
            if client is None:
                raise RotationFailed("Connect your Genesys Cloud org first.")
            try:
                name = (await client.get_integration(genesys_integration_id)).name
            except GenesysError as exc:
                raise RotationFailed(_error_hint(exc)) from None
        secret = secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)
        new_enc = self._box.encrypt(secret, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET)
        async with self._sessions.begin() as session:
            locked = await store.get_tenant_integration(
                session, tenant_id=tenant_id, genesys_integration_id=genesys_integration_id
            )
            if locked is None:
                raise IntegrationNotFound(genesys_integration_id)
            undo = (
                locked.webhook_secret_enc,
                locked.webhook_secret_set_at,
                locked.previous_webhook_secret_enc,
                locked.previous_secret_expires_at,
            )
            locked.previous_webhook_secret_enc = locked.webhook_secret_enc
            locked.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
            locked.webhook_secret_enc = new_enc
            locked.webhook_secret_set_at = now
        outcome = WiredIntegration(
            genesys_integration_id=genesys_integration_id,
            name=row.name,
            purposes=["mentions"] * row.for_mentions + ["dms"] * row.for_dms,
            wiring=row.webhook_wiring,
            rotated=True,
        )
        if client is None:
            outcome.secret_to_paste = secret
        else:
            try:
                await client.patch_integration(
                    genesys_integration_id,
                    name=name or row.name or genesys_integration_id,
                    webhook_url=self._genesys.webhook_url,
                    webhook_secret=secret,
                )
                outcome.patched = True
            except GenesysError as exc:
                async with self._sessions.begin() as session:
                    await store.restore_webhook_secret(
                        session,
                        tenant_id=tenant_id,
                        genesys_integration_id=genesys_integration_id,
                        only_if_secret_enc=new_enc,
                        values=dict(
                            zip(
                                (
                                    "webhook_secret_enc",
                                    "webhook_secret_set_at",
                                    "previous_webhook_secret_enc",
                                    "previous_secret_expires_at",
                                ),
                                undo,
                                strict=True,
                            )
                        ),
                    )
                raise RotationFailed(_error_hint(exc)) from None
        async with self._sessions.begin() as session:
            await store.record_audit(
                session,
                tenant_id=tenant_id,
                action="genesys.webhook_secret_rotated",
                actor_slack_user_id=actor_slack_user_id,
                fields=["webhook_secret"],
            )
        log.info(
            "webhook secret rotated",
            extra={"tenant_id": str(tenant_id), "genesys_integration_id": genesys_integration_id},
        )
        return outcome

    async def retire_integration(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str | None,
        genesys_integration_id: str,
    ) -> None:
        """Forget a previous integration: its webhooks are refused from now on."""
        async with self._sessions.begin() as session:
            if not await store.delete_previous_integration(
                session, tenant_id=tenant_id, genesys_integration_id=genesys_integration_id
            ):
                raise IntegrationNotFound(genesys_integration_id)
            await store.record_audit(
                session,
                tenant_id=tenant_id,
                action="genesys.integration_retired",
                actor_slack_user_id=actor_slack_user_id,
                fields=["genesys_integration_id"],
            )
        log.info(
            "integration retired",
            extra={"tenant_id": str(tenant_id), "genesys_integration_id": genesys_integration_id},
        )
