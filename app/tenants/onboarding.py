"""Connecting a tenant's Genesys Cloud org: what the onboarding page and the CLI call.

Every change is checked against Genesys before anything is saved, so a bad region, wrong
credentials or a half-created integration leave the stored settings as they were. Secrets are
encrypted before they reach the session and never returned to callers, except a freshly
generated webhook secret that an admin must paste into Genesys by hand.

No transaction is open while Genesys is called: read, close, call, then write. The work is
split by subject: credentials and the connection test here, choosing integrations in
`tenants.integrations`, webhook secrets in `tenants.webhook_secrets`, the tenant's switches in
`tenants.switches`; `Onboarding` is the one object the pages and the CLI are given.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import GenesysConnection
from app.genesys.client import GenesysClient
from app.genesys.clients import GenesysClients
from app.genesys.errors import GenesysAuthError, GenesysError
from app.genesys.regions import region_by_key
from app.tenants import store, switches
from app.tenants.connection_check import (
    Check,
    ChosenIntegration,
    ConnectionCheck,
    error_hint as _error_hint,
)
from app.tenants.genesys_access import TenantGenesys
from app.tenants.integrations import (
    FieldErrors,
    IntegrationChoices,
    IntegrationSetup,
    WiredIntegration,
)
from app.tenants.purposes import GENESYS_CLIENT_SECRET, GENESYS_WEBHOOK_SECRET
from app.tenants.webhook_secrets import WebhookSecrets

log = logging.getLogger(__name__)


class Onboarding:
    def __init__(
        self,
        settings: Settings,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        clients: GenesysClients,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self.genesys = TenantGenesys(
            settings, sessions=sessions, box=box, clients=clients, transport=transport
        )
        self._integrations = IntegrationSetup(sessions=sessions, box=box, genesys=self.genesys)
        self._secrets = WebhookSecrets(sessions=sessions, box=box, genesys=self.genesys)

    @property
    def webhook_url(self) -> str:
        return self.genesys.webhook_url

    async def client_for(self, tenant_id: uuid.UUID) -> GenesysClient | None:
        return await self.genesys.client_for(tenant_id)

    async def connect(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        region: str,
        client_id: str,
        client_secret: str | None,
    ) -> list[str]:
        """Check the credentials with a live token grant, then store them. Returns changed fields.

        A blank secret keeps the stored one, so editing the region does not force re-typing it.
        """
        errors: dict[str, str] = {}
        region = region.strip()
        client_id = client_id.strip()
        if region_by_key(region) is None:
            errors["region"] = "Choose your Genesys Cloud region from the list."
        if not client_id:
            errors["client_id"] = "Enter the OAuth client ID."
        elif len(client_id) > 100:
            errors["client_id"] = "That is longer than any Genesys client ID."
        async with self._sessions() as session:
            existing = await store.get_connection(session, tenant_id=tenant_id)
        secret = (client_secret or "").strip()
        if not secret:
            if existing is None:
                errors["client_secret"] = "Enter the OAuth client secret."
            else:
                secret = self._box.decrypt(
                    existing.client_secret_enc, tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
                )
        if errors:
            raise FieldErrors(errors)

        client = self.genesys.new_client(region, client_id, secret)
        try:
            await client.fetch_token()
        except GenesysAuthError as exc:
            raise FieldErrors({"client_secret": _error_hint(exc)}) from None
        except GenesysError as exc:
            raise FieldErrors({"region": _error_hint(exc)}) from None
        finally:
            await client.aclose()

        changed: list[str] = []
        async with self._sessions.begin() as session:
            row = await store.get_connection(session, tenant_id=tenant_id)
            if row is None:
                row = GenesysConnection(
                    tenant_id=tenant_id,
                    region=region,
                    client_id=client_id,
                    client_secret_enc=self._box.encrypt(
                        secret, tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
                    ),
                    credentials_version=1,
                )
                session.add(row)
                changed = ["region", "client_id", "client_secret"]
            else:
                if row.region != region:
                    changed.append("region")
                    row.region = region
                if row.client_id != client_id:
                    changed.append("client_id")
                    row.client_id = client_id
                if client_secret and client_secret.strip():
                    changed.append("client_secret")
                    row.client_secret_enc = self._box.encrypt(
                        secret, tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
                    )
                if changed:
                    row.credentials_version += 1
                    row.credentials_updated_at = datetime.now(UTC)
            row.last_verified_at = datetime.now(UTC)
            if changed:
                await store.record_audit(
                    session,
                    tenant_id=tenant_id,
                    action="genesys.credentials_changed",
                    actor_slack_user_id=actor_slack_user_id,
                    fields=changed,
                )
        if changed:
            await self.genesys.clients.drop(tenant_id)
        log.info("genesys credentials verified", extra={"tenant_id": str(tenant_id)})
        return changed

    async def disconnect(self, *, tenant_id: uuid.UUID, actor_slack_user_id: str | None) -> bool:
        """Delete the org's credentials and every integration with its webhook secrets (the
        tenant cache follows by trigger). False when nothing was connected."""
        async with self._sessions.begin() as session:
            removed = await store.delete_genesys_setup(session, tenant_id=tenant_id)
            if removed:
                await store.record_audit(
                    session,
                    tenant_id=tenant_id,
                    action="genesys.disconnected",
                    actor_slack_user_id=actor_slack_user_id,
                    fields=removed,
                )
        await self.genesys.clients.drop(tenant_id)
        log.info("genesys disconnected", extra={"tenant_id": str(tenant_id)})
        return bool(removed)

    async def available_integrations(self, tenant_id: uuid.UUID) -> IntegrationChoices:
        client = await self.genesys.client_for(tenant_id)
        if client is None:
            return IntegrationChoices(problem="Connect your Genesys Cloud org first.")
        try:
            found = await client.list_integrations()
        except GenesysError as exc:
            return IntegrationChoices(problem=_error_hint(exc))
        return IntegrationChoices(integrations=found, listed=True)

    async def test_connection(
        self, *, tenant_id: uuid.UUID, send_test_message: bool = False
    ) -> list[Check]:
        """Each row Pass, Fail, Warning or Skipped with a fix; see `connection_check`."""
        async with self._sessions() as session:
            connection = await store.get_connection(session, tenant_id=tenant_id)
            rows = list(await store.list_tenant_integrations(session, tenant_id=tenant_id))
        client = await self.genesys.client_for(tenant_id)
        if connection is None or client is None:
            return [
                Check(
                    "Token grant",
                    "fail",
                    "No Genesys Cloud org is connected yet.",
                    "Save your region, client ID and secret first.",
                )
            ]
        chosen = [
            ChosenIntegration(
                genesys_integration_id=row.genesys_integration_id,
                label=row.name or row.genesys_integration_id,
                wiring=row.webhook_wiring,
                webhook_secret=self._box.decrypt(
                    row.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
                ),
            )
            for row in rows
        ]
        check = ConnectionCheck(client, webhook_url=self.genesys.webhook_url, tenant_id=tenant_id)
        checks = await check.run(chosen, send_test_message=send_test_message)
        if all(c.status in ("pass", "skip") for c in checks):
            async with self._sessions.begin() as session:
                verified = await store.get_connection(session, tenant_id=tenant_id)
                if verified is not None:
                    verified.last_verified_at = datetime.now(UTC)
        return checks

    async def choose_integrations(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        mentions_integration_id: str,
        dms_integration_id: str,
        auto_wire: bool,
    ) -> list[WiredIntegration]:
        return await self._integrations.choose_integrations(
            tenant_id=tenant_id,
            actor_slack_user_id=actor_slack_user_id,
            mentions_integration_id=mentions_integration_id,
            dms_integration_id=dms_integration_id,
            auto_wire=auto_wire,
        )

    async def rotate_secret(
        self, *, tenant_id: uuid.UUID, actor_slack_user_id: str | None, genesys_integration_id: str
    ) -> WiredIntegration:
        return await self._secrets.rotate_secret(
            tenant_id=tenant_id,
            actor_slack_user_id=actor_slack_user_id,
            genesys_integration_id=genesys_integration_id,
        )

    async def retire_integration(
        self, *, tenant_id: uuid.UUID, actor_slack_user_id: str | None, genesys_integration_id: str
    ) -> None:
        await self._secrets.retire_integration(
            tenant_id=tenant_id,
            actor_slack_user_id=actor_slack_user_id,
            genesys_integration_id=genesys_integration_id,
        )

    async def set_behaviour(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        ack_reaction: bool,
        forward_other_bots: bool,
        agent_names: bool = True,
    ) -> list[str]:
        return await switches.set_behaviour(
            self._sessions,
            tenant_id=tenant_id,
            actor_slack_user_id=actor_slack_user_id,
            ack_reaction=ack_reaction,
            forward_other_bots=forward_other_bots,
            agent_names=agent_names,
        )
