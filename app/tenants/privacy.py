"""Data retention and erasure: how long bridged messages are kept, and forgetting one person.

Retention: delivered messages (and what is only recorded: typing, receipts) older than the
tenant's `retention_days` are deleted, and so are dead letters of that age; pending messages
never are (nothing is lost). A conversation with no message left and no activity for that
long goes too. Erasure of one Slack person: every conversation they started (their DM, the
threads they opened, with the agents' replies in them) and every message they wrote elsewhere.

Both delete in bounded batches, each its own short transaction, and are audited as counts
only: the audit record of an erasure names neither the person nor anything they wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import BridgeMessage, Conversation, Tenant, TenantStatus
from app.tenants.store import record_audit

DEFAULT_RETENTION_DAYS = 30
# Not shorter than the bridge's live-thread window (72 h, `from_slack.LIVE_THREAD_WINDOW`): a
# reply in a thread still live must find its conversation.
MIN_RETENTION_DAYS = 3
MAX_RETENTION_DAYS = 3650
# Rows deleted per transaction: short enough never to hold locks for long.
BATCH = 500
# What retention may delete; "pending" is never among them.
EXPIRING_STATUSES = ("delivered", "dead", "recorded")


class InvalidRetention(ValueError):
    """A retention period outside MIN_RETENTION_DAYS..MAX_RETENTION_DAYS."""


def parse_retention_days(raw: object) -> int:
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise InvalidRetention("the retention period must be a whole number of days") from None
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise InvalidRetention(
            f"the retention period must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days"
        )
    return days


async def set_retention(
    session: AsyncSession, *, tenant_id: uuid.UUID, days: int, actor_slack_user_id: str | None
) -> None:
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise InvalidRetention(f"{days} days is out of range")
    await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(retention_days=days))
    await record_audit(
        session,
        tenant_id=tenant_id,
        action="privacy.retention_set",
        actor_slack_user_id=actor_slack_user_id,
        fields=["retention_days"],
    )


@dataclass
class Deleted:
    messages: int = 0
    conversations: int = 0

    def audit_fields(self) -> list[str]:
        return [f"messages:{self.messages}", f"conversations:{self.conversations}"]


async def _delete_batches(
    sessions: async_sessionmaker[AsyncSession], model: Any, where: list[Any]
) -> int:
    """Delete what `where` selects, `BATCH` rows per transaction, until none is left."""
    total = 0
    while True:
        async with sessions.begin() as session:
            chosen = select(model.id).where(*where).limit(BATCH).scalar_subquery()
            result = await session.execute(delete(model).where(model.id.in_(chosen)))
            count = int(result.rowcount)  # type: ignore[attr-defined]
        total += count
        if count < BATCH:
            return total


async def expire_tenant(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    retention_days: int,
    now: datetime | None = None,
) -> Deleted:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    deleted = Deleted()
    deleted.messages = await _delete_batches(
        sessions,
        BridgeMessage,
        [
            BridgeMessage.tenant_id == tenant_id,
            BridgeMessage.status.in_(EXPIRING_STATUSES),
            BridgeMessage.created_at < cutoff,
        ],
    )
    deleted.conversations = await _delete_batches(
        sessions,
        Conversation,
        [
            Conversation.tenant_id == tenant_id,
            Conversation.last_activity_at < cutoff,
            ~exists().where(BridgeMessage.conversation_id == Conversation.id),
        ],
    )
    if deleted.messages or deleted.conversations:
        async with sessions.begin() as session:
            await record_audit(
                session,
                tenant_id=tenant_id,
                action="privacy.retention_applied",
                fields=deleted.audit_fields(),
            )
    return deleted


async def apply_retention(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> Deleted:
    """Every tenant's expired rows (the periodic job, `python -m app retention run`)."""
    async with sessions() as session:
        tenants = (
            await session.execute(
                select(Tenant.id, Tenant.retention_days).where(
                    Tenant.status != TenantStatus.UNINSTALLED
                )
            )
        ).all()
    total = Deleted()
    for tenant_id, days in tenants:
        done = await expire_tenant(sessions, tenant_id=tenant_id, retention_days=days, now=now)
        total.messages += done.messages
        total.conversations += done.conversations
    return total


def slack_author(payload: dict[str, object]) -> str | None:
    """Who wrote a Slack-side message: the event's `user`, or the clicker of a button."""
    envelope = payload.get("envelope")
    if isinstance(envelope, dict):
        event = envelope.get("event")
        if isinstance(event, dict) and isinstance(event.get("user"), str):
            return str(event["user"])
    clicker = payload.get("slack_user_id")
    return clicker if isinstance(clicker, str) else None


def _recorded_for(row: BridgeMessage) -> str | None:
    """The conversation key a row recorded without a conversation (typing, receipts) is
    about: Genesys' `channel.to.id`."""
    if row.conversation_id is not None:
        return None
    channel = row.payload.get("channel")
    to = channel.get("to") if isinstance(channel, dict) else None
    key = to.get("id") if isinstance(to, dict) else None
    return key if isinstance(key, str) else None


async def _delete_ids(sessions: async_sessionmaker[AsyncSession], ids: list[int]) -> int:
    for start in range(0, len(ids), BATCH):
        async with sessions.begin() as session:
            chunk = ids[start : start + BATCH]
            await session.execute(delete(BridgeMessage).where(BridgeMessage.id.in_(chunk)))
    return len(ids)


async def erase_slack_user(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    slack_user_id: str,
    actor_slack_user_id: str | None,
) -> Deleted:
    """Forget one Slack person of this tenant.

    Payloads are sealed, so SQL cannot select by author: the tenant's rows are opened in
    batches (read-only transactions) to find what the person wrote, which threads they started
    (their first message is the thread's first), and what was recorded for those. Then their
    DM and threads go with every message in them, and their other messages one by one.
    """
    theirs: list[int] = []
    roots: dict[uuid.UUID, str | None] = {}  # conversation -> author of its first message
    recorded: dict[str, list[int]] = {}  # conversation key -> rows recorded for it
    after = 0
    while True:
        async with sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(BridgeMessage)
                        .where(BridgeMessage.tenant_id == tenant_id, BridgeMessage.id > after)
                        .order_by(BridgeMessage.id)
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
        for row in rows:
            author = slack_author(row.payload) if row.direction == "to_genesys" else None
            if author == slack_user_id:
                theirs.append(row.id)
            if row.conversation_id is not None and row.direction == "to_genesys":
                roots.setdefault(row.conversation_id, author)
            key = _recorded_for(row)
            if key is not None:
                recorded.setdefault(key, []).append(row.id)
        if len(rows) < BATCH:
            break
        after = rows[-1].id

    started = [c for c, author in roots.items() if author == slack_user_id]
    async with sessions() as session:
        owned = (
            await session.execute(
                select(Conversation.id, Conversation.conversation_key).where(
                    Conversation.tenant_id == tenant_id,
                    (Conversation.slack_user_id == slack_user_id) | Conversation.id.in_(started),
                )
            )
        ).all()
    conversation_ids = [c for c, _ in owned]
    deleted = Deleted()
    deleted.messages = await _delete_batches(
        sessions, BridgeMessage, [BridgeMessage.conversation_id.in_(conversation_ids)]
    )
    deleted.conversations = await _delete_batches(
        sessions, Conversation, [Conversation.id.in_(conversation_ids)]
    )
    # Their messages in conversations that were not theirs, and rows recorded for theirs.
    rest = set(theirs) | {i for _, key in owned for i in recorded.get(key, [])}
    async with sessions() as session:
        left = (
            await session.execute(
                select(BridgeMessage.id).where(BridgeMessage.id.in_(sorted(rest)))
            )
        ).scalars()
        remaining = sorted(left)
    deleted.messages += await _delete_ids(sessions, remaining)
    async with sessions.begin() as session:
        await record_audit(
            session,
            tenant_id=tenant_id,
            action="privacy.person_erased",
            actor_slack_user_id=actor_slack_user_id,
            fields=deleted.audit_fields(),
        )
    return deleted


async def message_count(session: AsyncSession, *, tenant_id: uuid.UUID) -> int:
    query = select(func.count()).where(BridgeMessage.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())
