"""Connecting a tenant's Genesys Cloud org: validate live, then store, then wire the webhook.

Every change is checked against Genesys before anything is saved, so a bad region, wrong
credentials or a half-created integration leave the stored settings as they were. Secrets are
encrypted before they reach the session and never returned to callers, except a freshly
generated webhook secret that an admin must paste into Genesys by hand.

No transaction is open while Genesys is called: read, close, call, then write.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import GenesysConnection, GenesysIntegration
from app.genesys.client import GenesysClient
from app.genesys.clients import GenesysClients
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysNotFound,
)
from app.genesys.messages import OpenIntegration
from app.genesys.regions import hosts_for, region_by_key
from app.tenants import store
from app.tenants.connection_check import (
    Check,
    ChosenIntegration,
    ConnectionCheck,
    error_hint as _error_hint,
)
from app.tenants.purposes import GENESYS_CLIENT_SECRET, GENESYS_WEBHOOK_SECRET

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/genesys/webhook"
# Genesys requires more than 15 characters; 32 random bytes is far beyond guessing.
WEBHOOK_SECRET_BYTES = 32
# After a rotation the old secret keeps verifying this long at most, so a manually wired
# integration gives the admin a working day to paste the new one; the first webhook signed
# with the new secret ends it sooner.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


class FieldErrors(Exception):
    """Input the admin must correct; `errors` maps a form field to a sentence about it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


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


@dataclass
class WiredIntegration:
    genesys_integration_id: str
    name: str | None
    purposes: list[str]
    wiring: str  # "auto" | "manual"
    # Present only right after generation, for manual wiring; never stored in clear.
    secret_to_paste: str | None = None
    reason: str | None = None
    # Already wired before this save: its secret was kept, not replaced.
    kept_secret: bool = False
    # Genesys accepted our PATCH of the webhook URL and secret just now.
    patched: bool = False
    # Made by a rotation: the secret before it still verifies for a while.
    rotated: bool = False


@dataclass
class IntegrationChoices:
    integrations: list[OpenIntegration] = field(default_factory=list)
    listed: bool = False
    problem: str | None = None


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
        self._settings = settings
        self._sessions = sessions
        self._box = box
        self._clients = clients
        self._transport = transport

    @property
    def webhook_url(self) -> str:
        return f"{self._settings.public_url}{WEBHOOK_PATH}"

    def _new_client(self, region: str, client_id: str, client_secret: str) -> GenesysClient:
        hosts = hosts_for(
            region,
            api_override=str(self._settings.genesys_api_url).rstrip("/")
            if self._settings.genesys_api_url
            else None,
            login_override=str(self._settings.genesys_login_url).rstrip("/")
            if self._settings.genesys_login_url
            else None,
        )
        return GenesysClient(
            hosts, client_id=client_id, client_secret=client_secret, transport=self._transport
        )

    async def client_for(self, tenant_id: uuid.UUID) -> GenesysClient | None:
        """The tenant's cached client; a credentials change yields a fresh one (and token)."""
        async with self._sessions() as session:
            connection = await store.get_connection(session, tenant_id=tenant_id)
        if connection is None:
            return None
        secret = self._box.decrypt(
            connection.client_secret_enc, tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
        )
        region, client_id = connection.region, connection.client_id
        return await self._clients.get(
            tenant_id,
            credentials_version=str(connection.credentials_version),
            factory=lambda: self._new_client(region, client_id, secret),
        )

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

        client = self._new_client(region, client_id, secret)
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
            await self._clients.drop(tenant_id)
        log.info("genesys credentials verified", extra={"tenant_id": str(tenant_id)})
        return changed

    async def available_integrations(self, tenant_id: uuid.UUID) -> IntegrationChoices:
        client = await self.client_for(tenant_id)
        if client is None:
            return IntegrationChoices(problem="Connect your Genesys Cloud org first.")
        try:
            found = await client.list_integrations()
        except GenesysError as exc:
            return IntegrationChoices(problem=_error_hint(exc))
        return IntegrationChoices(integrations=found, listed=True)

    async def choose_integrations(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        mentions_integration_id: str,
        dms_integration_id: str,
        auto_wire: bool,
    ) -> list[WiredIntegration]:
        """Validate both integrations live, then store them; only a newly wired one gets a
        fresh webhook secret.

        With consent, the webhook URL and secret are PATCHed onto each integration; where the
        client lacks `messaging:integration:edit`, the admin gets the values to paste instead.
        """
        choices = {
            "mentions_integration_id": mentions_integration_id.strip(),
            "dms_integration_id": dms_integration_id.strip(),
        }
        errors = {
            name: "Choose an integration, or type its ID."
            for name, value in choices.items()
            if not value
        }
        errors.update(
            {
                name: "That is not an integration ID (letters, digits and dashes)."
                for name, value in choices.items()
                if value and (len(value) > 64 or not value.replace("-", "").isalnum())
            }
        )
        if errors:
            raise FieldErrors(errors)
        client = await self.client_for(tenant_id)
        if client is None:
            raise FieldErrors({"mentions_integration_id": "Connect your Genesys Cloud org first."})

        found: dict[str, OpenIntegration] = {}
        for name, integration_id in choices.items():
            if integration_id in found:
                continue
            try:
                integration = await client.get_integration(integration_id)
            except GenesysNotFound:
                errors[name] = "No Open Messaging integration with this ID exists in your org."
                continue
            except GenesysError as exc:
                errors[name] = _error_hint(exc)
                continue
            if integration.create_status != "Completed":
                errors[name] = (
                    f"This integration is still {integration.create_status or 'being created'} "
                    "in Genesys. Wait until it shows as active, then save again."
                )
                continue
            found[integration_id] = integration
        async with self._sessions() as session:
            for name, integration_id in choices.items():
                owner = await store.integration_owner(
                    session, genesys_integration_id=integration_id
                )
                if owner is not None and owner != tenant_id:
                    errors[name] = "This integration is already connected to another workspace."
        if errors:
            raise FieldErrors(errors)

        return await self._store_and_wire(
            tenant_id=tenant_id,
            actor_slack_user_id=actor_slack_user_id,
            client=client,
            found=found,
            choices=choices,
            auto_wire=auto_wire,
        )

    async def _store_and_wire(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        client: GenesysClient,
        found: dict[str, OpenIntegration],
        choices: dict[str, str],
        auto_wire: bool,
    ) -> list[WiredIntegration]:
        """Store first, then PATCH, so Genesys never signs with a secret we do not hold yet.

        An integration already wired keeps its secret (only `rotate_secret` changes it); an
        integration no longer chosen stays, unflagged, until the admin retires it.
        """
        now = datetime.now(UTC)
        wired: list[WiredIntegration] = []
        secrets_to_patch: dict[str, str] = {}
        async with self._sessions.begin() as session:
            rows = {
                row.genesys_integration_id: row
                for row in await store.list_tenant_integrations(
                    session, tenant_id=tenant_id, include_previous=True
                )
            }
            before = (
                next((i for i, r in rows.items() if r.for_mentions), None),
                next((i for i, r in rows.items() if r.for_dms), None),
            )
            for integration_id, unchosen in rows.items():
                if integration_id not in found and (unchosen.for_mentions or unchosen.for_dms):
                    unchosen.for_mentions = unchosen.for_dms = False
                    unchosen.replaced_at = now
            new_secrets = False
            for integration_id, integration in found.items():
                purposes = [
                    label
                    for label, chosen in (
                        ("mentions", choices["mentions_integration_id"]),
                        ("dms", choices["dms_integration_id"]),
                    )
                    if chosen == integration_id
                ]
                row = rows.get(integration_id)
                outcome = WiredIntegration(
                    genesys_integration_id=integration_id,
                    name=integration.name,
                    purposes=purposes,
                    wiring="manual" if row is None else row.webhook_wiring,
                    kept_secret=row is not None,
                )
                if row is None:
                    secret = secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)
                    outcome.secret_to_paste = secret
                    new_secrets = True
                    row = GenesysIntegration(
                        genesys_integration_id=integration_id,
                        tenant_id=tenant_id,
                        webhook_secret_enc=self._box.encrypt(
                            secret, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
                        ),
                        webhook_wiring="manual",
                    )
                    session.add(row)
                else:
                    secret = self._box.decrypt(
                        row.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
                    )
                row.name = integration.name
                row.for_mentions = "mentions" in purposes
                row.for_dms = "dms" in purposes
                row.replaced_at = None
                secrets_to_patch[integration_id] = secret
                wired.append(outcome)
            after = (choices["mentions_integration_id"], choices["dms_integration_id"])
            changed = [
                name
                for name, old, new in zip(
                    ("mentions_integration_id", "dms_integration_id"), before, after, strict=True
                )
                if old != new
            ] + (["webhook_secret"] if new_secrets else [])
            if changed:
                await store.record_audit(
                    session,
                    tenant_id=tenant_id,
                    action="genesys.integrations_changed",
                    actor_slack_user_id=actor_slack_user_id,
                    fields=changed,
                )
        if not auto_wire:
            return wired

        patched: list[str] = []
        for outcome in wired:
            integration_id = outcome.genesys_integration_id
            try:
                await client.patch_integration(
                    integration_id,
                    name=found[integration_id].name,
                    webhook_url=self.webhook_url,
                    webhook_secret=secrets_to_patch[integration_id],
                )
            except GenesysError as exc:
                outcome.reason = _error_hint(exc)
                continue
            outcome.wiring, outcome.secret_to_paste, outcome.patched = "auto", None, True
            patched.append(integration_id)
        if patched:
            async with self._sessions.begin() as session:
                for integration_id in patched:
                    wired_row = await store.get_tenant_integration(
                        session, tenant_id=tenant_id, genesys_integration_id=integration_id
                    )
                    if wired_row is not None:
                        wired_row.webhook_wiring = "auto"
        return wired

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
            client = await self.client_for(tenant_id)
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
                    webhook_url=self.webhook_url,
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

    async def test_connection(
        self, *, tenant_id: uuid.UUID, send_test_message: bool = False
    ) -> list[Check]:
        """Each row Pass, Fail, Warning or Skipped with a fix; see `connection_check`."""
        async with self._sessions() as session:
            connection = await store.get_connection(session, tenant_id=tenant_id)
            rows = list(await store.list_tenant_integrations(session, tenant_id=tenant_id))
        client = await self.client_for(tenant_id)
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
        check = ConnectionCheck(client, webhook_url=self.webhook_url, tenant_id=tenant_id)
        checks = await check.run(chosen, send_test_message=send_test_message)
        if all(c.status in ("pass", "skip") for c in checks):
            async with self._sessions.begin() as session:
                verified = await store.get_connection(session, tenant_id=tenant_id)
                if verified is not None:
                    verified.last_verified_at = datetime.now(UTC)
        return checks

    async def set_behaviour(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        ack_reaction: bool,
        forward_other_bots: bool,
    ) -> list[str]:
        """Per-workspace switches; returns (and audits) the fields that changed."""
        async with self._sessions.begin() as session:
            tenant = await store.get_tenant(session, tenant_id=tenant_id)
            if tenant is None:
                return []
            changed = [
                name
                for name, old, new in (
                    ("ack_reaction", tenant.ack_reaction, ack_reaction),
                    ("forward_other_bots", tenant.forward_other_bots, forward_other_bots),
                )
                if old != new
            ]
            tenant.ack_reaction = ack_reaction
            tenant.forward_other_bots = forward_other_bots
            if changed:
                await store.record_audit(
                    session,
                    tenant_id=tenant_id,
                    action="tenant.behaviour_changed",
                    actor_slack_user_id=actor_slack_user_id,
                    fields=changed,
                )
        return changed
