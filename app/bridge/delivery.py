"""Delivering one conversation's queued messages, oldest first, to Slack or Genesys.

The queue runs at most one flush per conversation at a time, so messages keep their order;
different conversations flush in parallel. A flush reads a batch of pending rows with their
conversation, the tenant's version and its chosen integration in one prepared statement
(`flush_store.read_flush`); the tenant, installation, decrypted bot token and routing rules
come from a per-process cache checked against that version. Each message is sent with no
transaction open (`to_genesys`, `to_slack`) and its outcome written in one more statement
(`outcomes`), attempt count included, which also says whether anything else is pending: a
drained conversation ends the flush without another read. A retryable failure stops the
flush and asks the queue to come back later (never sooner than `Retry-After`); the
conversation waits, others do not.
A permanent failure, or too many retries, turns the message into a dead letter and tells the
other side. The ✓ reaction is only offered to `reactions.ReactionPacer`, never awaited here.

The attempt count is written with the outcome, not before the send: a worker killed in
between leaves it unchanged, and `retries.gives_up`'s age limit still bounds such a message.

Delivery talks to Slack and Genesys only through the ports in `app.bridge.ports`.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import flush_store
from app.bridge.access import Refused
from app.bridge.failure_alert import FAILURE_STREAK
from app.bridge.file_links import FileLinks
from app.bridge.messages import CUSTOMER_KINDS, DeliveryOutcome, Direction, Kind, Status
from app.bridge.outcomes import DeliveryContext, Outcomes
from app.bridge.ports import BotTokens, GenesysSender, SlackSender
from app.bridge.reactions import ReactionPacer
from app.bridge.retries import Permanent, Retryable, RetryLater, backoff, gives_up
from app.bridge.to_genesys import ToGenesys
from app.bridge.to_slack import ToSlack
from app.crypto import SecretBox
from app.db.models import BridgeMessage, TenantStatus
from app.db.session import on_driver
from app.logs import trace_id

NOTICE_KINDS = (Kind.NOTICE, Kind.NOTICE_UPDATE)
# Rows read per round trip; a conversation rarely has more pending at once.
BATCH_SIZE = 50


class After(Enum):
    """What a flush does after one message."""

    NEXT = "next"  # the next message of the batch
    READ_AGAIN = "read_again"  # the outcome wrote other rows: read the queue again
    DRAINED = "drained"  # nothing else of the conversation was pending: done


class Delivery:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        slack: SlackSender,
        genesys: GenesysSender,
        file_links: FileLinks,
        tokens: BotTokens | None = None,
        setup_url: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._slack = slack
        self._tokens = tokens
        self._to_genesys = ToGenesys(
            sessions=sessions, genesys=genesys, slack=slack, file_links=file_links
        )
        self._to_slack = ToSlack(sessions=sessions, slack=slack, genesys=genesys)
        self._outcomes = Outcomes(sessions=sessions, box=box, setup_url=setup_url)
        self._tenants = flush_store.TenantEntries(sessions=sessions, box=box)
        self.reactions = ReactionPacer(slack)

    async def flush(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        """Deliver every pending message of the conversation; returns how many were settled.

        `keep_going` is asked before each send: when the worker's claim on the conversation
        was lost (`app.bridge.dispatch`), the message being sent still gets its outcome
        written, and nothing more is sent."""
        settled = 0
        token: str | None = None
        while True:
            batch = await on_driver(
                self._sessions,
                partial(
                    flush_store.read_flush,
                    box=self._box,
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    limit=BATCH_SIZE,
                ),
            )
            if not batch.rows:
                return settled
            context = await self._context(tenant_id, batch)
            if context is None:
                ids = [row.id for row in batch.rows]
                await on_driver(
                    self._sessions,
                    partial(flush_store.write_dead, message_ids=ids, error="tenant_not_installed"),
                )
                settled += len(ids)
                continue
            if token is None:
                # Once per flush, as a token about to expire is rotated and kept.
                token = (await self._refresh_token(context)).token
            context.token = token
            rows = deque(batch.rows)
            while rows:
                if not keep_going():
                    return settled
                after = await self._deliver(rows.popleft(), context)
                settled += 1
                if isinstance(after, BridgeMessage):
                    # Nothing else was pending: the receipt just queued is the queue's head.
                    rows.append(after)
                elif after is After.DRAINED:
                    return settled
                elif after is After.READ_AGAIN:
                    # The outcome wrote other rows of this conversation (a notice, a
                    # retraction): read the queue again rather than trust the batch.
                    break

    async def _context(
        self, tenant_id: uuid.UUID, batch: flush_store.FlushBatch
    ) -> DeliveryContext | None:
        """The batch's context, with what is the same for every message of the tenant from
        the per-process cache (`flush_store.TenantEntries`, checked against the version the
        batch was read with)."""
        if batch.version is None or batch.conversation is None or not batch.deliverable:
            return None
        entry = await self._tenants.get(tenant_id, version=batch.version)
        if entry is None or entry.token is None or entry.tenant.status != TenantStatus.ACTIVE:
            return None
        return DeliveryContext(
            entry.tenant,
            entry.installation,
            batch.conversation,
            entry.token,
            batch.integration_id,
            rules=entry.rules,
        )

    async def _deliver(self, row: BridgeMessage, context: DeliveryContext) -> After | BridgeMessage:
        """Send one message and record its outcome; what the flush does next, or the one
        message to deliver next (a receipt the outcome queued, when nothing else waits)."""
        attempts = row.attempts + 1
        if row.trace_id:
            trace_id.set(row.trace_id)
        try:
            outcome = await self._send(row, context)
        except Retryable as exc:
            if gives_up(attempts=attempts, created_at=row.created_at):
                await self._outcomes.dead_letter(
                    row, context, exc.reason, attempts=attempts, notice=exc.notice
                )
                return After.READ_AGAIN
            delay = backoff(attempts, exc.retry_after)
            if attempts == FAILURE_STREAK:
                await self._outcomes.failing(row, context)
            await self._outcomes.settle(
                row.id,
                status=Status.PENDING,
                error=exc.reason,
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                rate_limited=row.rate_limited + int(exc.rate_limited),
                attempts=attempts,
            )
            raise RetryLater(delay, exc.reason) from None
        except Refused as exc:
            # Not allowed to open requests (`app.bridge.access`): kept, never forwarded.
            touched = await self._outcomes.refused(row, context, exc.reason, attempts=attempts)
            return After.READ_AGAIN if touched else After.NEXT
        except Permanent as exc:
            await self._outcomes.dead_letter(
                row,
                context,
                exc.reason,
                slack_error=exc.slack_error,
                receipt_reason=exc.receipt_reason,
                attempts=attempts,
                notice=exc.notice,
            )
            return After.READ_AGAIN
        delivered = await self._outcomes.delivered(row, context, outcome, attempts=attempts)
        self._react(context, outcome)
        # A delivery after a failure may have retracted its notice (`Outcomes.delivered`).
        retracted = row.last_error is not None and (
            (row.direction == Direction.TO_GENESYS and row.kind in CUSTOMER_KINDS)
            or (row.direction == Direction.TO_SLACK and row.kind not in NOTICE_KINDS)
        )
        if retracted:
            return After.READ_AGAIN
        if delivered.others:
            return After.NEXT
        return delivered.receipt if delivered.receipt is not None else After.DRAINED

    async def _refresh_token(self, context: DeliveryContext) -> DeliveryContext:
        if self._tokens is not None:
            fresh = await self._tokens.refreshed(context.installation)
            if fresh is not None:
                context.token = fresh
        return context

    async def _send(self, row: BridgeMessage, context: DeliveryContext) -> DeliveryOutcome:
        if row.direction == Direction.TO_GENESYS:
            return await self._to_genesys.send(row, context)
        return await self._to_slack.send(row, context)

    def _react(self, context: DeliveryContext, outcome: DeliveryOutcome) -> None:
        """A ✓ on the customer's message once Genesys took it, if the tenant wants it."""
        if outcome.react_to and context.tenant.ack_reaction:
            channel, ts = outcome.react_to
            self.reactions.offer(context.token, team_id=context.team_id, channel=channel, ts=ts)

    async def aclose(self) -> None:
        await self.reactions.aclose()
