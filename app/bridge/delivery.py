"""Delivering one conversation's queued messages, oldest first, to Slack or Genesys.

The queue runs at most one flush per conversation at a time, so messages keep their order;
different conversations flush in parallel. Each message is read in one short transaction,
sent with no transaction open, and its outcome written in another. A retryable failure stops
the flush and asks the queue to come back later (never sooner than `Retry-After`); the
conversation waits, others do not. A permanent failure, or too many retries, turns the
message into a dead letter and tells the other side: a notice in the Slack thread, or a
Failed receipt to the agent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing, routing, store
from app.bridge.inbound import (
    SlackContext,
    slack_error_to_reason,
    to_open_message,
    to_receipt,
    to_structured_response,
)
from app.bridge.outbound import AgentMessage, AgentStructured, ButtonClick, parse_webhook
from app.bridge.rendering import SLACK_SAFE_TEXT_LIMIT, shorten_escaped, to_slack_post
from app.bridge.routing import SlackConversationRef, SlackMessage
from app.crypto import SecretBox
from app.db.models import BridgeMessage, Conversation, SlackInstallation, Tenant
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from app.logs import trace_id
from app.slack.errors import SlackCallFailed
from app.slack.installation_store import PostgresInstallationStore
from app.slack.sender import SlackSender
from app.tenants import store as tenants_store
from app.tenants.onboarding import Onboarding
from app.tenants.purposes import SLACK_BOT_TOKEN

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = timedelta(minutes=10)
MAX_ATTEMPTS = 12
# How long an outcome write waits out a Postgres restart before giving up (see _record).
OUTCOME_WRITE_PATIENCE_SECONDS = 60.0
MAX_AGE = timedelta(minutes=30)
BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
ACK_REACTION = "white_check_mark"
# What the person sees in their thread or DM when a message cannot reach Genesys. A problem
# that passes (Genesys down, rate limits, a refused message) is told apart from a set-up
# problem, which only an admin can fix, and who is then told (`SETUP_ALERT_HEADLINE`).
NOT_DELIVERED_NOTICE = (
    ":warning: This message could not be delivered to support right now. Please try again later."
)
SETUP_PROBLEM_NOTICE = (
    ":warning: This message did not reach support: Switchboard is not set up correctly "
    "for this workspace. An admin has been told."
)
# The failure notice becomes this once a replayed dead letter is delivered after all.
DELIVERED_LATER_NOTICE = ":white_check_mark: This message was delivered to support after all."
SETUP_ALERT_HEADLINE = ":rotating_light: Switchboard could not pass messages on to Genesys Cloud."
SETUP_ALERT_INTERVAL = timedelta(hours=1)
# Failures only an admin can fix (the `reason` of a dead letter, up to its first ":").
_SETUP_PROBLEMS = {
    "genesys_not_connected": "no Genesys Cloud org is connected to Switchboard, or no Open "
    "Messaging integration is chosen for {purpose}.",
    "GenesysAuthError": "Genesys Cloud refuses Switchboard's OAuth client ID or secret.",
    "GenesysPermissionError": "the OAuth client's role lacks a permission Switchboard needs "
    "(conversation:message:receive).",
    "GenesysNotFound": "Genesys Cloud does not know the Open Messaging integration chosen for "
    "{purpose} (it may have been deleted).",
}


def is_setup_problem(reason: str) -> bool:
    return reason.split(":", 1)[0] in _SETUP_PROBLEMS


def setup_alert_text(reason: str, *, conversation_kind: str, setup_url: str | None) -> str:
    """The DM to the installing admin: what is wrong and where to fix it. IDs and causes
    only, never what anyone wrote."""
    purpose = "DMs" if conversation_kind == "dm" else "channel mentions"
    problem = _SETUP_PROBLEMS[reason.split(":", 1)[0]].format(purpose=purpose)
    fix = f"Fix it on the set-up page: {setup_url}" if setup_url else "Fix it on the set-up page."
    return (
        f"{SETUP_ALERT_HEADLINE} The cause: {problem} People who write to support are told "
        f"that it is not set up correctly and that an admin has been told. {fix} "
        "(This alert is sent at most once an hour.)"
    )


class RetryLater(Exception):
    """Raised out of a flush: the queue retries the conversation after `delay` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class _Retryable(Exception):
    def __init__(
        self, reason: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class _Permanent(Exception):
    def __init__(
        self,
        reason: str,
        *,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slack_error = slack_error
        self.receipt_reason = receipt_reason


def _agent_addressee(row: BridgeMessage) -> str | None:
    """The `channel.to.id` the agent's message was sent to, which its receipt must name."""
    channel = row.payload.get("channel")
    to = channel.get("to") if isinstance(channel, dict) else None
    to_id = to.get("id") if isinstance(to, dict) else None
    return to_id if isinstance(to_id, str) and to_id else None


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Exponential with full jitter, floored by the server's Retry-After."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(BASE_DELAY_SECONDS / 2, ceiling)
    return max(delay, retry_after or 0.0)


@dataclass
class _Context:
    tenant: Tenant
    installation: SlackInstallation
    conversation: Conversation
    token: str
    # What the tenant has chosen for this kind of conversation now (None: nothing chosen).
    integration_id: str | None = None

    @property
    def team_id(self) -> str | None:
        # Org-wide tokens need the workspace named on each call.
        return self.installation.slack_team_id


class Delivery:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        onboarding: Onboarding,
        slack: SlackSender,
        installation_store: PostgresInstallationStore,
        rotator: AsyncTokenRotator | None = None,
        setup_url: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._setup_url = setup_url
        self._box = box
        self._onboarding = onboarding
        self._slack = slack
        self._installations = installation_store
        self._rotator = rotator

    async def flush(self, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int:
        """Deliver every pending message of the conversation; returns how many were settled."""
        settled = 0
        while True:
            async with self._sessions.begin() as session:
                row = await store.next_pending(session, conversation_id=conversation_id)
                if row is None:
                    return settled
                context = await self._load(session, tenant_id, conversation_id)
                row.attempts += 1
                attempts = row.attempts
            if row.trace_id:
                trace_id.set(row.trace_id)
            if context is not None:
                context = await self._refresh_if_expiring(context)
            if context is None:
                await self._settle(row.id, status="dead", error="tenant_not_installed")
                settled += 1
                continue
            try:
                outcome = await self._deliver(row, context)
            except _Retryable as exc:
                too_old = row.created_at < datetime.now(UTC) - MAX_AGE
                if attempts >= MAX_ATTEMPTS or too_old:
                    await self._dead_letter(row, context, exc.reason)
                    settled += 1
                    continue
                delay = backoff(attempts, exc.retry_after)
                await self._settle(
                    row.id,
                    status="pending",
                    error=exc.reason,
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                    rate_limited=row.rate_limited + int(exc.rate_limited),
                )
                raise RetryLater(delay, exc.reason) from None
            except _Permanent as exc:
                await self._dead_letter(
                    row,
                    context,
                    exc.reason,
                    slack_error=exc.slack_error,
                    receipt_reason=exc.receipt_reason,
                )
                settled += 1
                continue
            await self._delivered(row, context, outcome)
            settled += 1

    async def _load(
        self, session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> _Context | None:
        tenant = await tenants_store.get_tenant(session, tenant_id=tenant_id)
        installation = await tenants_store.get_installation(session, tenant_id=tenant_id)
        conversation = await store.get_conversation(
            session, tenant_id=tenant_id, conversation_id=conversation_id
        )
        if (
            tenant is None
            or installation is None
            or conversation is None
            or tenant.status != "active"
            or installation.bot_token_enc is None
        ):
            return None
        token = self._box.decrypt(
            installation.bot_token_enc, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN
        )
        integration_id = await store.chosen_integration(
            session, tenant_id=tenant_id, kind=conversation.kind
        )
        return _Context(tenant, installation, conversation, token, integration_id)

    async def _refresh_if_expiring(self, context: _Context) -> _Context:
        """With Slack token rotation on, tokens last 12 h; messages alone never pass through
        Bolt's authorize, so the worker refreshes before posting, as Bolt would."""
        installation = context.installation
        expires = installation.bot_token_expires_at
        if (
            self._rotator is None
            or expires is None
            or installation.bot_refresh_token_enc is None
            or expires - datetime.now(UTC) > TOKEN_REFRESH_MARGIN
        ):
            return context
        bot = await self._installations.async_find_bot(
            enterprise_id=installation.slack_enterprise_id,
            team_id=installation.slack_team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        if bot is None:
            return context
        try:
            refreshed = await self._rotator.perform_bot_token_rotation(
                bot=bot,
                minutes_before_expiration=int(TOKEN_REFRESH_MARGIN.total_seconds() // 60),
            )
        except SlackTokenRotationError:
            log.warning("slack token refresh failed", extra={"tenant_id": str(context.tenant.id)})
            return context
        if refreshed is None:
            return context
        await self._installations.async_save_bot(refreshed)
        context.token = refreshed.bot_token
        return context

    async def _settle(
        self,
        message_id: int,
        *,
        status: str,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        **values: Any,
    ) -> None:
        async def write() -> None:
            async with self._sessions.begin() as session:
                await store.mark(
                    session,
                    message_id=message_id,
                    values={
                        "status": status,
                        "last_error": error[:300] if error else None,
                        "next_attempt_at": next_attempt_at,
                        **values,
                    },
                )

        await self._record(write)

    # ---- sending -------------------------------------------------------------------------

    async def _deliver(self, row: BridgeMessage, context: _Context) -> dict[str, Any]:
        if row.direction == "to_genesys":
            return await self._to_genesys(row, context)
        return await self._to_slack(row, context)

    async def _genesys_call(self, context: _Context, call: Any) -> Any:
        client = await self._onboarding.client_for(context.tenant.id)
        if client is None:
            raise _Permanent("genesys_not_connected")
        try:
            return await call(client)
        except (GenesysRateLimited, GenesysUnavailable) as exc:
            limited = isinstance(exc, GenesysRateLimited)
            retry_after = exc.retry_after if isinstance(exc, GenesysRateLimited) else None
            raise _Retryable(type(exc).__name__, retry_after, rate_limited=limited) from None
        except GenesysAuthError:
            # Credentials may be fixed in onboarding within the retry window.
            raise _Retryable("GenesysAuthError") from None
        except GenesysError as exc:
            raise _Permanent(f"{type(exc).__name__}:{exc.status}") from None

    def _slack_message(self, row: BridgeMessage, context: _Context) -> SlackMessage:
        parsed = routing.parse_slack_event(
            row.payload["envelope"],  # type: ignore[arg-type]
            bot_user_id=context.installation.slack_bot_user_id or "",
            bot_id=context.installation.slack_bot_id,
            forward_other_bots=True,
            linked_thread=True,
        )
        if not isinstance(parsed, SlackMessage):
            raise _Permanent(f"unparseable:{parsed.reason}")
        return parsed

    async def _answering_integration(
        self, context: _Context, genesys_message_id: str, known: object = None
    ) -> str:
        """Receipts and button answers concern one agent message, so they go back through
        the integration that message came from, even after the tenant chose another."""
        origin = known if isinstance(known, str) and known else None
        if origin is None:
            async with self._sessions() as session:
                offered = await store.find_by_genesys_message_id(
                    session, tenant_id=context.tenant.id, genesys_message_id=genesys_message_id
                )
            channel = offered.payload.get("channel") if offered is not None else None
            found = channel.get("id") if isinstance(channel, dict) else None
            origin = found if isinstance(found, str) and found else None
        integration_id = (
            origin or context.conversation.genesys_integration_id or context.integration_id
        )
        if integration_id is None:
            raise _Permanent("genesys_not_connected")
        return integration_id

    async def _to_genesys(self, row: BridgeMessage, context: _Context) -> dict[str, Any]:
        external_id = context.conversation.conversation_key
        if row.kind == "receipt":
            body: Any = row.payload["body"]
            integration_id = await self._answering_integration(
                context, str(body["id"]), row.payload.get("genesys_integration_id")
            )
            result = await self._genesys_call(
                context, lambda client: client.send_receipt(integration_id, body)
            )
            return {"receipt_failed": bool(result.failed)}
        if row.kind == "structured_response":
            raw: Any = row.payload["click"]
            integration_id = await self._answering_integration(
                context, str(raw["genesys_message_id"])
            )
            click = ButtonClick(
                genesys_message_id=raw["genesys_message_id"],
                kind=raw["kind"],
                payload=raw["payload"],
                text=raw["text"],
            )
            body = to_structured_response(
                click,
                external_user_id=external_id,
                message_id=row.dedupe_key,
                time=row.source_ts,
            )
            accepted = await self._genesys_call(
                context, lambda client: client.send_structured_response(integration_id, body)
            )
            return {"genesys_message_id": accepted.genesys_message_id}
        # Customer messages follow the tenant's current choice. Genesys keys a conversation
        # on integration + `from.id`, so on a new integration it starts afresh; the agent is
        # told it continues an earlier one if anything crossed before.
        chosen = context.integration_id
        if chosen is None:
            raise _Permanent("genesys_not_connected")
        previous = context.conversation.genesys_integration_id
        continues = False
        if previous is not None and previous != chosen:
            async with self._sessions() as session:
                continues = await store.has_delivered(
                    session, conversation_id=context.conversation.id
                )
        msg = self._slack_message(row, context)
        body = to_open_message(
            msg,
            profile=await self._slack.profile(
                context.token,
                team_id=context.team_id,
                scope=msg.conversation.slack_scope_id,
                slack_user_id=msg.slack_user_id,
            ),
            context=await self._slack_context(context, msg, continues=continues),
            message_id=row.dedupe_key,
        )
        accepted = await self._genesys_call(
            context, lambda client: client.send_inbound_message(chosen, body)
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
        return {
            "genesys_message_id": accepted.genesys_message_id,
            "genesys_conversation_id": accepted.genesys_conversation_id,
            "genesys_integration_id": chosen,
            "react_to": (msg.slack_channel_id, msg.ts) if msg.kind == "message" else None,
        }

    async def _slack_context(
        self, context: _Context, msg: SlackMessage, *, continues: bool = False
    ) -> SlackContext:
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

    async def _to_slack(self, row: BridgeMessage, context: _Context) -> dict[str, Any]:
        conversation = context.conversation
        if conversation.kind == routing.UNRESOLVED_KIND:
            raise _Permanent(
                "unresolvable_recipient",
                receipt_reason=(
                    "InvalidDestination",
                    "The recipient is not a Slack conversation of this workspace",
                ),
            )
        channel = conversation.slack_channel_id
        try:
            if channel is None and conversation.slack_user_id:
                channel = await self._slack.open_dm(
                    context.token, team_id=context.team_id, slack_user_id=conversation.slack_user_id
                )
                async with self._sessions.begin() as session:
                    await store.touch_conversation(
                        session,
                        conversation_id=conversation.id,
                        values={"slack_channel_id": channel},
                    )
            if channel is None:
                raise _Permanent("no_slack_channel")
            if row.kind == "notice_update":
                notice_ts = str(row.payload["slack_ts"])
                await self._slack.update_message(
                    context.token,
                    team_id=context.team_id,
                    channel=channel,
                    ts=notice_ts,
                    text=str(row.payload["text"]),
                )
                return {"slack_ts": notice_ts}
            if row.kind == "notice":
                text, blocks = str(row.payload["text"]), None
            else:
                parsed = parse_webhook(row.payload)
                if not isinstance(parsed, AgentMessage | AgentStructured):
                    raise _Permanent("not_an_agent_message")
                post = to_slack_post(parsed, agent_name=None)
                text, blocks = post.text, post.blocks
            thread_ts = conversation.slack_thread_ts if conversation.kind == "thread" else None
            try:
                ts = await self._slack.post_message(
                    context.token,
                    team_id=context.team_id,
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread_ts,
                )
            except SlackCallFailed as exc:
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
                )
        except SlackCallFailed as exc:
            if exc.retryable:
                limited = exc.error in ("ratelimited", "rate_limited")
                raise _Retryable(
                    f"slack:{exc.error}", exc.retry_after, rate_limited=limited
                ) from None
            raise _Permanent(f"slack:{exc.error}", slack_error=exc.error) from None
        return {"slack_ts": ts}

    # ---- outcomes ------------------------------------------------------------------------

    async def _delivered(
        self, row: BridgeMessage, context: _Context, outcome: dict[str, Any]
    ) -> None:
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "status": "delivered",
            "delivered_at": now,
            "last_error": None,
            "next_attempt_at": None,
        }
        if outcome.get("genesys_message_id") and row.direction == "to_genesys":
            values["genesys_message_id"] = outcome["genesys_message_id"]
        if outcome.get("slack_ts"):
            values["slack_ts"] = outcome["slack_ts"]

        async def record() -> None:
            async with self._sessions.begin() as session:
                # Conversation first, then message: the same lock order as ingest, which
                # upserts the conversation before inserting a message (no deadlock).
                moved = values_for_conversation(context.conversation, outcome)
                if moved:
                    await store.touch_conversation(
                        session, conversation_id=context.conversation.id, values=moved
                    )
                await store.mark(session, message_id=row.id, values=values)
                # A replayed dead letter keeps its last error: it may have left a notice.
                if (
                    row.direction == "to_genesys"
                    and row.kind in ("message", "edit")
                    and row.last_error is not None
                ):
                    await self._retract_notice(session, row, context)
                if row.direction == "to_slack" and row.kind != "notice" and row.genesys_message_id:
                    await self._queue_receipt(session, row, context, delivered=True)

        await self._record(record)
        react_to = outcome.get("react_to")
        if react_to and context.tenant.ack_reaction:
            channel, ts = react_to
            await self._slack.add_reaction(
                context.token,
                team_id=context.team_id,
                channel=channel,
                ts=ts,
                name=ACK_REACTION,
            )

    async def _record(self, write: Callable[[], Awaitable[None]]) -> None:
        """Write an outcome that already happened out there, retrying through a database blip.

        If this gave up at once, the message would stay pending and be sent a second time;
        so a restart or failover of Postgres is waited out (about a minute) with backoff.
        """
        delay = 0.25
        deadline = time.monotonic() + OUTCOME_WRITE_PATIENCE_SECONDS
        while True:
            try:
                await write()
                return
            except DBAPIError as exc:
                if isinstance(exc, IntegrityError) or time.monotonic() > deadline:
                    raise
                log.warning(
                    "outcome not recorded yet, retrying", extra={"error": type(exc).__name__}
                )
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning(
                    "outcome not recorded yet, retrying", extra={"error": type(exc).__name__}
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _queue_receipt(
        self,
        session: AsyncSession,
        row: BridgeMessage,
        context: _Context,
        *,
        delivered: bool,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> None:
        """The agent sees delivered/failed; the receipt rides the same conversation queue."""
        code, message = slack_error_to_reason(slack_error) if slack_error else (None, None)
        if receipt_reason is not None:
            code, message = receipt_reason
        assert row.genesys_message_id is not None
        body = to_receipt(
            row.genesys_message_id,
            external_user_id=_agent_addressee(row) or context.conversation.conversation_key,
            delivered=delivered,
            reason_code=None if delivered else (code or "GeneralError"),
            reason_message=None if delivered else message,
            time=datetime.now(UTC),
        )
        await store.insert_message(
            session,
            values={
                "tenant_id": context.tenant.id,
                "conversation_id": context.conversation.id,
                "direction": "to_genesys",
                "kind": "receipt",
                "dedupe_key": f"receipt:{row.genesys_message_id}",
                "payload": {"body": body, "genesys_integration_id": _origin(row.payload)},
                "source_ts": datetime.now(UTC),
            },
        )

    async def _dead_letter(
        self,
        row: BridgeMessage,
        context: _Context,
        reason: str,
        *,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> None:
        log.warning(
            "message dead-lettered",
            extra={"tenant_id": str(context.tenant.id), "message_id": row.id, "reason": reason},
        )

        async def write() -> None:
            async with self._sessions.begin() as session:
                await self._write_dead_letter(
                    session, row, context, reason, slack_error, receipt_reason
                )

        await self._record(write)

    async def _write_dead_letter(
        self,
        session: AsyncSession,
        row: BridgeMessage,
        context: _Context,
        reason: str,
        slack_error: str | None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> None:
        await store.mark(
            session,
            message_id=row.id,
            values={"status": "dead", "last_error": reason[:300], "next_attempt_at": None},
        )
        if row.direction == "to_slack" and row.kind != "notice" and row.genesys_message_id:
            await self._queue_receipt(
                session,
                row,
                context,
                delivered=False,
                slack_error=slack_error or "fatal_error",
                receipt_reason=receipt_reason,
            )
        elif row.direction == "to_genesys" and row.kind in ("message", "edit"):
            setup_problem = is_setup_problem(reason)
            text = SETUP_PROBLEM_NOTICE if setup_problem else NOT_DELIVERED_NOTICE
            if setup_problem:
                await self._alert_admin(session, context, reason)
            await store.insert_message(
                session,
                values={
                    "tenant_id": context.tenant.id,
                    "conversation_id": context.conversation.id,
                    "direction": "to_slack",
                    "kind": "notice",
                    "dedupe_key": f"notice:{row.id}",
                    "payload": {"text": text},
                    "source_ts": datetime.now(UTC),
                },
            )

    async def _alert_admin(self, session: AsyncSession, context: _Context, reason: str) -> None:
        """Make "an admin has been told" true: a DM from the bot to the admin who installed
        the app, queued in the same transaction as the notice, at most once an hour per tenant.
        It rides the admin's own DM conversation, so it is retried like any other post."""
        tenant, installer = context.tenant, context.installation.installer_slack_user_id
        scope = tenant.slack_enterprise_id if tenant.is_enterprise_install else tenant.slack_team_id
        if not scope or not installer:
            return
        if not await store.claim_setup_alert(
            session, tenant_id=tenant.id, every=SETUP_ALERT_INTERVAL
        ):
            return
        ref = SlackConversationRef.dm(slack_scope_id=scope, slack_user_id=installer)
        conversation_id = await store.upsert_conversation(
            session,
            tenant_id=tenant.id,
            conversation_key=ref.external_user_id,
            values={"kind": "dm", "slack_user_id": installer},
        )
        text = setup_alert_text(
            reason, conversation_kind=context.conversation.kind, setup_url=self._setup_url
        )
        await store.insert_message(
            session,
            values={
                "tenant_id": tenant.id,
                "conversation_id": conversation_id,
                "direction": "to_slack",
                "kind": "notice",
                "dedupe_key": f"setup_alert:{uuid.uuid4()}",
                "payload": {"text": text},
                "source_ts": datetime.now(UTC),
            },
        )
        if conversation_id != context.conversation.id:
            await queueing.defer_flush(
                session, tenant_id=tenant.id, conversation_id=conversation_id
            )
        log.warning(
            "admin alerted about a set-up problem",
            extra={"tenant_id": str(tenant.id), "reason": reason.split(":", 1)[0]},
        )

    async def _retract_notice(
        self, session: AsyncSession, row: BridgeMessage, context: _Context
    ) -> None:
        """A message delivered after it was dead-lettered: its failure notice must not stand.

        A notice not posted yet is dropped; a posted one is rewritten in place (`chat.update`)
        by a `notice_update` queued behind this message in the same conversation.
        """
        notice = await store.find_message(
            session,
            tenant_id=context.tenant.id,
            direction="to_slack",
            dedupe_key=f"notice:{row.id}",
        )
        if notice is None:
            return
        if notice.status == "pending":
            await store.mark(
                session,
                message_id=notice.id,
                values={"status": "recorded", "last_error": "superseded_by_delivery"},
            )
        elif notice.status == "delivered" and notice.slack_ts:
            await store.insert_message(
                session,
                values={
                    "tenant_id": context.tenant.id,
                    "conversation_id": context.conversation.id,
                    "direction": "to_slack",
                    "kind": "notice_update",
                    "dedupe_key": f"notice_update:{row.id}",
                    "payload": {"text": DELIVERED_LATER_NOTICE, "slack_ts": notice.slack_ts},
                    "source_ts": datetime.now(UTC),
                },
            )


def _origin(payload: dict[str, object]) -> str | None:
    """The integration an agent's webhook came through (`channel.id`)."""
    channel = payload.get("channel")
    found = channel.get("id") if isinstance(channel, dict) else None
    return found if isinstance(found, str) and found else None


def values_for_conversation(conversation: Conversation, outcome: dict[str, Any]) -> dict[str, Any]:
    """What a delivery changes on its conversation. A customer message accepted on another
    integration than the recorded one moves the conversation there, and the old Genesys
    conversation ID is forgotten (the new one, if Genesys said it, replaces it)."""
    integration_id = outcome.get("genesys_integration_id")
    genesys_conversation_id = outcome.get("genesys_conversation_id")
    if integration_id and integration_id != conversation.genesys_integration_id:
        return {
            "genesys_integration_id": integration_id,
            "genesys_conversation_id": genesys_conversation_id,
        }
    if genesys_conversation_id:
        return {"genesys_conversation_id": genesys_conversation_id}
    return {}
