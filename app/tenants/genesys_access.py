"""A tenant's way to Genesys: one cached client per tenant, and the verbs delivery sends with.

`TenantGenesys` is the adapter behind the bridge's `GenesysSender` port: it finds the tenant's
stored connection, reuses the tenant's cached client (a credentials change yields a fresh one,
and a fresh token), and raises `GenesysNotConnected` when no org is connected.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.genesys import conversations
from app.genesys.client import GenesysClient
from app.genesys.clients import GenesysClients
from app.genesys.conversations import ConversationState
from app.genesys.directory import AgentDirectory, AgentIdentity
from app.genesys.downloads import DownloadedFile, download_media
from app.genesys.errors import (
    GenesysError,
    GenesysNotFound,
    GenesysPermissionError,
    GenesysRejected,
)
from app.genesys.messages import InboundAccepted, ReceiptResult
from app.genesys.regions import hosts_for
from app.tenants import store
from app.tenants.purposes import GENESYS_CLIENT_SECRET

WEBHOOK_PATH = "/genesys/webhook"
CONNECTION_RECHECK_SECONDS = 5.0
PERMISSION_TTL_SECONDS = 600.0


class GenesysNotConnected(Exception):
    """The tenant has no Genesys Cloud org connected (or it was removed)."""


class TenantGenesys:
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
        self.clients = clients
        self._transport = transport
        self._checked: dict[uuid.UUID, tuple[float, GenesysClient]] = {}
        self._directory = AgentDirectory()
        # Whether each tenant's client may end conversations, for `PERMISSION_TTL_SECONDS`.
        self._may_end: dict[uuid.UUID, tuple[float, bool]] = {}

    @property
    def webhook_url(self) -> str:
        return f"{self._settings.public_url}{WEBHOOK_PATH}"

    def new_client(self, region: str, client_id: str, client_secret: str) -> GenesysClient:
        settings = self._settings
        hosts = hosts_for(
            region,
            api_override=str(settings.genesys_api_url).rstrip("/")
            if settings.genesys_api_url
            else None,
            login_override=str(settings.genesys_login_url).rstrip("/")
            if settings.genesys_login_url
            else None,
            downloads_override=str(settings.genesys_downloads_url).rstrip("/")
            if settings.genesys_downloads_url
            else None,
        )
        return GenesysClient(
            hosts, client_id=client_id, client_secret=client_secret, transport=self._transport
        )

    async def client_for(self, tenant_id: uuid.UUID) -> GenesysClient | None:
        """The tenant's cached client; a credentials change yields a fresh one (and token)."""
        return await self._load_client(tenant_id)

    async def _sending_client(self, tenant_id: uuid.UUID) -> GenesysClient | None:
        """For delivery: the connection row is read at most every `CONNECTION_RECHECK_SECONDS`
        per tenant and process, not on every message. New credentials saved by another
        process are picked up within that (a call with the old ones fails as retryable
        meanwhile); a client dropped in this process is never reused, and "not connected" is
        never remembered, so a tenant that just connected is not turned away."""
        remembered = self._checked.get(tenant_id)
        if (
            remembered is not None
            and remembered[0] > time.monotonic()
            and not remembered[1].is_closed
        ):
            return remembered[1]
        client = await self._load_client(tenant_id)
        if client is None:
            self._checked.pop(tenant_id, None)
        else:
            self._checked[tenant_id] = (time.monotonic() + CONNECTION_RECHECK_SECONDS, client)
        return client

    async def _load_client(self, tenant_id: uuid.UUID) -> GenesysClient | None:
        async with self._sessions() as session:
            connection = await store.get_connection(session, tenant_id=tenant_id)
        if connection is None:
            return None
        secret = self._box.decrypt(
            connection.client_secret_enc, tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
        )
        region, client_id = connection.region, connection.client_id
        return await self.clients.get(
            tenant_id,
            credentials_version=str(connection.credentials_version),
            factory=lambda: self.new_client(region, client_id, secret),
        )

    async def _connected(self, tenant_id: uuid.UUID) -> GenesysClient:
        client = await self._sending_client(tenant_id)
        if client is None:
            raise GenesysNotConnected(str(tenant_id))
        return client

    async def send_inbound_message(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        client = await self._connected(tenant_id)
        return await client.send_inbound_message(integration_id, body)

    async def send_structured_response(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        client = await self._connected(tenant_id)
        return await client.send_structured_response(integration_id, body)

    async def send_receipt(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> ReceiptResult:
        client = await self._connected(tenant_id)
        return await client.send_receipt(integration_id, body)

    async def agent_identity(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> AgentIdentity | None:
        """The agent answering a Genesys conversation; None when it cannot be told (no
        permission, no agent, an error): the caller falls back to the integration's name."""
        client = await self._sending_client(tenant_id)
        if client is None:
            return None
        try:
            return await self._directory.agent_of(
                client, org_key=str(tenant_id), conversation_id=conversation_id
            )
        except GenesysError:
            return None

    async def download_attachment(
        self, tenant_id: uuid.UUID, url: str, *, max_bytes: int
    ) -> DownloadedFile:
        """An agent's attachment, fetched with the tenant's token from its region's downloads
        host only (`genesys.downloads`); raises the `GenesysError` tree, or
        `GenesysNotConnected`."""
        client = await self._connected(tenant_id)
        return await download_media(client, url, max_bytes=max_bytes)

    async def conversation_state(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> ConversationState:
        client = await self._connected(tenant_id)
        return await conversations.conversation_state(client, conversation_id)

    async def end_conversation(self, tenant_id: uuid.UUID, conversation_id: str) -> None:
        client = await self._connected(tenant_id)
        await conversations.disconnect(client, conversation_id)

    async def can_end_conversations(self, tenant_id: uuid.UUID) -> bool:
        """From the client's role policies (`GET /api/v2/authorization/subjects/me`), looked up
        once per `PERMISSION_TTL_SECONDS`. Where Genesys does not list them for a client,
        unknown counts as allowed: a refused end is then explained in the thread."""
        hit = self._may_end.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        client = await self._sending_client(tenant_id)
        if client is None:
            return False
        try:
            subject = await client.get_own_permissions()
            allowed = subject.allows(conversations.DISCONNECT_PERMISSION)
        except (GenesysRejected, GenesysPermissionError, GenesysNotFound):
            allowed = True
        except GenesysError:
            return False  # asked again next time
        if len(self._may_end) > 10_000:
            self._may_end.clear()
        self._may_end[tenant_id] = (time.monotonic() + PERMISSION_TTL_SECONDS, allowed)
        return allowed
