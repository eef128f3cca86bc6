"""Fakes of the bridge's ports (`app.bridge.ports`): they record what would have been sent.

Each can be told to fail the next calls with an adapter's own error, so tests of delivery
see the same exceptions the real `SlackSender` and `TenantGenesys` raise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.db.models import SlackInstallation
from app.genesys.conversations import ConversationState
from app.genesys.directory import AgentIdentity
from app.genesys.downloads import DownloadedFile
from app.genesys.errors import GenesysNotFound
from app.genesys.messages import InboundAccepted, ReceiptResult
from app.slack.directory import ChannelInfo, SlackProfile, ThreadMessage, ThreadPage
from app.slack.files import SlackFileInfo
from app.slack.uploads import UploadFile


@dataclass
class Posted:
    channel: str
    text: str
    thread_ts: str | None
    blocks: list[dict[str, Any]] | None = None
    username: str | None = None
    icon_url: str | None = None


@dataclass
class FakeSlack:
    posted: list[Posted] = field(default_factory=list)
    updated: list[tuple[str, str, str]] = field(default_factory=list)
    ephemeral: list[tuple[str, str, str]] = field(default_factory=list)
    reactions: list[tuple[str, str, str]] = field(default_factory=list)
    tokens_used: list[str] = field(default_factory=list)
    # Raised, one per call, by the next post_message calls.
    failures: list[Exception] = field(default_factory=list)
    # Raised, one per call, by the next add_reaction calls.
    reaction_failures: list[Exception] = field(default_factory=list)
    # Threads `thread_page` reads, by (channel, thread_ts), oldest first.
    threads: dict[tuple[str, str], list[ThreadMessage]] = field(default_factory=dict)
    # (channel, thread_ts, files, initial_comment) per upload_files call that succeeded.
    uploads: list[tuple[str, str | None, list[UploadFile], str | None]] = field(
        default_factory=list
    )
    # Raised, one per call, by the next upload_files calls.
    upload_failures: list[Exception] = field(default_factory=list)
    # What `files.info` knows, by file ID.
    files: dict[str, SlackFileInfo] = field(default_factory=dict)
    guests: set[str] = field(default_factory=set)
    usergroups: dict[str, frozenset[str]] = field(default_factory=dict)

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
    ) -> str:
        self.tokens_used.append(token)
        if self.failures:
            raise self.failures.pop(0)
        self.posted.append(Posted(channel, text, thread_ts, blocks, username, icon_url))
        return f"1700000000.{len(self.posted):06d}"

    async def update_message(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        self.updated.append((channel, ts, text))

    async def post_ephemeral(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        slack_user_id: str,
        text: str,
        thread_ts: str | None = None,
    ) -> None:
        self.ephemeral.append((channel, slack_user_id, text))

    async def open_dm(self, token: str, *, team_id: str | None, slack_user_id: str) -> str:
        return f"D{slack_user_id}"

    async def add_reaction(
        self, token: str, *, team_id: str | None, channel: str, ts: str, name: str
    ) -> None:
        if self.reaction_failures:
            raise self.reaction_failures.pop(0)
        self.reactions.append((channel, ts, name))

    async def profile(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> SlackProfile | None:
        return SlackProfile(first_name="Jane", last_name=None, nickname="jane")

    async def channel_info(
        self, token: str, *, team_id: str | None, scope: str, channel: str
    ) -> ChannelInfo:
        return ChannelInfo(name="support", is_shared=False)

    async def permalink(
        self, token: str, *, team_id: str | None, channel: str, ts: str
    ) -> str | None:
        return f"https://acme.slack.test/archives/{channel}/p{ts.replace('.', '')}"

    async def thread_page(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        thread_ts: str,
        before_ts: str,
        limit: int,
    ) -> ThreadPage:
        earlier = [
            m for m in self.threads.get((channel, thread_ts), []) if float(m.ts) < float(before_ts)
        ]
        return ThreadPage(messages=tuple(earlier[:limit]), has_more=len(earlier) > limit)

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
        self.tokens_used.append(token)
        if self.upload_failures:
            raise self.upload_failures.pop(0)
        self.uploads.append((channel, thread_ts, files, initial_comment))
        return f"1700000001.{len(self.uploads):06d}"

    async def file_info(
        self, token: str, *, team_id: str | None, slack_file_id: str
    ) -> SlackFileInfo | None:
        """What `files.info` says about the files in `files` (by ID); None for others."""
        return self.files.get(slack_file_id)

    async def is_guest(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> bool:
        return slack_user_id in self.guests

    async def usergroup_members(
        self, token: str, *, team_id: str | None, scope: str, usergroup_id: str
    ) -> frozenset[str]:
        return self.usergroups.get(usergroup_id, frozenset())


@dataclass
class Sent:
    tenant_id: uuid.UUID
    integration_id: str
    endpoint: str
    body: dict[str, Any]


@dataclass
class FakeGenesys:
    sent: list[Sent] = field(default_factory=list)
    # Raised, one per call, by the next sends (e.g. `GenesysNotConnected`, `GenesysRejected`).
    failures: list[Exception] = field(default_factory=list)
    # Who answers each Genesys conversation (by conversation id); absent: unknown.
    agents: dict[str, AgentIdentity] = field(default_factory=dict)
    # Genesys conversations that have ended, and those ended through `end_conversation`.
    ended: set[str] = field(default_factory=set)
    may_end: bool = False
    disconnected: list[str] = field(default_factory=list)
    # Agent media by URL; a URL not here answers 404.
    media: dict[str, bytes] = field(default_factory=dict)
    # Raised, one per call, by the next download_attachment calls.
    download_failures: list[Exception] = field(default_factory=list)

    def _record(self, tenant_id: uuid.UUID, integration_id: str, endpoint: str, body: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Sent(tenant_id, integration_id, endpoint, body))

    async def send_inbound_message(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        self._record(tenant_id, integration_id, "message", body)
        return InboundAccepted(id=f"gm-{len(self.sent)}", conversationId="gc-1")

    async def send_structured_response(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        self._record(tenant_id, integration_id, "structured/response", body)
        return InboundAccepted(id=f"gm-{len(self.sent)}")

    async def send_receipt(
        self, tenant_id: uuid.UUID, integration_id: str, body: dict[str, Any]
    ) -> ReceiptResult:
        self._record(tenant_id, integration_id, "receipt", body)
        return ReceiptResult(id=str(body.get("id")), status="Delivered")

    async def agent_identity(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> AgentIdentity | None:
        return self.agents.get(conversation_id)

    async def conversation_state(
        self, tenant_id: uuid.UUID, conversation_id: str
    ) -> ConversationState:
        if self.failures:
            raise self.failures.pop(0)
        return "ended" if conversation_id in self.ended else "open"

    async def end_conversation(self, tenant_id: uuid.UUID, conversation_id: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.disconnected.append(conversation_id)
        self.ended.add(conversation_id)

    async def can_end_conversations(self, tenant_id: uuid.UUID) -> bool:
        return self.may_end

    async def download_attachment(
        self, tenant_id: uuid.UUID, url: str, *, max_bytes: int
    ) -> DownloadedFile:
        if self.download_failures:
            raise self.download_failures.pop(0)
        if url not in self.media:
            raise GenesysNotFound("Genesys answered 404 to attachment download", status=404)
        return DownloadedFile(self.media[url], None)


@dataclass
class FakeTokens:
    """Token rotation: `fresh` is handed out once, as if the token were about to expire."""

    fresh: str | None = None

    async def refreshed(self, installation: SlackInstallation) -> str | None:
        fresh, self.fresh = self.fresh, None
        return fresh
