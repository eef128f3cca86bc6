"""Sending one stored message to Genesys: a customer's message, a button answer, or a receipt.

The message was parsed at ingest (`BridgeMessage.normalized`); rows from before that column
are parsed here once more. Genesys failures become `Retryable` or `Permanent` (see
`app.bridge.outcomes`); a tenant with no Genesys org connected is a permanent set-up problem.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import normalized, routing, store, thread_context
from app.bridge.conversation_end import mark_ended
from app.bridge.inbound import (
    SlackContext,
    slack_ts_to_datetime,
    to_open_message,
    to_structured_response,
)
from app.bridge.messages import DeliveryOutcome, Direction, Kind, NewMessage
from app.bridge.notices import END_CHAT_REFUSED_NOTICE
from app.bridge.outbound import ButtonClick
from app.bridge.outcomes import DeliveryContext, webhook_origin
from app.bridge.ports import GenesysSender, SlackSender
from app.bridge.retries import Permanent, Retryable
from app.bridge.routing import SlackMessage
from app.db.models import BridgeMessage
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysRateLimited,
    GenesysUnavailable,
)
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
    ) -> None:
        self._sessions = sessions
        self._genesys = genesys
        self._slack = slack

    async def send(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        if row.kind == Kind.RECEIPT:
            return await self._receipt(row, context)
        if row.kind == Kind.STRUCTURED_RESPONSE:
            return await self._structured_response(row, context)
        if row.kind == Kind.END_CHAT:
            return await self._end_chat(row, context)
        return await self._customer_message(row, context)

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
        client Genesys refuses is explained in the thread instead."""
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
                        kind=Kind.NOTICE,
                        dedupe_key=f"notice:end:{genesys_conversation_id}",
                        payload={"text": END_CHAT_REFUSED_NOTICE},
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
        # Customer messages follow the tenant's current choice. Genesys keys a conversation
        # on integration + `from.id`, so on a new integration it starts afresh; the agent is
        # told it continues an earlier one if anything crossed before.
        chosen = context.integration_id
        if chosen is None:
            raise Permanent("genesys_not_connected")
        previous = context.conversation.genesys_integration_id
        continues = False
        if previous is not None and previous != chosen:
            async with self._sessions() as session:
                continues = await store.has_delivered(
                    session, conversation_id=context.conversation.id
                )
        msg = stored_slack_message(row, context)
        profile = await self._slack.profile(
            context.token,
            team_id=context.team_id,
            scope=msg.conversation.slack_scope_id,
            slack_user_id=msg.slack_user_id,
        )
        slack_context = await self._slack_context(context, msg, continues=continues)
        await self._send_thread_context(row, context, msg, chosen, profile, slack_context)
        body = to_open_message(
            msg,
            profile=profile,
            context=slack_context,
            message_id=row.dedupe_key,
            user_names=await self._names(
                context, msg, thread_context.mentioned_user_ids([msg.text])
            ),
        )
        accepted = await genesys_call(
            lambda: self._genesys.send_inbound_message(context.tenant.id, chosen, body)
        )
        if continues:
            log.info(
                "conversation moved to another integration",
                extra={
                    "tenant_id": str(context.tenant.id),
                    "conversation_id": str(context.conversation.id),
                    "genesys_integration_id": chosen,
                },
            )
        return DeliveryOutcome(
            genesys_message_id=accepted.genesys_message_id,
            genesys_conversation_id=accepted.genesys_conversation_id,
            genesys_integration_id=chosen,
            react_to=(msg.slack_channel_id, msg.ts) if msg.kind == "message" else None,
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
            if await store.has_delivered(session, conversation_id=context.conversation.id):
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
                replace(msg, text=text, files=(), occurred_ts=f"{earlier.timestamp():.6f}"),
                profile=profile,
                context=slack_context,
                message_id=f"{row.dedupe_key}:context",
                user_names=names,
            )
            await genesys_call(
                lambda: self._genesys.send_inbound_message(context.tenant.id, integration_id, body)
            )
        row.payload = {**row.payload, "context_sent": True}
        async with self._sessions.begin() as session:
            await store.mark(session, message_id=row.id, values={"payload": row.payload})

    async def _slack_context(
        self, context: DeliveryContext, msg: SlackMessage, *, continues: bool = False
    ) -> SlackContext:
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
            if permalink:
                async with self._sessions.begin() as session:
                    await store.touch_conversation(
                        session,
                        conversation_id=conversation.id,
                        values={"slack_permalink": permalink},
                    )
        return SlackContext(
            team_name=context.tenant.name,
            channel_name=info.name,
            permalink=permalink,
            is_shared=info.is_shared,
            continues=continues,
        )
