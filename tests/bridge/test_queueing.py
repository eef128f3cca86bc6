"""The ingest statement stores a message with its conversation, nothing for a duplicate or under
a stale tenant version, and a plain thread reply only in a live conversation. (That it wakes
the workers is tested with the dispatcher, tests/bridge/test_dispatch.py: a notification needs
a commit, which these rolled-back tests never make.)"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bridge import queueing
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from app.config import parse_encryption_keys
from app.crypto import SecretBox
from app.db import sealed
from app.db.session import create_sessions
from tests.factories import TEST_KEY, make_tenant

BOX = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))

Sessions = async_sessionmaker[AsyncSession]


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
        assert (await store("m3")).stored
        assert await session.scalar(text("SELECT count(*) FROM conversation")) == 1


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


async def test_a_busy_conversation_is_not_rewritten_for_every_message(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        version = await version_of(session, tenant.id)
        connection = await driver(session)
        dm = NewConversation(conversation_key="T0:D0:U0", kind="dm")

        async def store(key: str) -> queueing.Stored:
            return await queueing.store_message(
                connection,
                box=BOX,
                version=version,
                conversation=dm,
                message=customer_message(tenant.id, key),
            )

        async def row_version() -> tuple[str, datetime]:
            found = (
                await session.execute(text("SELECT xmin::text, last_activity_at FROM conversation"))
            ).one()
            return found[0], found[1]

        assert (await store("m1")).stored
        await session.execute(text("UPDATE conversation SET last_activity_at = now()"))
        before = await row_version()
        assert await store("m2") == queueing.Stored(True, True, True)
        # Within a minute of the last touch: stored in it, the row itself left alone.
        assert await row_version() == before
        await session.execute(
            text("UPDATE conversation SET last_activity_at = now() - interval '2 minutes'")
        )
        stale = await row_version()
        assert await store("m3") == queueing.Stored(True, True, True)
        assert (await row_version())[1] > stale[1]
        assert await session.scalar(text("SELECT count(*) FROM bridge_message")) == 3


async def test_two_first_messages_racing_for_one_conversation_are_both_stored(
    engine: AsyncEngine, clean_db: None
) -> None:
    async with create_sessions(engine, box=BOX).begin() as session:
        tenant = await make_tenant(session)
        version = await version_of(session, tenant.id)
    dm = NewConversation(conversation_key="T0:D0:U1", kind="dm")
    async with engine.connect() as first, engine.connect() as second:
        one = (await first.get_raw_connection()).driver_connection
        two = (await second.get_raw_connection()).driver_connection
        assert isinstance(one, asyncpg.Connection) and isinstance(two, asyncpg.Connection)
        await one.execute("BEGIN")
        created = await queueing.store_message(
            one, box=BOX, version=version, conversation=dm, message=customer_message(tenant.id, "a")
        )
        assert created.stored
        # The second statement starts before the first commits, waits on the conversation's
        # key, and then finds it created after its snapshot was taken.
        racing = asyncio.create_task(
            queueing.store_message(
                two,
                box=BOX,
                version=version,
                conversation=dm,
                message=customer_message(tenant.id, "b"),
            )
        )
        await asyncio.sleep(0.3)
        assert not racing.done()
        await one.execute("COMMIT")
        assert await racing == queueing.Stored(True, True, True)
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM bridge_message"))
    assert stored == 2
