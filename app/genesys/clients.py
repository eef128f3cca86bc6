"""`GenesysClients`: one `GenesysClient` per tenant for the life of the process, so a token is
granted once and reused across messages instead of once per message.

A tenant's entry is keyed by the `credentials_version` its caller passes (a hash of the
credentials, or the connection row's `updated_at`): new credentials mean a new client and a
new token on the next call, without anyone having to remember to call `drop`.

At most `max_clients` are kept, the least recently used closed first: a worker that touches
every tenant (the conversation-end poller across thousands of them) must not hold a client,
its connection pool and its token for each one forever. In the benchmark's 10,000-tenant run
an unbounded map grew the worker past 400 MB. A tenant whose client was closed simply gets a
new one, and a new token, on its next call.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.genesys.client import GenesysClient

# Clients kept per process; each holds a connection pool and a token.
MAX_CLIENTS = 1000


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

    def __init__(self, *, max_clients: int = MAX_CLIENTS) -> None:
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        self._max_clients = max_clients

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
            self._entries.move_to_end(tenant_id)
            return entry.client
        client = factory()
        self._entries[tenant_id] = _Entry(credentials_version, client)
        self._entries.move_to_end(tenant_id)
        stale = [entry] if entry is not None else []
        while len(self._entries) > self._max_clients:
            stale.append(self._entries.popitem(last=False)[1])
        for old in stale:
            await old.client.aclose()
        return client

    async def drop(self, tenant_id: uuid.UUID) -> None:
        """Forget the tenant's client and its token now (new credentials, uninstall). A call
        still in flight on the old client fails as `GenesysUnavailable` and can be retried."""
        entry = self._entries.pop(tenant_id, None)
        if entry is not None:
            await entry.client.aclose()

    async def aclose(self) -> None:
        entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            await entry.client.aclose()
