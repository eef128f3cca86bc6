"""Dead letters: listing, replaying and discarding them, for the admin CLI and the settings page.

Both callers use these functions, so "Replay" on the page is exactly `python -m app deadletters
replay`: the message goes back to its conversation's queue (pending, attempts reset) and the
conversation's flush job is deferred in the same transaction. Each change is audited per tenant,
naming message IDs only. Callers own the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bridge import normalized, queueing, store
from app.bridge.messages import Direction, Kind, Status
from app.db.models import BridgeMessage, Conversation
from app.tenants.store import record_audit

# The page shows a hint of what was lost, never the message itself.
PREVIEW_CHARS = 60


@dataclass(frozen=True)
class DeadLetter:
    id: int
    created_at: datetime
    direction: str
    kind: str
    reason: str
    slack_channel_id: str | None
    slack_thread_ts: str | None
    slack_user_id: str | None
    conversation_kind: str | None
    preview: str


def preview_of(message: BridgeMessage) -> str:
    """The first words of the message, from its parsed form; empty when there is none."""
    text = ""
    if message.direction == Direction.TO_GENESYS:
        slack = normalized.to_slack_message(message.normalized)
        text = slack.text if slack is not None else ""
    elif message.kind in (Kind.AGENT_TEXT, Kind.AGENT_STRUCTURED):
        agent = normalized.to_agent_message(
            message.normalized, structured=message.kind == Kind.AGENT_STRUCTURED
        )
        text = agent.text if agent is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"


async def list_for_tenant(
    session: AsyncSession, *, tenant_id: uuid.UUID, limit: int = 50
) -> list[DeadLetter]:
    query = (
        select(BridgeMessage, Conversation)
        .outerjoin(Conversation, Conversation.id == BridgeMessage.conversation_id)
        .where(BridgeMessage.tenant_id == tenant_id, BridgeMessage.status == Status.DEAD)
        .order_by(BridgeMessage.created_at.desc(), BridgeMessage.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [
        DeadLetter(
            id=message.id,
            created_at=message.created_at,
            direction=message.direction,
            kind=message.kind,
            reason=message.last_error or "",
            slack_channel_id=conversation.slack_channel_id if conversation else None,
            slack_thread_ts=conversation.slack_thread_ts if conversation else None,
            slack_user_id=conversation.slack_user_id if conversation else None,
            conversation_kind=conversation.kind if conversation else None,
            preview=preview_of(message),
        )
        for message, conversation in rows
    ]


@dataclass(frozen=True)
class Replayed:
    messages: int
    conversations: int


async def _owners(
    session: AsyncSession,
    *,
    message_ids: Sequence[int] | None,
    tenant_id: uuid.UUID | None,
    in_conversation: bool = False,
) -> dict[uuid.UUID, list[int]]:
    """Which tenant owns each dead letter the same filters select, for the audit."""
    query = select(BridgeMessage.tenant_id, BridgeMessage.id).where(
        BridgeMessage.status == Status.DEAD
    )
    if in_conversation:  # what `store.requeue_dead` can put back in a queue
        query = query.where(BridgeMessage.conversation_id.is_not(None))
    if message_ids is not None:
        query = query.where(BridgeMessage.id.in_(list(message_ids)))
    if tenant_id is not None:
        query = query.where(BridgeMessage.tenant_id == tenant_id)
    owners: dict[uuid.UUID, list[int]] = {}
    for owner, message_id in (await session.execute(query.order_by(BridgeMessage.id))).all():
        owners.setdefault(owner, []).append(message_id)
    return owners


async def _audit(
    session: AsyncSession,
    owners: dict[uuid.UUID, list[int]],
    *,
    action: str,
    actor_slack_user_id: str | None,
) -> None:
    for owner, message_ids in owners.items():
        await record_audit(
            session,
            tenant_id=owner,
            action=action,
            actor_slack_user_id=actor_slack_user_id,
            fields=[f"message:{message_id}" for message_id in message_ids],
        )


async def replay(
    session: AsyncSession,
    *,
    message_ids: Sequence[int] | None = None,
    tenant_id: uuid.UUID | None = None,
    actor_slack_user_id: str | None = None,
) -> Replayed:
    """Queue the selected dead letters again. `None` filters select every dead letter, so a
    web caller always passes its admin's `tenant_id`."""
    owners = await _owners(
        session, message_ids=message_ids, tenant_id=tenant_id, in_conversation=True
    )
    touched = await store.requeue_dead(session, message_ids=message_ids, tenant_id=tenant_id)
    if touched:
        await queueing.wake_delivery(session)
    await _audit(
        session, owners, action="deadletter.replayed", actor_slack_user_id=actor_slack_user_id
    )
    return Replayed(sum(len(ids) for ids in owners.values()), len(touched))


async def discard(
    session: AsyncSession,
    *,
    message_ids: Sequence[int] | None = None,
    tenant_id: uuid.UUID | None = None,
    actor_slack_user_id: str | None = None,
) -> int:
    """Delete the selected dead letters; returns how many were."""
    owners = await _owners(session, message_ids=message_ids, tenant_id=tenant_id)
    removed = await store.delete_dead(session, message_ids=message_ids, tenant_id=tenant_id)
    await _audit(
        session, owners, action="deadletter.discarded", actor_slack_user_id=actor_slack_user_id
    )
    return removed
