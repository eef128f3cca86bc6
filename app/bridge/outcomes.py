"""What a delivery attempt leaves behind: the writes after an outcome.

A permanent failure, or a retryable one past the limits of `app.bridge.retries`, turns the
message into a dead letter and tells the other side: a notice in the Slack thread, or a
Failed receipt to the agent. A delivered message records what the other side said, and an
agent's message gets its Delivered receipt. Every write here runs after the network call, in
its own transaction, and waits out a Postgres restart (`record`), so an outcome that
happened out there is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import failure_alert, flush_store, queueing, rules, store
from app.bridge.inbound import slack_error_to_reason, to_receipt
from app.bridge.messages import (
    CUSTOMER_KINDS,
    DeliveryOutcome,
    Direction,
    Kind,
    NewConversation,
    NewMessage,
    Status,
)
from app.bridge.notices import (
    AGENT_FILE_PASSED_ON_LATER,
    DELIVERED_LATER_NOTICE,
    NOT_DELIVERED_NOTICE,
    SETUP_PROBLEM_NOTICE,
    is_setup_problem,
    setup_alert_text,
)
from app.bridge.routing import SlackConversationRef
from app.crypto import SecretBox
from app.db.models import BridgeMessage, Conversation, SlackInstallation, Tenant
from app.db.session import DISCONNECTS, ConnectionLost, on_driver

log = logging.getLogger(__name__)

# How long an outcome write waits out a Postgres restart before giving up (see `record`).
OUTCOME_WRITE_PATIENCE_SECONDS = 60.0
SETUP_ALERT_INTERVAL = timedelta(hours=1)
# What a write on the driver (`flush_store`) raises while Postgres restarts or fails over.
TRANSIENT: tuple[type[BaseException], ...] = (*DISCONNECTS, ConnectionLost, asyncpg.PostgresError)


@dataclass
class DeliveryContext:
    """What one message's delivery needs, read in the flush's first short transaction."""

    tenant: Tenant
    installation: SlackInstallation
    conversation: Conversation
    token: str
    # What the tenant has chosen for this kind of conversation now (None: nothing chosen).
    integration_id: str | None = None
    # The tenant's routing rules as of the flush's read (None: read them when needed).
    rules: list[rules.Rule] | None = None

    @property
    def team_id(self) -> str | None:
        # Org-wide tokens need the workspace named on each call.
        return self.installation.slack_team_id


def agent_addressee(row: BridgeMessage) -> str | None:
    """The `channel.to.id` the agent's message was sent to, which its receipt must name."""
    channel = row.payload.get("channel")
    to = channel.get("to") if isinstance(channel, dict) else None
    to_id = to.get("id") if isinstance(to, dict) else None
    return to_id if isinstance(to_id, str) and to_id else None


def webhook_origin(payload: dict[str, object]) -> str | None:
    """The integration an agent's webhook came through (`channel.id`)."""
    channel = payload.get("channel")
    found = channel.get("id") if isinstance(channel, dict) else None
    return found if isinstance(found, str) and found else None


def values_for_conversation(
    conversation: Conversation, outcome: DeliveryOutcome
) -> dict[str, str | None]:
    """What a delivery changes on its conversation. A customer message accepted on another
    integration than the recorded one moves the conversation there, and the old Genesys
    conversation ID is forgotten (the new one, if Genesys said it, replaces it)."""
    integration_id = outcome.genesys_integration_id
    genesys_conversation_id = outcome.genesys_conversation_id
    changes: dict[str, str | None] = {
        name: value
        for name, value in outcome.conversation_values.items()
        if getattr(conversation, name) != value
    }
    if integration_id and integration_id != conversation.genesys_integration_id:
        changes |= {
            "genesys_integration_id": integration_id,
            "genesys_conversation_id": genesys_conversation_id,
        }
    elif (
        genesys_conversation_id and genesys_conversation_id != conversation.genesys_conversation_id
    ):
        changes["genesys_conversation_id"] = genesys_conversation_id
    # A customer message accepted after an end: a new Genesys conversation, or the ended one
    # reopened (UNCONFIRMED which, external-contracts §G10), opens ours again; a reopened one is
    # watched for its end once more.
    if genesys_conversation_id and ("genesys_conversation_id" in changes or conversation.ended_at):
        changes["ended_at"] = None
        if genesys_conversation_id == conversation.ended_genesys_conversation_id:
            changes["ended_genesys_conversation_id"] = None
    return changes


async def record(write: Callable[[], Awaitable[None]]) -> None:
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
            log.warning("outcome not recorded yet, retrying", extra={"error": type(exc).__name__})
        except TRANSIENT as exc:
            # The same on the driver (`flush_store`): a unique violation is a bug, not a blip.
            if (
                isinstance(exc, asyncpg.IntegrityConstraintViolationError)
                or time.monotonic() > deadline
            ):
                raise
            log.warning("outcome not recorded yet, retrying", extra={"error": type(exc).__name__})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


class Outcomes:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        setup_url: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._setup_url = setup_url

    async def settle(
        self,
        message_id: int,
        *,
        status: Status,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        rate_limited: int | None = None,
        attempts: int | None = None,
    ) -> None:
        async def write() -> None:
            await on_driver(
                self._sessions,
                lambda connection: flush_store.write_settled(
                    connection,
                    message_id=message_id,
                    status=status,
                    error=error[:300] if error else None,
                    next_attempt_at=next_attempt_at,
                    rate_limited=rate_limited,
                    attempts=attempts,
                ),
            )

        await record(write)

    async def delivered(
        self,
        row: BridgeMessage,
        context: DeliveryContext,
        outcome: DeliveryOutcome,
        *,
        attempts: int,
    ) -> flush_store.Delivered:
        """One statement: the conversation only if the outcome changed it, the message (with
        the parts sent, the last of which is recorded only here), and (for an agent's message)
        its Delivered receipt. The flush's copy of the conversation is kept in step. A
        message whose failure notice must be retracted takes the ORM's longer way.

        Says whether anything else of the conversation was pending then, and gives the
        receipt it queued, which the flush may send next without reading the queue again."""
        delivered_at = datetime.now(UTC)
        genesys_message_id = (
            outcome.genesys_message_id if row.direction == Direction.TO_GENESYS else None
        ) or None
        values: dict[str, object] = {
            "status": Status.DELIVERED.value,
            "delivered_at": delivered_at,
            "last_error": None,
            "next_attempt_at": None,
            "attempts": attempts,
            "parts_sent": row.parts_sent,
        }
        if genesys_message_id:
            values["genesys_message_id"] = genesys_message_id
        if outcome.slack_ts:
            values["slack_ts"] = outcome.slack_ts

        moved = values_for_conversation(context.conversation, outcome)
        # A replayed dead letter keeps its last error: it may have left a notice to retract.
        retract_text: str | None = None
        if row.last_error is not None:
            if row.direction == Direction.TO_GENESYS and row.kind in CUSTOMER_KINDS:
                retract_text = DELIVERED_LATER_NOTICE
            elif row.direction == Direction.TO_SLACK and row.kind not in (
                Kind.NOTICE,
                Kind.NOTICE_UPDATE,
            ):
                # An agent's file replayed after its "could not be passed on" notice.
                retract_text = AGENT_FILE_PASSED_ON_LATER
        receipt = (
            self._receipt(
                row,
                context,
                delivered=outcome.receipt_reason is None,
                receipt_reason=outcome.receipt_reason,
            )
            if row.direction == Direction.TO_SLACK
            and row.kind != Kind.NOTICE
            and row.genesys_message_id
            else None
        )

        # The ORM's way reads the queue again afterwards, as if others were pending.
        delivered = flush_store.Delivered(others=True)

        async def write() -> None:
            """The common path: one statement, no ORM (`flush_store.write_delivered`)."""
            nonlocal delivered
            delivered = await on_driver(
                self._sessions,
                lambda connection: flush_store.write_delivered(
                    connection,
                    box=self._box,
                    message_id=row.id,
                    conversation_id=context.conversation.id,
                    delivered_at=delivered_at,
                    attempts=attempts,
                    parts_sent=row.parts_sent,
                    genesys_message_id=genesys_message_id,
                    slack_ts=outcome.slack_ts or None,
                    moved=moved,
                    receipt=receipt,
                ),
            )

        async def write_retracting() -> None:
            assert retract_text is not None
            async with self._sessions.begin() as session:
                # Conversation first, then message: the same lock order as ingest, which
                # upserts the conversation before inserting a message (no deadlock).
                if moved:
                    await store.touch_conversation(
                        session, conversation_id=context.conversation.id, values=moved
                    )
                await store.mark(session, message_id=row.id, values=values)
                await self._retract_notice(session, row, context, text=retract_text)
                if receipt is not None:
                    await store.insert_message(session, receipt)

        await record(write if retract_text is None else write_retracting)
        for name, value in moved.items():
            setattr(context.conversation, name, value)
        return delivered

    async def dead_letter(
        self,
        row: BridgeMessage,
        context: DeliveryContext,
        reason: str,
        *,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
        attempts: int | None = None,
        notice: str | None = None,
    ) -> None:
        """`notice`: a text of ours to post in the Slack conversation after the dead letter
        (an agent's file that could not be passed on), queued in the same transaction."""
        log.warning(
            "message dead-lettered",
            extra={"tenant_id": str(context.tenant.id), "message_id": row.id, "reason": reason},
        )

        async def write() -> None:
            async with self._sessions.begin() as session:
                await store.mark(
                    session,
                    message_id=row.id,
                    values={
                        "status": Status.DEAD.value,
                        "last_error": reason[:300],
                        "next_attempt_at": None,
                        "attempts": attempts if attempts is not None else row.attempts,
                    },
                )
                if (
                    row.direction == Direction.TO_SLACK
                    and row.kind != Kind.NOTICE
                    and row.genesys_message_id
                ):
                    await self._queue_receipt(
                        session,
                        row,
                        context,
                        delivered=False,
                        slack_error=slack_error or "fatal_error",
                        receipt_reason=receipt_reason,
                    )
                if row.direction == Direction.TO_SLACK and notice is not None:
                    await store.insert_message(
                        session,
                        NewMessage(
                            tenant_id=context.tenant.id,
                            conversation_id=context.conversation.id,
                            direction=Direction.TO_SLACK,
                            kind=Kind.NOTICE,
                            dedupe_key=f"notice:{row.id}",
                            payload={"text": notice},
                            source_ts=datetime.now(UTC),
                        ),
                    )
                elif row.direction == Direction.TO_GENESYS and row.kind in CUSTOMER_KINDS:
                    await self._notify_customer(session, row, context, reason)
                if failure_alert.concerns(row):
                    await self._alert_failures(session, context)

        await record(write)

    async def refused(
        self, row: BridgeMessage, context: DeliveryContext, reason: str, *, attempts: int
    ) -> bool:
        """Keep a message the tenant does not let through as `refused`. A refused click also
        drops the rewrite of the agent's message that its answer queued, so the buttons stay
        and nothing says an answer was given. True when that touched another row."""
        touched = False

        async def write() -> None:
            nonlocal touched
            async with self._sessions.begin() as session:
                await store.mark(
                    session,
                    message_id=row.id,
                    values={
                        "status": Status.REFUSED.value,
                        "last_error": f"refused:{reason}"[:300],
                        "next_attempt_at": None,
                        "attempts": attempts,
                    },
                )
                if row.kind != Kind.STRUCTURED_RESPONSE:
                    return
                click = row.payload.get("click")
                offered = click.get("genesys_message_id") if isinstance(click, dict) else None
                # One UPDATE, no row loaded: nothing of the payload is read or opened here.
                dropped = await session.execute(
                    update(BridgeMessage)
                    .where(
                        BridgeMessage.tenant_id == context.tenant.id,
                        BridgeMessage.direction == Direction.TO_SLACK.value,
                        BridgeMessage.dedupe_key == f"answered:{offered}",
                        BridgeMessage.status == Status.PENDING.value,
                    )
                    .values(status=Status.RECORDED.value, last_error="answer_refused")
                    .returning(BridgeMessage.id)
                    .execution_options(synchronize_session=False)
                )
                touched = dropped.first() is not None

        await record(write)
        return touched

    async def failing(self, row: BridgeMessage, context: DeliveryContext) -> None:
        """A message keeps failing (a streak of retryable failures): the failure DM, if on."""
        if not (context.tenant.failure_alert and failure_alert.concerns(row)):
            return

        async def write() -> None:
            async with self._sessions.begin() as session:
                await self._alert_failures(session, context)

        await record(write)

    async def _alert_failures(self, session: AsyncSession, context: DeliveryContext) -> None:
        await failure_alert.queue(
            session,
            tenant=context.tenant,
            installation=context.installation,
            current_conversation_id=context.conversation.id,
            failures_url=f"{self._setup_url}#failures" if self._setup_url else None,
        )

    async def _notify_customer(
        self, session: AsyncSession, row: BridgeMessage, context: DeliveryContext, reason: str
    ) -> None:
        setup_problem = is_setup_problem(reason)
        if setup_problem:
            await self._alert_admin(session, context, reason)
        await store.insert_message(
            session,
            NewMessage(
                tenant_id=context.tenant.id,
                conversation_id=context.conversation.id,
                direction=Direction.TO_SLACK,
                kind=Kind.NOTICE,
                dedupe_key=f"notice:{row.id}",
                payload={"text": SETUP_PROBLEM_NOTICE if setup_problem else NOT_DELIVERED_NOTICE},
                source_ts=datetime.now(UTC),
            ),
        )

    async def _queue_receipt(
        self,
        session: AsyncSession,
        row: BridgeMessage,
        context: DeliveryContext,
        *,
        delivered: bool,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> None:
        await store.insert_message(
            session,
            self._receipt(
                row,
                context,
                delivered=delivered,
                slack_error=slack_error,
                receipt_reason=receipt_reason,
            ),
        )

    def _receipt(
        self,
        row: BridgeMessage,
        context: DeliveryContext,
        *,
        delivered: bool,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
    ) -> NewMessage:
        """The agent sees delivered/failed; the receipt rides the same conversation queue."""
        code, message = slack_error_to_reason(slack_error) if slack_error else (None, None)
        if receipt_reason is not None:
            code, message = receipt_reason
        assert row.genesys_message_id is not None
        body = to_receipt(
            row.genesys_message_id,
            external_user_id=agent_addressee(row) or context.conversation.conversation_key,
            delivered=delivered,
            reason_code=None if delivered else (code or "GeneralError"),
            reason_message=None if delivered else message,
            time=datetime.now(UTC),
        )
        return NewMessage(
            tenant_id=context.tenant.id,
            conversation_id=context.conversation.id,
            direction=Direction.TO_GENESYS,
            kind=Kind.RECEIPT,
            dedupe_key=f"receipt:{row.genesys_message_id}",
            payload={"body": body, "genesys_integration_id": webhook_origin(row.payload)},
            source_ts=datetime.now(UTC),
        )

    async def _alert_admin(
        self, session: AsyncSession, context: DeliveryContext, reason: str
    ) -> None:
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
            conversation=NewConversation(
                conversation_key=ref.external_user_id, kind="dm", slack_user_id=installer
            ),
        )
        text = setup_alert_text(
            reason, conversation_kind=context.conversation.kind, setup_url=self._setup_url
        )
        await store.insert_message(
            session,
            NewMessage(
                tenant_id=tenant.id,
                conversation_id=conversation_id,
                direction=Direction.TO_SLACK,
                kind=Kind.NOTICE,
                dedupe_key=f"setup_alert:{uuid.uuid4()}",
                payload={"text": text},
                source_ts=datetime.now(UTC),
            ),
        )
        if conversation_id != context.conversation.id:
            await queueing.wake_delivery(session)
        log.warning(
            "admin alerted about a set-up problem",
            extra={"tenant_id": str(tenant.id), "reason": reason.split(":", 1)[0]},
        )

    async def _retract_notice(
        self,
        session: AsyncSession,
        row: BridgeMessage,
        context: DeliveryContext,
        *,
        text: str = DELIVERED_LATER_NOTICE,
    ) -> None:
        """A message delivered after it was dead-lettered: its failure notice must not stand.

        A notice not posted yet is dropped; a posted one is rewritten in place (`chat.update`)
        by a `notice_update` queued behind this message in the same conversation.
        """
        notice = await store.find_message(
            session,
            tenant_id=context.tenant.id,
            direction=Direction.TO_SLACK,
            dedupe_key=f"notice:{row.id}",
        )
        if notice is None:
            return
        if notice.status == Status.PENDING:
            await store.mark(
                session,
                message_id=notice.id,
                values={"status": Status.RECORDED.value, "last_error": "superseded_by_delivery"},
            )
        elif notice.status == Status.DELIVERED and notice.slack_ts:
            await store.insert_message(
                session,
                NewMessage(
                    tenant_id=context.tenant.id,
                    conversation_id=context.conversation.id,
                    direction=Direction.TO_SLACK,
                    kind=Kind.NOTICE_UPDATE,
                    dedupe_key=f"notice_update:{row.id}",
                    payload={"text": text, "slack_ts": notice.slack_ts},
                    source_ts=datetime.now(UTC),
                ),
            )
