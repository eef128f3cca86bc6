"""Workers claim conversations straight from `bridge_message` (`app.bridge.dispatch`).

Real Postgres, committed data, two dispatchers with their own lease connections. The flusher
here stands in for `Delivery` at the dispatcher's port: it marks the conversation's pending
rows delivered and records who held which conversation when, so the tests can check the
guarantees the dispatcher itself owns: one holder per conversation, nothing claimed before its
head is due, a dead worker's conversations free at once, a notification wakes a worker.
(Delivery itself, order and outcomes included, is tested in the e2e suite with real workers.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bridge import queueing
from app.bridge.dispatch import CLAIM, LOCK_CLASS, Dispatcher
from app.bridge.messages import Direction, Kind, NewConversation, NewMessage
from app.bridge.retries import RetryLater
from app.config import DatabaseURL, parse_encryption_keys
from app.crypto import SecretBox
from app.db.session import create_sessions
from tests.factories import TEST_KEY, make_tenant

BOX = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))

pytestmark = pytest.mark.usefixtures("clean_db")


class Recorder:
    """Marks what it flushes delivered; notes overlaps and the order conversations came in."""

    def __init__(self, engine: AsyncEngine, *, hold: float = 0.0) -> None:
        self.engine = engine
        self.hold = hold
        self.holding: set[uuid.UUID] = set()
        self.overlaps = 0
        self.flushed: list[uuid.UUID] = []
        self.retry_later: set[uuid.UUID] = set()
        self.failing: set[uuid.UUID] = set()

    async def flush(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        if conversation_id in self.holding:
            self.overlaps += 1
        self.holding.add(conversation_id)
        try:
            await asyncio.sleep(self.hold)
            if conversation_id in self.failing:
                raise RuntimeError("a bug in delivery")
            if conversation_id in self.retry_later:
                async with self.engine.begin() as connection:
                    await connection.execute(
                        text(
                            "UPDATE bridge_message SET next_attempt_at = now() + interval '1 hour'"
                            " WHERE conversation_id = :c AND status = 'pending'"
                        ),
                        {"c": conversation_id},
                    )
                raise RetryLater(3600, "test")
            async with self.engine.begin() as connection:
                done = await connection.execute(
                    text(
                        "UPDATE bridge_message SET status = 'delivered' "
                        "WHERE conversation_id = :c AND status = 'pending'"
                    ),
                    {"c": conversation_id},
                )
            self.flushed.append(conversation_id)
            return int(done.rowcount)
        finally:
            self.holding.discard(conversation_id)


@pytest.fixture
def connect(database_url: str) -> Callable[[], Awaitable[asyncpg.Connection[Any]]]:
    libpq = DatabaseURL(database_url).libpq

    async def lease() -> asyncpg.Connection[Any]:
        connection: asyncpg.Connection[Any] = await asyncpg.connect(libpq)
        return connection

    return lease


async def store(engine: AsyncEngine, tenant_id: uuid.UUID, key: str, conversation: str) -> None:
    """One customer message, stored by the ingest statement and committed."""
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, asyncpg.Connection)
        version = await driver.fetchval("SELECT version FROM tenant WHERE id = $1", tenant_id)
        stored = await queueing.store_message(
            driver,
            box=BOX,
            version=version,
            conversation=NewConversation(conversation_key=conversation, kind="thread"),
            message=NewMessage(
                tenant_id=tenant_id,
                conversation_id=None,
                direction=Direction.TO_GENESYS,
                kind=Kind.MESSAGE,
                dedupe_key=key,
                payload={"envelope": {}},
                normalized={"text": key},
                source_ts=datetime.now(UTC),
                slack_event_id=f"Ev{key}",
            ),
        )
        assert stored.stored


async def pending(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM bridge_message WHERE status = 'pending'")
        )
    return int(found or 0)


async def until_pending(engine: AsyncEngine, count: int, within: float = 10.0) -> None:
    """Wait until exactly `count` messages are pending."""

    async def reached() -> bool:
        return await pending(engine) == count

    await wait_for(reached, within)


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def tenant_id(engine: AsyncEngine) -> uuid.UUID:
    async with create_sessions(engine, box=BOX).begin() as session:
        tenant = await make_tenant(session)
    return tenant.id


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Dispatcher], asyncio.Event]]:
    started: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(dispatcher: Dispatcher) -> asyncio.Event:
        stop = asyncio.Event()
        started.append((stop, asyncio.create_task(dispatcher.run(stop))))
        return stop

    yield start
    for stop, _ in started:
        stop.set()
    await asyncio.gather(*(task for _, task in started))


async def test_two_workers_never_hold_one_conversation_and_deliver_everything(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
    running: Callable[[Dispatcher], asyncio.Event],
) -> None:
    recorder = Recorder(engine, hold=0.01)
    for _ in range(2):
        running(Dispatcher(connect=connect, delivery=recorder, concurrency=4, poll_seconds=0.05))
    for n in range(60):
        await store(engine, tenant_id, f"m{n}", f"T0:C0:{n % 5}")
        await asyncio.sleep(0.002)

    await until_pending(engine, 0)
    assert recorder.overlaps == 0
    assert len(set(recorder.flushed)) == 5


async def test_a_conversation_waits_until_its_head_is_due(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
    running: Callable[[Dispatcher], asyncio.Event],
) -> None:
    await store(engine, tenant_id, "later", "T0:C0:late")
    await store(engine, tenant_id, "now", "T0:C0:now")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE bridge_message SET next_attempt_at = now() + interval '1 hour' "
                "WHERE dedupe_key = 'later'"
            )
        )
    recorder = Recorder(engine)
    running(Dispatcher(connect=connect, delivery=recorder, concurrency=4, poll_seconds=0.05))

    await until_pending(engine, 1)
    await asyncio.sleep(0.3)
    assert len(recorder.flushed) == 1
    assert await pending(engine) == 1


async def test_a_notification_wakes_an_idle_worker_at_once(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
    running: Callable[[Dispatcher], asyncio.Event],
) -> None:
    recorder = Recorder(engine)
    # It would look again only after a minute: only the ingest's NOTIFY can wake it.
    dispatcher = Dispatcher(connect=connect, delivery=recorder, concurrency=4, poll_seconds=60)
    running(dispatcher)
    await asyncio.sleep(0.3)  # connected, listening, found nothing
    await store(engine, tenant_id, "m1", "T0:C0:1")

    await until_pending(engine, 0, within=5)


async def test_a_dead_workers_conversation_is_taken_over_at_once(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
    running: Callable[[Dispatcher], asyncio.Event],
) -> None:
    # A worker that claimed a conversation and died: its lease connection holds the lock.
    dead = await connect()
    await store(engine, tenant_id, "m1", "T0:C0:1")
    claimed = await dead.fetch(CLAIM, LOCK_CLASS, [], 10)
    assert len(claimed) == 1
    recorder = Recorder(engine)
    running(Dispatcher(connect=connect, delivery=recorder, concurrency=4, poll_seconds=0.05))
    await asyncio.sleep(0.3)
    assert recorder.flushed == [] and await pending(engine) == 1  # held by the "dead" one

    dead.terminate()  # what the kernel does to a killed process's socket

    await until_pending(engine, 0, within=5)


@pytest.mark.parametrize("outcome", ["retry_later", "error"])
async def test_retry_later_and_errors_release_the_conversation_without_spinning(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    connect: Callable[[], Awaitable[asyncpg.Connection[Any]]],
    running: Callable[[Dispatcher], asyncio.Event],
    outcome: str,
) -> None:
    await store(engine, tenant_id, "m1", "T0:C0:retry")
    recorder = Recorder(engine)
    async with engine.connect() as connection:
        conversation_id = await connection.scalar(text("SELECT id FROM conversation"))
    assert isinstance(conversation_id, uuid.UUID)
    (recorder.retry_later if outcome == "retry_later" else recorder.failing).add(conversation_id)
    other = await connect()  # connected now, so checking the lock below is one round trip
    dispatcher = Dispatcher(connect=connect, delivery=recorder, concurrency=4, poll_seconds=0.05)
    running(dispatcher)
    # Asked to come back in an hour, or held back for at least half a second after an
    # error: with a look every 50 ms, not claimed again meanwhile.
    await asyncio.sleep(0.4)
    assert dispatcher.claims == 1
    assert dispatcher.busy == 0
    # And the lock was released: another session can take it.
    try:
        taken = await other.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2::text))",
            LOCK_CLASS,
            str(conversation_id),
        )
        assert taken is True
    finally:
        await other.close()
    if outcome == "error":

        async def tried_again() -> bool:
            return dispatcher.claims >= 2

        # Held back, not dropped: the error's hold (0.5-1 s for a first failure) runs out.
        await wait_for(tried_again, within=5)


class OneAtATime:
    """Delivers one pending row at a time, taking `hold` seconds for each, asking `keep_going`
    before each as `Delivery` does; notes a cancellation."""

    def __init__(self, engine: AsyncEngine, *, hold: float) -> None:
        self.engine = engine
        self.hold = hold
        self.sending = asyncio.Event()
        self.cancelled = 0
        self.stopped_early = 0

    async def flush(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> int:
        settled = 0
        try:
            while True:
                if not keep_going():
                    self.stopped_early += 1
                    return settled
                async with self.engine.connect() as connection:
                    head = await connection.scalar(
                        text(
                            "SELECT id FROM bridge_message WHERE conversation_id = :c "
                            "AND status = 'pending' ORDER BY source_ts, id LIMIT 1"
                        ),
                        {"c": conversation_id},
                    )
                if head is None:
                    return settled
                self.sending.set()
                await asyncio.sleep(self.hold)  # the send
                async with self.engine.begin() as connection:
                    await connection.execute(
                        text("UPDATE bridge_message SET status = 'delivered' WHERE id = :id"),
                        {"id": head},
                    )
                settled += 1
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def test_a_lost_lease_lets_the_message_in_flight_finish_and_sends_nothing_more(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    database_url: str,
    running: Callable[[Dispatcher], asyncio.Event],
) -> None:
    libpq = DatabaseURL(database_url).libpq
    leases: list[asyncpg.Connection[Any]] = []

    async def lease() -> asyncpg.Connection[Any]:
        connection: asyncpg.Connection[Any] = await asyncpg.connect(libpq)
        leases.append(connection)
        return connection

    for key in ("first", "second"):
        await store(engine, tenant_id, key, "T0:C0:lease")
    flusher = OneAtATime(engine, hold=1.0)
    dispatcher = Dispatcher(connect=lease, delivery=flusher, concurrency=4, poll_seconds=0.05)
    running(dispatcher)
    await asyncio.wait_for(flusher.sending.wait(), timeout=10)
    # Postgres ends the lease connection (a restart, a network cut) mid-send.
    async with engine.connect() as connection:
        await connection.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": leases[0].get_server_pid()}
        )

    await until_pending(engine, 1, within=5)
    assert flusher.cancelled == 0  # its outcome was written, so it is not sent again

    async def stopped() -> bool:
        return flusher.stopped_early == 1 and dispatcher.busy == 0

    await wait_for(stopped, within=5)
    assert await pending(engine) == 1  # nothing more was sent on the lost claim

    # Claimed again once reconnected and the grace has passed.
    await until_pending(engine, 0, within=15)
    assert len(leases) >= 2
