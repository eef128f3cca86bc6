"""A customer's Slack file, served to Genesys behind a signed link (`app.bridge.file_links`).

Which files can be passed on at all (`refusal`), and, when Genesys fetches a link, finding the
file in the tenant's Slack and opening the download (`CustomerFiles.open`). Nothing is stored:
the bytes go from Slack to Genesys as they come. The web layer (`app.web.files`) only checks
the link and turns the answer into HTTP.

Genesys takes attachments of at most 25 MB, and its default supported content profile takes
every inbound media type (external-contracts §G4), so size is what we refuse on; a file Slack
does not host (an external link, a file hidden by the free plan's limit) has no bytes to pass.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.routing import SlackFile
from app.crypto import DecryptionError, SecretBox
from app.db.models import TenantStatus
from app.slack.errors import SlackError
from app.slack.files import FileUnavailable, SlackFileInfo
from app.tenants import store as tenants_store
from app.tenants.purposes import SLACK_BOT_TOKEN

log = logging.getLogger(__name__)

# Genesys' limit for one attachment (external-contracts §G4: 25 MB, read as 25,000,000 bytes, the
# strictest reading).
GENESYS_ATTACHMENT_MAX_BYTES = 25_000_000
# Why a file was not passed on (the words are `inbound.FILE_REFUSALS`).
TOO_LARGE = "too_large"
NO_ACCESS = "no_access"
FILES_SCOPE = "files:read"


def refusal(file: SlackFile, *, bot_scopes: Sequence[str]) -> str | None:
    """Why this file cannot be passed on, from what Slack's event says and what the install
    may read; None: pass it on. A stub (`check_file_info`) has no size yet; its link is
    checked when fetched. An install from before `files:read` cannot download anything."""
    if FILES_SCOPE not in bot_scopes:
        return NO_ACCESS
    if file.size is not None and file.size > GENESYS_ATTACHMENT_MAX_BYTES:
        return TOO_LARGE
    return None


class Outcome(StrEnum):
    SERVED = "served"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


class FileDownload(Protocol):
    content_type: str
    content_length: int | None

    def chunks(self, limit: int) -> AsyncIterator[bytes]: ...


class FileHost(Protocol):
    async def open(self, info: SlackFileInfo, *, token: str) -> FileDownload: ...


class FileLookup(Protocol):
    async def file_info(
        self, token: str, *, team_id: str | None, slack_file_id: str
    ) -> SlackFileInfo | None: ...


@dataclass
class Served:
    outcome: Outcome
    info: SlackFileInfo | None = None
    download: FileDownload | None = None
    reason: str | None = None


class CustomerFiles:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        lookup: FileLookup,
        host: FileHost,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._lookup = lookup
        self._host = host

    async def _token(self, tenant_id: uuid.UUID) -> tuple[str, str | None] | None:
        async with self._sessions() as session:
            tenant = await tenants_store.get_tenant(session, tenant_id=tenant_id)
            installation = await tenants_store.get_installation(session, tenant_id=tenant_id)
        if tenant is None or tenant.status != TenantStatus.ACTIVE:
            return None
        if installation is None or installation.bot_token_enc is None:
            return None
        token = self._box.decrypt(
            installation.bot_token_enc, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN
        )
        return token, installation.slack_team_id

    async def _token_or_reason(self, tenant_id: uuid.UUID) -> tuple[str, str | None] | Served:
        try:
            found = await self._token(tenant_id)
        except DecryptionError:
            # A key removed from ENCRYPTION_KEYS too early: an operator's problem, logged.
            log.warning("bot token unreadable for a file link", extra={"tenant_id": str(tenant_id)})
            return Served(Outcome.UNAVAILABLE, reason="token_unreadable")
        except (DBAPIError, OSError):
            return Served(Outcome.UNAVAILABLE, reason="database_unavailable")
        if found is None:
            return Served(Outcome.NOT_FOUND, reason="no_installation")
        return found

    async def open(self, tenant_id: uuid.UUID, slack_file_id: str) -> Served:
        """The file's download, opened; NOT_FOUND for a file (or tenant) we cannot serve."""
        found = await self._token_or_reason(tenant_id)
        if isinstance(found, Served):
            return found
        token, team_id = found
        try:
            info = await self._lookup.file_info(token, team_id=team_id, slack_file_id=slack_file_id)
        except SlackError as exc:
            return Served(Outcome.UNAVAILABLE, reason=f"files.info:{exc.error}")
        if info is None or not info.hosted:
            return Served(Outcome.NOT_FOUND, reason="unknown_file")
        if info.size is not None and info.size > GENESYS_ATTACHMENT_MAX_BYTES:
            return Served(Outcome.NOT_FOUND, info=info, reason=TOO_LARGE)
        try:
            download = await self._host.open(info, token=token)
        except FileUnavailable as exc:
            outcome = Outcome.UNAVAILABLE if exc.retryable else Outcome.NOT_FOUND
            return Served(outcome, info=info, reason=exc.reason)
        return Served(Outcome.SERVED, info=info, download=download)
