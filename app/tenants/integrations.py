"""Choosing a tenant's Open Messaging integrations: validate live, store, then wire the webhook.

Both choices are checked against Genesys before anything is saved. Only a newly wired
integration gets a fresh webhook secret; it is encrypted before it reaches the session and
returned in clear only when the admin must paste it into Genesys by hand.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.models import GenesysIntegration
from app.genesys.client import GenesysClient
from app.genesys.errors import GenesysError, GenesysNotFound
from app.genesys.messages import OpenIntegration
from app.tenants import store
from app.tenants.connection_check import error_hint as _error_hint
from app.tenants.genesys_access import TenantGenesys
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET

# Genesys requires more than 15 characters; 32 random bytes is far beyond guessing.
WEBHOOK_SECRET_BYTES = 32


class FieldErrors(Exception):
    """Input the admin must correct; `errors` maps a form field to a sentence about it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


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


class IntegrationSetup:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox, genesys: TenantGenesys
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._genesys = genesys

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
        client = await self._genesys.client_for(tenant_id)
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
                    webhook_url=self._genesys.webhook_url,
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
