"""Queueing is part of the ingest statement: a message and its flush job commit together, a job
only when the conversation has none waiting, none for a duplicate or under a stale tenant
version, and the lock keeps a conversation in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from app.config import parse_encryption_keys
from app.crypto import SecretBox
from app.db import sealed
from tests.factories import TEST_KEY, make_tenant

BOX = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))

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


async def driver(session: AsyncSession) -> asyncpg.Connection[Any]:
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


async def version_of(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    found = await session.scalar(
        text("SELECT version FROM tenant WHERE id = :id"), {"id": tenant_id}
    )
    assert isinstance(found, int)
    return found


async def test_a_new_message_is_queued_with_its_conversation_and_a_duplicate_is_not(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        version = await version_of(session, tenant.id)
        connection = await driver(session)
        thread = NewConversation(conversation_key="T0:C0:1.2", kind="thread")

        async def store(key: str) -> queueing.Stored:
            return await queueing.store_message(
                connection,
                box=BOX,
                version=version,
                conversation=thread,
                message=customer_message(tenant.id, key),
            )

        assert (await store("m1")).stored
        assert not (await store("m1")).stored
        assert (await store("m2")).stored

        stored = (
            await session.execute(
                text(
                    "SELECT conversation_id, normalized_enc, tenant_id, normalized "
                    "FROM bridge_message ORDER BY id"
                )
            )
        ).all()
        assert len(stored) == 2
        conversation_id = stored[0][0]
        assert {row[0] for row in stored} == {conversation_id}
        # Sealed with the box, bound to the tenant; nothing in the plaintext column.
        assert stored[0][3] is None
        opened = sealed.unseal(BOX, stored[0][1], tenant_id=stored[0][2], purpose=sealed.NORMALIZED)
        assert opened == {"text": "kept as given"}
        lock = queueing.conversation_lock(conversation_id)
        args = queueing.flush_args(tenant.id, conversation_id)
        # One waiting job drains both messages.
        assert await jobs(session) == [(queueing.FLUSH_TASK, lock, args)]
        assert await queueing.locks_with_jobs(session, [lock, "conversation:other"]) == {lock}

        # A running job may have read the queue already: the next message queues another.
        await session.execute(text("UPDATE procrastinate_jobs SET status = 'doing'"))
        assert (await store("m3")).stored
        assert await jobs(session) == [(queueing.FLUSH_TASK, lock, args)] * 2
        assert (await store("m4")).stored
        assert len(await jobs(session)) == 2


async def test_nothing_is_stored_under_a_stale_tenant_version(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        version = await version_of(session, tenant.id)
        await session.execute(
            text("UPDATE tenant SET forward_other_bots = true WHERE id = :id"), {"id": tenant.id}
        )
        result = await queueing.store_message(
            await driver(session),
            box=BOX,
            version=version,
            conversation=NewConversation(conversation_key="T0:D0:U0", kind="dm"),
            message=customer_message(tenant.id, "m1"),
        )
        assert result == queueing.Stored(current=False, conversation=False, stored=False)
        assert await session.scalar(text("SELECT count(*) FROM bridge_message")) == 0
        assert await session.scalar(text("SELECT count(*) FROM conversation")) == 0
        assert await jobs(session) == []


async def test_a_thread_reply_is_stored_only_in_a_live_conversation(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        version = await version_of(session, tenant.id)
        connection = await driver(session)
        thread = NewConversation(conversation_key="T0:C0:1.2", kind="thread")

        async def reply(key: str) -> queueing.Stored:
            return await queueing.store_message(
                connection,
                box=BOX,
                version=version,
                conversation=thread,
                message=customer_message(tenant.id, key),
                live_only=True,
            )

        assert await reply("early") == queueing.Stored(True, False, False)
        await queueing.store_message(
            connection,
            box=BOX,
            version=version,
            conversation=thread,
            message=customer_message(tenant.id, "root"),
        )
        assert await reply("linked") == queueing.Stored(True, True, True)
        await session.execute(
            text("UPDATE conversation SET last_activity_at = now() - interval '73 hours'")
        )
        assert await reply("too late") == queueing.Stored(True, False, False)


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
