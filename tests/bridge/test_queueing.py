"""Queueing shares the ingest transaction: a message and its flush job commit together, a job
only when the conversation has none waiting, none for a duplicate, and the lock keeps a
conversation in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from tests.factories import make_tenant

Sessions = async_sessionmaker[AsyncSession]


async def jobs(session: AsyncSession) -> list[tuple[str, str, dict[str, str]]]:
    rows = await session.execute(
        text("SELECT task_name, lock, args FROM procrastinate_jobs ORDER BY id")
    )
    return [(task, lock, args) for task, lock, args in rows]


def customer_message(tenant_id: uuid.UUID, dedupe_key: str) -> NewMessage:
    return NewMessage(
        tenant_id=tenant_id,
        conversation_id=None,
        direction=Direction.TO_GENESYS,
        kind=Kind.MESSAGE,
        dedupe_key=dedupe_key,
        payload={"envelope": {}},
        normalized={"text": "kept as given"},
        source_ts=datetime.now(UTC),
        slack_event_id=f"Ev{dedupe_key}",
    )


async def test_a_new_message_is_queued_with_its_conversation_and_a_duplicate_is_not(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        thread = NewConversation(conversation_key="T0:C0:1.2", kind="thread")

        assert await queueing.store_and_defer(
            session, conversation=thread, message=customer_message(tenant.id, "m1")
        )
        assert not await queueing.store_and_defer(
            session, conversation=thread, message=customer_message(tenant.id, "m1")
        )
        assert await queueing.store_and_defer(
            session, conversation=thread, message=customer_message(tenant.id, "m2")
        )

        stored = (
            await session.execute(
                text("SELECT conversation_id, normalized FROM bridge_message ORDER BY id")
            )
        ).all()
        assert len(stored) == 2
        conversation_id = stored[0][0]
        assert {row[0] for row in stored} == {conversation_id}
        assert stored[0][1] == {"text": "kept as given"}
        lock = queueing.conversation_lock(conversation_id)
        args = queueing.flush_args(tenant.id, conversation_id)
        # One waiting job drains both messages.
        assert await jobs(session) == [(queueing.FLUSH_TASK, lock, args)]
        assert await queueing.locks_with_jobs(session, [lock, "conversation:other"]) == {lock}

        # A running job may have read the queue already: the next message queues another.
        await session.execute(text("UPDATE procrastinate_jobs SET status = 'doing'"))
        assert await queueing.store_and_defer(
            session, conversation=thread, message=customer_message(tenant.id, "m3")
        )
        assert await jobs(session) == [(queueing.FLUSH_TASK, lock, args)] * 2
        assert await queueing.store_and_defer(
            session, conversation=thread, message=customer_message(tenant.id, "m4")
        )
        assert len(await jobs(session)) == 2


async def test_defer_flush_queues_one_job_under_the_conversation_lock(sessions: Sessions) -> None:
    tenant_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    async with sessions.begin() as session:
        await queueing.defer_flush(session, tenant_id=tenant_id, conversation_id=conversation_id)

        assert await jobs(session) == [
            (
                queueing.FLUSH_TASK,
                f"conversation:{conversation_id}",
                {"tenant_id": str(tenant_id), "conversation_id": str(conversation_id)},
            )
        ]
        assert await queueing.locks_with_jobs(session, []) == set()

        # Already waiting: no second job.
        await queueing.defer_flush(session, tenant_id=tenant_id, conversation_id=conversation_id)
        assert len(await jobs(session)) == 1
