"""The end of a Genesys conversation: found by reading it, told in Slack, and recorded.

Open Messaging has no end event (docs/external-contracts.md §G10), so the worker's periodic
`watch` claims the open conversations due for a look (one short transaction that stamps
`end_checked_at`), then reads each one's state from Genesys with no transaction open. An ended
one is marked in one transaction with its "closed" notice queued behind whatever the
conversation still has to deliver; the mark is conditional on the Genesys conversation id,
so a second look, a second worker or the End chat click never tell the thread twice.

The customer's next message is sent as before; Genesys opens a new conversation for it (an
ended one takes no more messages) and its id replaces the old one on delivery
(`outcomes.values_for_conversation`), which opens the conversation again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing, store
from app.bridge.messages import Direction, Kind, NewMessage
from app.bridge.notices import CLOSED_NOTICE
from app.bridge.ports import GenesysSender
from app.genesys.errors import GenesysError
from app.tenants.genesys_access import GenesysNotConnected

log = logging.getLogger(__name__)

# Conversations read per tick at most, and at once; Genesys allows a client about 300 calls a
# minute (external-contracts §G10), shared with delivery.
WATCH_BATCH = 100
WATCH_CONCURRENCY = 4
# A conversation silent for longer is no longer watched (Genesys groups about 72 h).
WATCH_HOURS = 72

_CLAIM = text(
    """
    UPDATE conversation SET end_checked_at = now()
    WHERE id IN (
        SELECT c.id FROM conversation c JOIN tenant t ON t.id = c.tenant_id
        WHERE c.genesys_conversation_id IS NOT NULL
          AND c.ended_genesys_conversation_id IS DISTINCT FROM c.genesys_conversation_id
          AND c.last_activity_at > now() - make_interval(hours => :hours)
          AND (c.end_checked_at IS NULL
               OR c.end_checked_at < now() - make_interval(secs => :seconds))
          AND t.status = 'active'
        ORDER BY c.end_checked_at NULLS FIRST
        LIMIT :batch
        FOR UPDATE OF c SKIP LOCKED
    )
    RETURNING id, tenant_id, genesys_conversation_id
    """
)

_MARK_ENDED = text(
    """
    UPDATE conversation
    SET ended_at = now(), ended_genesys_conversation_id = :genesys_conversation_id
    WHERE id = :conversation_id AND tenant_id = :tenant_id
      AND genesys_conversation_id = :genesys_conversation_id
      AND ended_genesys_conversation_id IS DISTINCT FROM :genesys_conversation_id
    RETURNING id
    """
)


async def mark_ended(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    genesys_conversation_id: str,
) -> bool:
    """In the caller's transaction: mark the conversation ended and queue its closed notice.
    False when it was already marked (or has moved on to another Genesys conversation)."""
    marked = await session.execute(
        _MARK_ENDED,
        {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "genesys_conversation_id": genesys_conversation_id,
        },
    )
    if marked.first() is None:
        return False
    await store.insert_message(
        session,
        NewMessage(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            direction=Direction.TO_SLACK,
            kind=Kind.NOTICE,
            # The conditional mark above makes it once per end; a reopened conversation that
            # ends again is told again.
            dedupe_key=f"ended:{genesys_conversation_id}:{datetime.now(UTC).isoformat()}",
            payload={"text": CLOSED_NOTICE},
            source_ts=datetime.now(UTC),
        ),
    )
    await queueing.wake_delivery(session)
    return True


class ConversationEnds:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        genesys: GenesysSender,
        poll_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._genesys = genesys
        self._poll_seconds = poll_seconds

    async def watch(self) -> int:
        """One tick: read the open conversations due for a look; returns how many ended."""
        async with self._sessions.begin() as session:
            due = (
                await session.execute(
                    _CLAIM,
                    {
                        "hours": WATCH_HOURS,
                        # A little under the period, so a tick never just misses one.
                        "seconds": self._poll_seconds * 0.8,
                        "batch": WATCH_BATCH,
                    },
                )
            ).all()
        if not due:
            return 0
        limit = asyncio.Semaphore(WATCH_CONCURRENCY)

        async def look(conversation_id: uuid.UUID, tenant_id: uuid.UUID, gid: str) -> bool:
            async with limit:
                return await self._look(tenant_id, conversation_id, gid)

        found = await asyncio.gather(*(look(c, t, g) for c, t, g in due))
        return sum(found)

    async def _look(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, genesys_conversation_id: str
    ) -> bool:
        try:
            state = await self._genesys.conversation_state(tenant_id, genesys_conversation_id)
        except (GenesysError, GenesysNotConnected) as exc:
            # Looked at again next period; a missing permission shows in Test connection.
            log.info(
                "conversation state not read",
                extra={
                    "tenant_id": str(tenant_id),
                    "conversation_id": str(conversation_id),
                    "error": type(exc).__name__,
                },
            )
            return False
        if state != "ended":
            return False
        return await self.ended(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            genesys_conversation_id=genesys_conversation_id,
        )

    async def ended(
        self, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID, genesys_conversation_id: str
    ) -> bool:
        async with self._sessions.begin() as session:
            marked = await mark_ended(
                session,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                genesys_conversation_id=genesys_conversation_id,
            )
        if marked:
            log.info(
                "genesys conversation ended",
                extra={
                    "tenant_id": str(tenant_id),
                    "conversation_id": str(conversation_id),
                    "genesys_conversation_id": genesys_conversation_id,
                },
            )
        return marked
