"""Sending one stored message to Slack: an agent's reply, or a notice of our own.

The agent's message was parsed at ingest (`BridgeMessage.normalized`); rows from before that
column are parsed from the webhook payload here. A DM conversation opens its channel on first
use and keeps it. Slack failures become `Retryable` or `Permanent` (`app.bridge.outcomes`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized, routing, store
from app.bridge.end_chat import with_end_chat
from app.bridge.messages import DeliveryOutcome, Kind
from app.bridge.notices import agent_file_notice
from app.bridge.outbound import AgentMessage, AgentStructured, OutboundAttachment, parse_webhook
from app.bridge.outcomes import DeliveryContext
from app.bridge.ports import GenesysSender, SlackSender
from app.bridge.rendering import (
    SLACK_SAFE_TEXT_LIMIT,
    escape_mrkdwn,
    shorten_escaped,
    to_slack_post,
)
from app.bridge.retries import Permanent, Retryable
from app.db.models import BridgeMessage
from app.genesys.downloads import DownloadTooLarge
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from app.retry import RetryableError
from app.slack.errors import SlackError, SlackRateLimited, SlackRejected
from app.slack.uploads import UploadFile, safe_filename
from app.tenants.genesys_access import GenesysNotConnected

# Slack shows `username`/`icon_url` only with this scope; installs from before it lack it.
CUSTOMIZE_SCOPE = "chat:write.customize"

# An agent's file is held in memory between download and upload. Slack takes files up to
# 1 GB; Genesys' own media limit is reported as 25 MB (UNCONFIRMED), and 25 MB is our cap:
# with WORKER_CONCURRENCY=8 a worker holds at most 200 MB of files at once.
AGENT_FILE_MAX_BYTES = 25 * 1024 * 1024
FILE_TOO_LARGE_RECEIPT = (
    "InvalidMediaContentLength",
    "The file is larger than the 25 MB Switchboard passes on to Slack",
)
FILE_NOT_FETCHED_RECEIPT = ("GeneralError", "The file could not be downloaded from Genesys Cloud")

UNRESOLVABLE_RECEIPT = (
    "InvalidDestination",
    "The recipient is not a Slack conversation of this workspace",
)


def stored_agent_message(row: BridgeMessage) -> AgentMessage | AgentStructured:
    """What ingest parsed; an older row without it is parsed from the webhook payload."""
    found = normalized.to_agent_message(
        row.normalized, structured=row.kind == Kind.AGENT_STRUCTURED
    )
    if found is not None:
        return found
    parsed = parse_webhook(row.payload)
    if not isinstance(parsed, AgentMessage | AgentStructured):
        raise Permanent("not_an_agent_message")
    return parsed


def integration_name(payload: dict[str, object]) -> str | None:
    """`channel.from.nickname`: the integration's name (samples spell it `nickName`)."""
    channel = payload.get("channel")
    sender = channel.get("from") if isinstance(channel, dict) else None
    if not isinstance(sender, dict):
        return None
    name = sender.get("nickname") or sender.get("nickName")
    if not isinstance(name, str):
        return None
    return name.strip()[:80] or None


def unsupported_reason(message: AgentMessage | AgentStructured) -> tuple[str, str] | None:
    """The Failed receipt's reason for content Slack was not shown (its text still was)."""
    if not isinstance(message, AgentStructured) or not message.unsupported:
        return None
    names = ", ".join(sorted({name[:40] for name in message.unsupported}))
    return "UnsupportedMessage", f"Slack cannot show this content: {names}. Its text was shown."


class ToSlack:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        slack: SlackSender,
        genesys: GenesysSender | None = None,
    ) -> None:
        self._sessions = sessions
        self._slack = slack
        self._genesys = genesys

    async def _identity(
        self, row: BridgeMessage, context: DeliveryContext
    ) -> tuple[str | None, str | None]:
        """The name (and avatar) to post an agent's reply under: the agent's, looked up in
        Genesys, else the integration's. Nothing when the tenant switched names off or the
        install lacks `chat:write.customize` (never a reason to fail the message)."""
        if not context.tenant.agent_names:
            return None, None
        if CUSTOMIZE_SCOPE not in (context.installation.bot_scopes or []):
            return None, None
        conversation_id = row.payload.get("conversationId")
        if self._genesys is not None and isinstance(conversation_id, str) and conversation_id:
            agent = await self._genesys.agent_identity(context.tenant.id, conversation_id)
            if agent is not None:
                return agent.name, agent.icon_url
        return integration_name(row.payload), None

    async def send(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        if context.conversation.kind == routing.UNRESOLVED_KIND:
            raise Permanent("unresolvable_recipient", receipt_reason=UNRESOLVABLE_RECEIPT)
        try:
            return await self._send(row, context)
        except (Retryable, Permanent):
            raise
        except RetryableError as exc:
            error = exc.error if isinstance(exc, SlackError) else type(exc).__name__
            limited = isinstance(exc, SlackRateLimited)
            raise Retryable(f"slack:{error}", exc.retry_after, rate_limited=limited) from None
        except SlackError as exc:
            raise Permanent(f"slack:{exc.error}", slack_error=exc.error) from None

    async def _channel(self, context: DeliveryContext) -> str:
        conversation = context.conversation
        channel = conversation.slack_channel_id
        if channel is None and conversation.slack_user_id:
            channel = await self._slack.open_dm(
                context.token, team_id=context.team_id, slack_user_id=conversation.slack_user_id
            )
            async with self._sessions.begin() as session:
                await store.touch_conversation(
                    session, conversation_id=conversation.id, values={"slack_channel_id": channel}
                )
        if channel is None:
            raise Permanent("no_slack_channel")
        return channel

    async def _send(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        conversation = context.conversation
        channel = await self._channel(context)
        if row.kind == Kind.ANSWER_UPDATE:
            blocks: Any = row.payload.get("blocks")
            await self._slack.update_message(
                context.token,
                team_id=context.team_id,
                channel=channel,
                ts=str(row.payload["slack_ts"]),
                text=str(row.payload["text"]),
                blocks=blocks if isinstance(blocks, list) else [],
            )
            return DeliveryOutcome()
        if row.kind == Kind.EPHEMERAL_NOTE:
            await self._slack.post_ephemeral(
                context.token,
                team_id=context.team_id,
                channel=channel,
                slack_user_id=str(row.payload["slack_user_id"]),
                text=str(row.payload["text"]),
                thread_ts=conversation.slack_thread_ts if conversation.kind == "thread" else None,
            )
            return DeliveryOutcome()
        if row.kind == Kind.NOTICE_UPDATE:
            notice_ts = str(row.payload["slack_ts"])
            await self._slack.update_message(
                context.token,
                team_id=context.team_id,
                channel=channel,
                ts=notice_ts,
                text=str(row.payload["text"]),
            )
            return DeliveryOutcome(slack_ts=notice_ts)
        username: str | None = None
        icon_url: str | None = None
        offered: str | None = None
        if row.kind != Kind.NOTICE:
            message = stored_agent_message(row)
            if isinstance(message, AgentMessage) and any(a.url for a in message.attachments):
                return await self._send_files(message, context, channel)
        partly: tuple[str, str] | None = None
        if row.kind == Kind.NOTICE:
            text, blocks = str(row.payload["text"]), None
        else:
            username, icon_url = await self._identity(row, context)
            agent_message = stored_agent_message(row)
            post = to_slack_post(agent_message, agent_name=username)
            text, blocks = post.text, post.blocks
            partly = unsupported_reason(agent_message)
            offer = await self._end_chat_offer(row, context)
            with_button = with_end_chat(text, blocks, offer) if offer else None
            if with_button is not None:
                blocks, offered = with_button, offer
        thread_ts = conversation.slack_thread_ts if conversation.kind == "thread" else None
        try:
            ts = await self._slack.post_message(
                context.token,
                team_id=context.team_id,
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                username=username,
                icon_url=icon_url,
            )
        except SlackRejected as exc:
            if exc.error != "msg_too_long":
                raise
            # Slack counted more than we did; once more, cut to what it recommends.
            ts = await self._slack.post_message(
                context.token,
                team_id=context.team_id,
                channel=channel,
                text=shorten_escaped(text, SLACK_SAFE_TEXT_LIMIT),
                blocks=blocks,
                thread_ts=thread_ts,
                username=username,
                icon_url=icon_url,
            )
        # The offer is recorded with the outcome (`Outcomes.delivered`), once per conversation.
        return DeliveryOutcome(
            slack_ts=ts,
            receipt_reason=partly,
            conversation_values={"end_chat_offered_for": offered} if offered else {},
        )

    async def _end_chat_offer(self, row: BridgeMessage, context: DeliveryContext) -> str | None:
        """The Genesys conversation to offer End chat for: the agent's first reply in it,
        while it is open, where the tenant's client may end it."""
        conversation_id = row.payload.get("conversationId")
        conversation = context.conversation
        if (
            self._genesys is None
            or not isinstance(conversation_id, str)
            or not conversation_id
            or conversation_id
            in (conversation.end_chat_offered_for, conversation.ended_genesys_conversation_id)
        ):
            return None
        if not await self._genesys.can_end_conversations(context.tenant.id):
            return None
        return conversation_id

    async def _send_files(
        self, message: AgentMessage, context: DeliveryContext, channel: str
    ) -> DeliveryOutcome:
        """An agent's files, downloaded from Genesys with the tenant's token and shared in the
        thread or DM as Slack files, in one message whose comment carries the agent's words
        (one Slack message per agent message, so a retry cannot leave half of it behind).
        A failure that passes is retried; one that does not leaves a notice and a Failed
        receipt (`Permanent.notice`)."""
        conversation = context.conversation
        thread_ts = conversation.slack_thread_ts if conversation.kind == "thread" else None
        fetchable = [a for a in message.attachments if a.url]
        names = [safe_filename(a.filename) for a in fetchable]
        lines = [escape_mrkdwn(message.text)] if message.text.strip() else []
        lines += [
            f"📎 {escape_mrkdwn(safe_filename(a.filename))} (no usable link)"
            for a in message.attachments
            if not a.url
        ]
        comment = shorten_escaped("\n".join(lines), SLACK_SAFE_TEXT_LIMIT) if lines else None
        notice = agent_file_notice([escape_mrkdwn(n) for n in names], comment)
        files = [
            UploadFile(name, await self._download(attachment, context, notice), title=name)
            for attachment, name in zip(fetchable, names, strict=True)
        ]
        try:
            ts = await self._slack.upload_files(
                context.token,
                team_id=context.team_id,
                channel=channel,
                files=files,
                thread_ts=thread_ts,
                initial_comment=comment,
            )
        except RetryableError as exc:
            error = exc.error if isinstance(exc, SlackError) else type(exc).__name__
            limited = isinstance(exc, SlackRateLimited)
            raise Retryable(
                f"slack:{error}", exc.retry_after, rate_limited=limited, notice=notice
            ) from None
        except SlackError as exc:
            reason = ("GeneralError", f"Slack refused the file ({exc.error})")
            raise Permanent(
                f"slack:{exc.error}", slack_error=exc.error, receipt_reason=reason, notice=notice
            ) from None
        return DeliveryOutcome(slack_ts=ts)

    async def _download(
        self, attachment: OutboundAttachment, context: DeliveryContext, notice: str
    ) -> bytes:
        assert attachment.url is not None
        if attachment.size_bytes is not None and attachment.size_bytes > AGENT_FILE_MAX_BYTES:
            raise Permanent("file_too_large", receipt_reason=FILE_TOO_LARGE_RECEIPT, notice=notice)
        if self._genesys is None:
            raise Permanent("genesys_not_connected", notice=notice)
        try:
            downloaded = await self._genesys.download_attachment(
                context.tenant.id, attachment.url, max_bytes=AGENT_FILE_MAX_BYTES
            )
        except GenesysNotConnected:
            raise Permanent(
                "genesys_not_connected", receipt_reason=FILE_NOT_FETCHED_RECEIPT, notice=notice
            ) from None
        except DownloadTooLarge:
            raise Permanent(
                "file_too_large", receipt_reason=FILE_TOO_LARGE_RECEIPT, notice=notice
            ) from None
        except (GenesysRateLimited, GenesysUnavailable) as exc:
            limited = isinstance(exc, GenesysRateLimited)
            raise Retryable(
                f"genesys_download:{type(exc).__name__}",
                exc.retry_after,
                rate_limited=limited,
                notice=notice,
            ) from None
        except GenesysAuthError:
            # Credentials may be fixed in onboarding within the retry window.
            raise Retryable("genesys_download:GenesysAuthError", notice=notice) from None
        except GenesysError as exc:
            raise Permanent(
                f"genesys_download:{type(exc).__name__}:{exc.status}",
                receipt_reason=FILE_NOT_FETCHED_RECEIPT,
                notice=notice,
            ) from None
        return downloaded.content
