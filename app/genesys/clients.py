"""`GenesysClients`: one `GenesysClient` per tenant for the life of the process, so a token is
granted once and reused across messages instead of once per message.

A tenant's entry is keyed by the `credentials_version` its caller passes (a hash of the
credentials, or the connection row's `updated_at`): new credentials mean a new client and a
new token on the next call, without anyone having to remember to call `drop`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from app.genesys.client import GenesysClient


@dataclass(frozen=True)
class _Entry:
    credentials_version: str
    client: GenesysClient


class GenesysClients:
    """Created in the app's lifespan, closed on shutdown.

    No lock is needed: between looking an entry up and storing its replacement there is no
    `await`, so concurrent asyncio callers cannot both build a client for the same version.
    Only closing the old client awaits, after the new one is already in place.
    """

    def __init__(self) -> None:
        self._entries: dict[uuid.UUID, _Entry] = {}

    async def get(
        self,
        tenant_id: uuid.UUID,
        *,
        credentials_version: str,
        factory: Callable[[], GenesysClient],
    ) -> GenesysClient:
        entry = self._entries.get(tenant_id)
        if (
            entry is not None
            and entry.credentials_version == credentials_version
            and not entry.client.is_closed
        ):
            return entry.client
        client = factory()
        self._entries[tenant_id] = _Entry(credentials_version, client)
        if entry is not None:
            await entry.client.aclose()
        return client

    async def drop(self, tenant_id: uuid.UUID) -> None:
        """Forget the tenant's client and its token now (new credentials, uninstall). A call
        still in flight on the old client fails as `GenesysUnavailable` and can be retried."""
        entry = self._entries.pop(tenant_id, None)
        if entry is not None:
            await entry.client.aclose()

    async def aclose(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            await entry.client.aclose()
