"""Delivering one conversation's queued messages, oldest first, to Slack or Genesys.

The queue runs at most one flush per conversation at a time, so messages keep their order;
different conversations flush in parallel. Each message is read in one short transaction,
sent with no transaction open (`to_genesys`, `to_slack`), and its outcome written in another
(`outcomes`). A retryable failure stops the flush and asks the queue to come back later
(never sooner than `Retry-After`); the conversation waits, others do not. A permanent
failure, or too many retries, turns the message into a dead letter and tells the other side.

Delivery talks to Slack and Genesys only through the ports in `app.bridge.ports`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import store
from app.bridge.messages import DeliveryOutcome, Direction, Status
from app.bridge.outcomes import DeliveryContext, Outcomes
from app.bridge.ports import BotTokens, GenesysSender, SlackSender
from app.bridge.retries import Permanent, Retryable, RetryLater, backoff, gives_up
from app.bridge.to_genesys import ToGenesys
from app.bridge.to_slack import ToSlack
from app.crypto import SecretBox
from app.db.models import BridgeMessage, TenantStatus
from app.logs import trace_id
from app.tenants import store as tenants_store
from app.tenants.purposes import SLACK_BOT_TOKEN

ACK_REACTION = "white_check_mark"


class Delivery:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        slack: SlackSender,
        genesys: GenesysSender,
        tokens: BotTokens | None = None,
        setup_url: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._slack = slack
        self._tokens = tokens
        self._to_genesys = ToGenesys(sessions=sessions, genesys=genesys, slack=slack)
        self._to_slack = ToSlack(sessions=sessions, slack=slack)
        self._outcomes = Outcomes(sessions=sessions, setup_url=setup_url)

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
                context = await self._refresh_token(context)
            if context is None:
                await self._outcomes.settle(
                    row.id, status=Status.DEAD, error="tenant_not_installed"
                )
                settled += 1
                continue
            try:
                outcome = await self._send(row, context)
            except Retryable as exc:
                if gives_up(attempts=attempts, created_at=row.created_at):
                    await self._outcomes.dead_letter(row, context, exc.reason)
                    settled += 1
                    continue
                delay = backoff(attempts, exc.retry_after)
                await self._outcomes.settle(
                    row.id,
                    status=Status.PENDING,
                    error=exc.reason,
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                    rate_limited=row.rate_limited + int(exc.rate_limited),
                )
                raise RetryLater(delay, exc.reason) from None
            except Permanent as exc:
                await self._outcomes.dead_letter(
                    row,
                    context,
                    exc.reason,
                    slack_error=exc.slack_error,
                    receipt_reason=exc.receipt_reason,
                )
                settled += 1
                continue
            await self._outcomes.delivered(row, context, outcome)
            await self._react(context, outcome)
            settled += 1

    async def _load(
        self, session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> DeliveryContext | None:
        tenant = await tenants_store.get_tenant(session, tenant_id=tenant_id)
        installation = await tenants_store.get_installation(session, tenant_id=tenant_id)
        conversation = await store.get_conversation(
            session, tenant_id=tenant_id, conversation_id=conversation_id
        )
        if (
            tenant is None
            or installation is None
            or conversation is None
            or tenant.status != TenantStatus.ACTIVE
            or installation.bot_token_enc is None
        ):
            return None
        token = self._box.decrypt(
            installation.bot_token_enc, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN
        )
        integration_id = await store.chosen_integration(
            session, tenant_id=tenant_id, kind=conversation.kind
        )
        return DeliveryContext(tenant, installation, conversation, token, integration_id)

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

    async def _react(self, context: DeliveryContext, outcome: DeliveryOutcome) -> None:
        """A ✓ on the customer's message once Genesys took it, if the tenant wants it."""
        if outcome.react_to and context.tenant.ack_reaction:
            channel, ts = outcome.react_to
            await self._slack.add_reaction(
                context.token,
                team_id=context.team_id,
                channel=channel,
                ts=ts,
                name=ACK_REACTION,
            )
