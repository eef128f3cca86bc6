"""Sending one stored message to Genesys: a customer's message, a button answer, or a receipt.

The message was parsed at ingest (`BridgeMessage.normalized`); rows from before that column
are parsed here once more. Genesys failures become `Retryable` or `Permanent` (see
`app.bridge.outcomes`); a tenant with no Genesys org connected is a permanent set-up problem.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import access, flush_store, normalized, routing, rules, store, thread_context
from app.bridge.conversation_end import mark_ended
from app.bridge.customer_files import FILES_SCOPE, refusal
from app.bridge.file_links import FileLinks
from app.bridge.inbound import (
    Part,
    SlackContext,
    message_parts,
    refused_file_label,
    slack_ts_to_datetime,
    to_attachment_message,
    to_open_message,
    to_structured_response,
)
from app.bridge.messages import DeliveryOutcome, Direction, Kind, NewMessage
from app.bridge.notices import AWAY_NOTICE, END_CHAT_REFUSED_NOTICE, files_refused_notice
from app.bridge.outbound import ButtonClick
from app.bridge.outcomes import DeliveryContext, record, webhook_origin
from app.bridge.ports import GenesysSender, SlackSender
from app.bridge.retries import Permanent, Retryable
from app.bridge.routing import SlackMessage
from app.db.models import BridgeMessage
from app.db.session import on_driver
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from app.genesys.messages import InboundAccepted
from app.retry import RetryableError
from app.slack.directory import SlackProfile
from app.slack.errors import SlackError, SlackRateLimited
from app.tenants.genesys_access import GenesysNotConnected

log = logging.getLogger(__name__)

T = TypeVar("T")

# A thread's context waits this many times for Slack's history limit, then goes without.
CONTEXT_WAITS = 2


async def genesys_call(call: Callable[[], Awaitable[T]]) -> T:
    """One call to Genesys, its failures in the retry policy's terms."""
    try:
        return await call()
    except GenesysNotConnected:
        raise Permanent("genesys_not_connected") from None
    except (GenesysRateLimited, GenesysUnavailable) as exc:
        limited = isinstance(exc, GenesysRateLimited)
        retry_after = exc.retry_after if isinstance(exc, GenesysRateLimited) else None
        raise Retryable(type(exc).__name__, retry_after, rate_limited=limited) from None
    except GenesysAuthError:
        # Credentials may be fixed in onboarding within the retry window.
        raise Retryable("GenesysAuthError") from None
    except GenesysError as exc:
        raise Permanent(f"{type(exc).__name__}:{exc.status}") from None


def stored_slack_message(row: BridgeMessage, context: DeliveryContext) -> SlackMessage:
    """What ingest parsed; an older row without it is parsed from its envelope, as ingest
    would have accepted it (a linked thread, any bot the tenant allowed then)."""
    found = normalized.to_slack_message(row.normalized)
    if found is not None:
        return found
    parsed = routing.parse_slack_event(
        row.payload["envelope"],  # type: ignore[arg-type]
        bot_user_id=context.installation.slack_bot_user_id or "",
        bot_id=context.installation.slack_bot_id,
        forward_other_bots=True,
        linked_thread=True,
    )
    if not isinstance(parsed, SlackMessage):
        raise Permanent(f"unparseable:{parsed.reason}")
    return parsed


class ToGenesys:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        genesys: GenesysSender,
        slack: SlackSender,
        file_links: FileLinks,
    ) -> None:
        self._sessions = sessions
        self._genesys = genesys
        self._slack = slack
        self._file_links = file_links

    async def send(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        if row.kind == Kind.RECEIPT:
            return await self._receipt(row, context)
        if row.kind == Kind.STRUCTURED_RESPONSE:
            return await self._structured_response(row, context)
        if row.kind == Kind.END_CHAT:
            return await self._end_chat(row, context)
        return await self._customer_message(row, context)

    async def _admit(
        self,
        context: DeliveryContext,
        *,
        slack_user_id: str,
        channel_id: str | None,
        scope: str,
        answer: bool,
    ) -> None:
        """Raise `access.Refused` (after the ephemeral answer, when `answer`) for someone the
        tenant does not let open requests here; nothing is sent to Genesys then."""
        reason = await access.refusal(
            self._slack, context, slack_user_id=slack_user_id, channel_id=channel_id, scope=scope
        )
        if reason is None:
            return
        if answer:
            await access.tell_refused(
                self._slack,
                context,
                slack_user_id=slack_user_id,
                channel_id=channel_id,
                thread_ts=context.conversation.slack_thread_ts,
            )
        raise access.Refused(reason)

    async def _answering_integration(
        self, context: DeliveryContext, genesys_message_id: str, known: object = None
    ) -> str:
        """Receipts and button answers concern one agent message, so they go back through
        the integration that message came from, even after the tenant chose another."""
        origin = known if isinstance(known, str) and known else None
        if origin is None:
            async with self._sessions() as session:
                offered = await store.find_by_genesys_message_id(
                    session, tenant_id=context.tenant.id, genesys_message_id=genesys_message_id
                )
            origin = webhook_origin(offered.payload) if offered is not None else None
        integration_id = (
            origin or context.conversation.genesys_integration_id or context.integration_id
        )
        if integration_id is None:
            raise Permanent("genesys_not_connected")
        return integration_id

    async def _receipt(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        body: Any = row.payload["body"]
        integration_id = await self._answering_integration(
            context, str(body["id"]), row.payload.get("genesys_integration_id")
        )
        result = await genesys_call(
            lambda: self._genesys.send_receipt(context.tenant.id, integration_id, body)
        )
        return DeliveryOutcome(receipt_failed=bool(result.failed))

    async def _structured_response(
        self, row: BridgeMessage, context: DeliveryContext
    ) -> DeliveryOutcome:
        raw: Any = row.payload["click"]
        await self._admit(
            context,
            slack_user_id=str(row.payload.get("slack_user_id") or ""),
            channel_id=context.conversation.slack_channel_id,
            scope=(
                context.tenant.slack_enterprise_id
                if context.tenant.is_enterprise_install
                else context.tenant.slack_team_id
            )
            or "",
            answer=True,
        )
        integration_id = await self._answering_integration(context, str(raw["genesys_message_id"]))
        click = ButtonClick(
            genesys_message_id=raw["genesys_message_id"],
            kind=raw["kind"],
            payload=raw["payload"],
            text=raw["text"],
        )
        body = to_structured_response(
            click,
            external_user_id=context.conversation.conversation_key,
            message_id=row.dedupe_key,
            time=row.source_ts,
        )
        accepted = await genesys_call(
            lambda: self._genesys.send_structured_response(context.tenant.id, integration_id, body)
        )
        return DeliveryOutcome(genesys_message_id=accepted.genesys_message_id)

    async def _end_chat(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        """End the Genesys conversation the button named, then the same "closed" path as an
        end the agent made. A conversation that already ended or moved on needs nothing; a
        client Genesys refuses is explained to the person who clicked, privately."""
        genesys_conversation_id = str(row.payload["genesys_conversation_id"])
        conversation = context.conversation
        if (
            conversation.genesys_conversation_id != genesys_conversation_id
            or conversation.ended_genesys_conversation_id == genesys_conversation_id
        ):
            return DeliveryOutcome()
        try:
            await genesys_call(
                lambda: self._genesys.end_conversation(context.tenant.id, genesys_conversation_id)
            )
        except Permanent as exc:
            if not exc.reason.startswith("GenesysPermissionError"):
                raise
            async with self._sessions.begin() as session:
                await store.insert_message(
                    session,
                    NewMessage(
                        tenant_id=context.tenant.id,
                        conversation_id=conversation.id,
                        direction=Direction.TO_SLACK,
                        kind=Kind.EPHEMERAL_NOTE,
                        dedupe_key=f"notice:end:{genesys_conversation_id}",
                        payload={
                            "text": END_CHAT_REFUSED_NOTICE,
                            "slack_user_id": row.payload.get("slack_user_id"),
                        },
                        source_ts=datetime.now(UTC),
                    ),
                )
            return DeliveryOutcome()
        async with self._sessions.begin() as session:
            await mark_ended(
                session,
                tenant_id=context.tenant.id,
                conversation_id=conversation.id,
                genesys_conversation_id=genesys_conversation_id,
            )
        conversation.ended_genesys_conversation_id = genesys_conversation_id
        conversation.ended_at = datetime.now(UTC)
        return DeliveryOutcome()

    async def _customer_message(
        self, row: BridgeMessage, context: DeliveryContext
    ) -> DeliveryOutcome:
        # Customer messages follow the tenant's routing rules and current choice, read now.
        # Genesys keys a conversation on integration + `from.id`, so on a new integration it
        # starts afresh; the agent is told it continues an earlier one if anything crossed.
        tenant_rules = context.rules
        if tenant_rules is None:
            async with self._sessions() as session:
                tenant_rules = await store.routing_rules(session, tenant_id=context.tenant.id)
        msg = stored_slack_message(row, context)
        await self._admit(
            context,
            slack_user_id=msg.slack_user_id,
            channel_id=msg.slack_channel_id,
            scope=msg.conversation.slack_scope_id,
            answer=row.kind == Kind.MESSAGE,
        )
        slack_context = await self._slack_context(context, msg)
        written_at = slack_ts_to_datetime(msg.occurred_ts)
        routed = rules.route(
            tenant_rules,
            conversation_kind=msg.conversation.kind,
            channel_id=msg.slack_channel_id,
            connect_org_ids=[o.slack_team_id for o in slack_context.connect_orgs],
            written_at=written_at,
        )
        chosen = (routed.rule.integration_id if routed.rule else None) or context.integration_id
        if chosen is None:
            raise Permanent("genesys_not_connected")
        previous = context.conversation.genesys_integration_id
        continues = False
        if previous is not None and previous != chosen:
            async with self._sessions() as session:
                continues = await store.has_delivered(
                    session, conversation_id=context.conversation.id
                )
        profile = await self._slack.profile(
            context.token,
            team_id=context.team_id,
            scope=msg.conversation.slack_scope_id,
            slack_user_id=msg.slack_user_id,
        )
        slack_context = dataclasses.replace(
            slack_context, continues=continues, routing=routed.attributes
        )
        await self._send_thread_context(row, context, msg, chosen, profile, slack_context)
        user_names = await self._names(context, msg, thread_context.mentioned_user_ids([msg.text]))
        scopes = context.installation.bot_scopes or []
        msg = await self._complete_stubs(context, msg)
        refused = {
            f.slack_file_id: why
            for f in msg.files
            if (why := refusal(f, bot_scopes=scopes)) is not None
        }
        first_id = row.genesys_message_id
        accepted: InboundAccepted | None = None
        # One message per part, in order; a retry skips the parts Genesys already took. The
        # last part's progress is written with the outcome (`Outcomes.delivered`).
        parts = message_parts(msg, refused)
        for part in parts[row.parts_sent :]:
            last = part.index + 1 == len(parts)
            if part.kind == "notice":
                await self._notice(context, msg, refused)
                await self._progress(row, part.index + 1, first_id, write=not last)
                continue
            body = self._part_body(
                part,
                msg,
                row=row,
                context=context,
                profile=profile,
                slack_context=slack_context,
                refused=refused,
                user_names=user_names,
            )
            accepted = await genesys_call(
                partial(self._genesys.send_inbound_message, context.tenant.id, chosen, body)
            )
            first_id = first_id or accepted.genesys_message_id
            await self._progress(row, part.index + 1, first_id, write=not last)
        if continues:
            log.info(
                "conversation moved to another integration",
                extra={
                    "tenant_id": str(context.tenant.id),
                    "conversation_id": str(context.conversation.id),
                    "genesys_integration_id": chosen,
                },
            )
        if routed.after_hours and routed.rule and routed.rule.hours and msg.kind == "message":
            await self._away_notice(context, written_at, routed.rule.hours.next_opening(written_at))
        return DeliveryOutcome(
            genesys_message_id=first_id,
            genesys_conversation_id=accepted.genesys_conversation_id if accepted else None,
            genesys_integration_id=chosen,
            react_to=(msg.slack_channel_id, msg.ts) if msg.kind == "message" else None,
            conversation_values=(
                {"slack_permalink": slack_context.permalink} if slack_context.permalink else {}
            ),
        )

    async def _names(
        self, context: DeliveryContext, msg: SlackMessage, slack_user_ids: list[str]
    ) -> dict[str, str]:
        """Display names of the people a message names (`users.info`, cached by the sender);
        someone Slack does not show us stays as their ID."""
        names: dict[str, str] = {}
        for slack_user_id in slack_user_ids[:20]:
            found = await self._slack.profile(
                context.token,
                team_id=context.team_id,
                scope=msg.conversation.slack_scope_id,
                slack_user_id=slack_user_id,
            )
            name = found.nickname or found.first_name if found is not None else None
            if name:
                names[slack_user_id] = name
        return names

    async def _send_thread_context(
        self,
        row: BridgeMessage,
        context: DeliveryContext,
        msg: SlackMessage,
        integration_id: str,
        profile: SlackProfile | None,
        slack_context: SlackContext,
    ) -> None:
        """A mention inside an existing thread that starts a conversation: the thread's
        earlier messages go first, as one message. Sent once per mention (the row remembers
        it, so a retry of the mention does not repeat it); a thread Slack will not show us
        (no history scope, gone) just goes without."""
        if (
            msg.kind != "message"
            or msg.conversation.kind != "thread"
            or msg.thread_ts is None
            or msg.thread_ts == msg.ts
            or row.payload.get("context_sent")
            or context.conversation.genesys_conversation_id is not None
        ):
            return
        async with self._sessions() as session:
            if await store.has_delivered(
                session, conversation_id=context.conversation.id
            ) or await store.opened_earlier(
                session, conversation_id=context.conversation.id, message_id=row.id
            ):
                return
        try:
            page = await self._slack.thread_page(
                context.token,
                team_id=context.team_id,
                channel=msg.slack_channel_id,
                thread_ts=msg.thread_ts,
                before_ts=msg.ts,
                limit=thread_context.CONTEXT_MESSAGES,
            )
        except SlackRateLimited as exc:
            # History reads are scarce (about one a minute for most apps): wait once for the
            # next, else the mention goes on without its context.
            if row.attempts < CONTEXT_WAITS:
                raise Retryable("slack:ratelimited", exc.retry_after, rate_limited=True) from None
            log.info("thread context skipped", extra={"reason": "ratelimited"})
            return
        except SlackError as exc:
            log.info("thread context skipped", extra={"reason": exc.error})
            return
        names = await self._names(context, msg, thread_context.authors(page.messages))
        text = thread_context.context_mrkdwn(
            page.messages,
            names=names,
            own_bot_id=context.installation.slack_bot_id,
            has_more=page.has_more,
        )
        if text is not None:
            earlier = slack_ts_to_datetime(msg.occurred_ts) - timedelta(milliseconds=1)
            body = to_open_message(
                dataclasses.replace(
                    msg, text=text, files=(), occurred_ts=f"{earlier.timestamp():.6f}"
                ),
                profile=profile,
                context=slack_context,
                message_id=f"{row.dedupe_key}:context",
                user_names=names,
            )
            await genesys_call(
                lambda: self._genesys.send_inbound_message(context.tenant.id, integration_id, body)
            )
        async with self._sessions.begin() as session:
            await store.replace_payload(session, row, {**row.payload, "context_sent": True})

    async def _away_notice(
        self, context: DeliveryContext, written_at: datetime, until: datetime
    ) -> None:
        """Queue the tenant's away message in the conversation, once per closed period: the
        claim and the notice are one transaction, and the flush posts the notice next."""
        conversation = context.conversation
        async with self._sessions.begin() as session:
            claimed = await store.claim_away_notice(
                session, conversation_id=conversation.id, written_at=written_at, until=until
            )
            if not claimed:
                return
            await store.insert_message(
                session,
                NewMessage(
                    tenant_id=context.tenant.id,
                    conversation_id=conversation.id,
                    direction=Direction.TO_SLACK,
                    kind=Kind.NOTICE,
                    dedupe_key=f"away:{conversation.id}:{until.isoformat()}",
                    payload={"text": context.tenant.away_message or AWAY_NOTICE},
                    source_ts=datetime.now(UTC),
                ),
            )

    async def _complete_stubs(self, context: DeliveryContext, msg: SlackMessage) -> SlackMessage:
        """Slack Connect pushes some files as stubs (`check_file_info`, external-contracts
        §S1): `files.info` gives their name, type and size before deciding what crosses. A
        stub Slack no longer knows keeps its ID only and is refused when fetched (404)."""
        if not any(f.needs_file_info for f in msg.files):
            return msg
        if FILES_SCOPE not in (context.installation.bot_scopes or []):
            return msg
        files = []
        for file in msg.files:
            info = None
            if file.needs_file_info:
                try:
                    info = await self._slack.file_info(
                        context.token, team_id=context.team_id, slack_file_id=file.slack_file_id
                    )
                except RetryableError as exc:
                    error = exc.error if isinstance(exc, SlackError) else type(exc).__name__
                    limited = isinstance(exc, SlackRateLimited)
                    raise Retryable(
                        f"slack:{error}", exc.retry_after, rate_limited=limited
                    ) from None
                except SlackError as exc:
                    log.info("files.info failed", extra={"slack_error": exc.error})
            if info is not None:
                file = dataclasses.replace(
                    file,
                    name=info.name or file.name,
                    mimetype=info.mimetype,
                    size=info.size,
                    needs_file_info=False,
                )
            files.append(file)
        return dataclasses.replace(msg, files=tuple(files))

    def _part_body(
        self,
        part: Part,
        msg: SlackMessage,
        *,
        row: BridgeMessage,
        context: DeliveryContext,
        profile: SlackProfile | None,
        slack_context: SlackContext,
        refused: dict[str, str],
        user_names: dict[str, str],
    ) -> dict[str, Any]:
        """The text keeps the row's own `messageId`; file `n` gets `<messageId>:file:<n>`, so
        every part has a stable ID of its own across retries."""
        if part.kind == "text" or part.file is None:
            return to_open_message(
                msg,
                profile=profile,
                context=slack_context,
                message_id=row.dedupe_key,
                refused=refused,
                user_names=user_names,
            )
        link = self._file_links.url(
            tenant_id=context.tenant.id, slack_file_id=part.file.slack_file_id
        )
        return to_attachment_message(
            msg,
            part.file,
            profile=profile,
            context=slack_context,
            message_id=f"{row.dedupe_key}:file:{part.index}",
            url=link,
        )

    async def _progress(
        self, row: BridgeMessage, parts_sent: int, first_id: str | None, *, write: bool
    ) -> None:
        """Genesys took one more part: written at once, so a retry never sends it again."""
        row.parts_sent = parts_sent
        if first_id:
            row.genesys_message_id = first_id
        if not write:
            return

        async def progress() -> None:
            await on_driver(
                self._sessions,
                partial(
                    flush_store.write_progress,
                    message_id=row.id,
                    parts_sent=parts_sent,
                    genesys_message_id=first_id,
                ),
            )

        await record(progress)

    async def _notice(
        self, context: DeliveryContext, msg: SlackMessage, refused: dict[str, str]
    ) -> None:
        """Tell the customer in the thread which files support did not get. Retried like a
        send while Slack is unavailable; a refusal (channel gone) is logged and dropped, as the
        message itself reached the agent."""
        labels = [
            refused_file_label(f, refused[f.slack_file_id])
            for f in msg.files
            if f.slack_file_id in refused
        ]
        thread_ts = (
            context.conversation.slack_thread_ts if context.conversation.kind == "thread" else None
        )
        try:
            await self._slack.post_message(
                context.token,
                team_id=context.team_id,
                channel=msg.slack_channel_id,
                text=files_refused_notice(labels),
                thread_ts=thread_ts,
            )
        except RetryableError as exc:
            error = exc.error if isinstance(exc, SlackError) else type(exc).__name__
            limited = isinstance(exc, SlackRateLimited)
            raise Retryable(f"slack:{error}", exc.retry_after, rate_limited=limited) from None
        except SlackError as exc:
            log.info("file notice not posted", extra={"slack_error": exc.error})

    async def _slack_context(self, context: DeliveryContext, msg: SlackMessage) -> SlackContext:
        """Where the message was written, for the agent: channel name, thread link, sharing."""
        conversation = context.conversation
        scope = msg.conversation.slack_scope_id
        info = await self._slack.channel_info(
            context.token, team_id=context.team_id, scope=scope, channel=msg.slack_channel_id
        )
        permalink = conversation.slack_permalink
        if permalink is None and conversation.kind == "thread" and conversation.slack_thread_ts:
            permalink = await self._slack.permalink(
                context.token,
                team_id=context.team_id,
                channel=msg.slack_channel_id,
                ts=conversation.slack_thread_ts,
            )
        # A new permalink is kept with the outcome (`DeliveryOutcome.conversation_values`).
        return SlackContext(
            team_name=context.tenant.name,
            channel_name=info.name,
            permalink=permalink,
            is_shared=info.is_shared,
            connect_orgs=info.connect_orgs,
        )
