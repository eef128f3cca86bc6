"""Putting delivery work on the queue inside the same transaction that stored the message.

procrastinate's own deferring runs on its psycopg connection, which cannot join our
SQLAlchemy/asyncpg transaction. Its schema exposes the SQL function it uses to insert jobs,
so we call that function on our connection: the message row and its job commit together or
not at all. The relay in `app.jobs` is the safety net for anything this ever misses.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

QUEUE = "bridge"
# The task name as procrastinate registers it: blueprint namespace + task name (app.jobs).
FLUSH_TASK = "switchboard:flush_conversation"

_DEFER = text(
    """
    SELECT procrastinate_defer_jobs_v1(ARRAY[
        ROW(:queue, :task, 0, :lock, NULL, CAST(:args AS jsonb), NULL)
        ::procrastinate_job_to_defer_v1
    ])
    """
)


def conversation_lock(conversation_id: uuid.UUID) -> str:
    """procrastinate runs at most one job per lock, in queue order: FIFO per conversation."""
    return f"conversation:{conversation_id}"


def flush_args(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, str]:
    return {"tenant_id": str(tenant_id), "conversation_id": str(conversation_id)}


async def defer_flush(
    session: AsyncSession, *, tenant_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    await session.execute(
        _DEFER,
        {
            "queue": QUEUE,
            "task": FLUSH_TASK,
            "lock": conversation_lock(conversation_id),
            "args": json.dumps(flush_args(tenant_id, conversation_id)),
        },
    )


async def locks_with_jobs(session: AsyncSession, locks: Sequence[str]) -> set[str]:
    """Which of these conversations already have a queued or running job."""
    if not locks:
        return set()
    rows = await session.execute(
        text(
            "SELECT DISTINCT lock FROM procrastinate_jobs "
            "WHERE lock = ANY(:locks) AND status IN ('todo', 'doing')"
        ),
        {"locks": list(locks)},
    )
    return {lock for (lock,) in rows}
