"""What delivery needs from Slack and Genesys, as two small ports (`typing.Protocol`).

`app.main` passes the real adapters (`app.slack.sender.SlackSender`,
`app.slack.token_refresh.BotTokenRefresher`, `app.tenants.genesys_access.TenantGenesys`);
the bridge's fast tests pass fakes that record what was sent. The ports speak the adapters'
own types and errors: a failed Slack call raises a `SlackError` (`app.slack.errors`), a failed
Genesys call a `GenesysError`, and a tenant with no Genesys org connected `GenesysNotConnected`.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from app.db.models import SlackInstallation
from app.genesys.conversations import ConversationState
from app.genesys.directory import AgentIdentity
from app.genesys.downloads import DownloadedFile
from app.genesys.messages import InboundAccepted, ReceiptResult
from app.slack.directory import ChannelChoice, ChannelInfo, SlackProfile, ThreadPage
from app.slack.files import SlackFileInfo
from app.slack.uploads import UploadFile


class SlackSender(Protocol):
    async def post_message(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        username: str | None = None,
        icon_url: str | None = None,
    ) -> str: ...

    async def update_message(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None: ...

    async def post_ephemeral(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        slack_user_id: str,
        text: str,
        thread_ts: str | None = None,
    ) -> None: ...

    async def open_dm(self, token: str, *, team_id: str | None, slack_user_id: str) -> str: ...

    async def add_reaction(
        self, token: str, *, team_id: str | None, channel: str, ts: str, name: str
    ) -> None: ...

    async def profile(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> SlackProfile | None: ...

    async def channel_info(
        self, token: str, *, team_id: str | None, scope: str, channel: str
    ) -> ChannelInfo: ...

    async def permalink(
        self, token: str, *, team_id: str | None, channel: str, ts: str
    ) -> str | None: ...

    async def thread_page(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        thread_ts: str,
        before_ts: str,
        limit: int,
    ) -> ThreadPage: ...

    async def upload_files(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        files: list[UploadFile],
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> str | None:
        """Share `files` in one message (Slack's external upload flow); its ts when Slack
        says it, None when the share is still being processed."""
        ...

    async def file_info(
        self, token: str, *, team_id: str | None, slack_file_id: str
    ) -> SlackFileInfo | None: ...

    async def is_guest(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> bool: ...

    async def usergroup_members(
        self, token: str, *, team_id: str | None, scope: str, usergroup_id: str
    ) -> frozenset[str]: ...


class SlackChannels(Protocol):
    """The channel picker of the routing rules page (`conversations.list`, cached)."""

    async def list_channels(
        self, token: str, *, team_id: str | None, scope: str, refresh: bool = False
    ) -> list[ChannelChoice]: ...


class BotTokens(Protocol):
    async def refreshed(self, installation: SlackInstallation) -> str | None:
        """A new bot token if the installation's is about to expire and was rotated; None
        to keep using the current one."""
        ...


class GenesysSender(Protocol):
    async def send_inbound_message(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted: ...

    async def send_structured_response(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted: ...

    async def send_receipt(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> ReceiptResult: ...

    async def agent_identity(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> AgentIdentity | None:
        """Who answers the Genesys conversation (name, avatar); None when unknown."""
        ...

    async def download_attachment(
        self, tenant_id: uuid.UUID, url: str, *, max_bytes: int
    ) -> DownloadedFile:
        """An agent's attachment, at most `max_bytes`, fetched with the tenant's token."""
        ...

    async def conversation_state(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> ConversationState:
        """Whether the Genesys conversation has ended (Open Messaging has no end event)."""
        ...

    async def end_conversation(self, tenant_id: uuid.UUID, conversation_id: str) -> None:
        """End the Genesys conversation from the customer's side."""
        ...

    async def can_end_conversations(self, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant's Genesys client may end conversations (End chat is offered)."""
        ...
