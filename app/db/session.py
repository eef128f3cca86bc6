"""Engine and session factory, created in a lifespan and passed down, never at import time.

The ingest hot path talks to asyncpg directly (`on_driver`): one prepared statement per
event, which Postgres runs as its own transaction, instead of the ORM's BEGIN, statements and
COMMIT. In the web it has its own bare pool of asyncpg connections (`DriverPool`, attached to
the session factory), since a checkout through SQLAlchemy's pool (greenlet switches, the
connection fairy, a reset on return) cost more than a twentieth of the web's CPU per event;
elsewhere it checks out its connection through the engine's pool. Sessions bound to one
connection (the tests' rollback fixture) run it inside that connection's transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import DatabaseURL
from app.crypto import SecretBox
from app.db import sealed

T = TypeVar("T")

# A connection that died under us (Postgres restarted, a proxy cut it): safe to retry on a
# fresh one, because every hot-path statement is idempotent (unique constraints).
DISCONNECTS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    # The server said goodbye (FATAL) and the protocol has not noticed the socket close yet.
    asyncpg.exceptions.InternalClientError,
)
# A restart leaves every pooled connection closed; each is found closed without a round trip.
MAX_STALE_CONNECTIONS = 64


# Where a session factory keeps its hot path's own pool (`create_sessions(driver_pool=…)`).
DRIVER_POOL = "driver_pool"


class ConnectionLost(Exception):
    """No live connection to the database could be found."""


def _jsonb_encode(value: str) -> bytes:
    return b"\x01" + value.encode()


def _jsonb_decode(value: bytes) -> Any:
    return json.loads(value[1:])


class DriverPool:
    """Bare asyncpg connections for the ingest hot path, opened as needed up to `size` and then
    kept: a checkout takes an idle one (no round trip, no reset), a return puts it back.

    Connections are set up as the engine's are (application name, command timeout, SSL, and
    JSON codecs that decode like SQLAlchemy's asyncpg dialect), so a statement answers the
    same on either. A connection returned closed, mid-transaction or after a disconnect error
    is dropped, and the next checkout opens a fresh one. Callers wait in order when all are
    busy; the web's admission bounds how many wait.
    """

    def __init__(self, database: DatabaseURL, *, size: int, application_name: str) -> None:
        self._database = database
        self._size = size
        self._application_name = application_name
        self._idle: list[asyncpg.Connection[Any]] = []
        self._opened = 0  # open or being opened, idle or not
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def acquire(self) -> asyncpg.Connection[Any]:
        while True:
            if self._closed:
                raise ConnectionLost("the pool is closed")
            if self._idle:
                return self._idle.pop()
            if self._opened < self._size:
                self._opened += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._opened -= 1
                    self._wake()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if not waiter.cancelled() and waiter.done():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, connection: asyncpg.Connection[Any], *, broken: bool = False) -> None:
        if broken or self._closed or connection.is_closed() or connection.is_in_transaction():
            self._opened -= 1
            connection.terminate()
        else:
            self._idle.append(connection)
        self._wake()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._opened -= 1
            try:
                await connection.close(timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                connection.terminate()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self) -> asyncpg.Connection[Any]:
        connection: asyncpg.Connection[Any] = await asyncpg.connect(
            # asyncpg reads `sslmode` from the URL as libpq does.
            self._database.libpq,
            server_settings={"application_name": self._application_name},
            command_timeout=10,
        )
        try:
            await connection.set_type_codec(
                "json", encoder=str, decoder=json.loads, schema="pg_catalog", format="text"
            )
            await connection.set_type_codec(
                "jsonb",
                encoder=_jsonb_encode,
                decoder=_jsonb_decode,
                schema="pg_catalog",
                format="binary",
            )
        except BaseException:
            connection.terminate()
            raise
        return connection


def create_engine(
    database: DatabaseURL,
    *,
    pool_size: int,
    application_name: str,
    max_overflow: int | None = None,
    pre_ping: bool = True,
) -> AsyncEngine:
    """One engine per process. Overflow defaults to `pool_size` again. `pre_ping` survives a
    Postgres restart without errors, at a round trip per checkout.

    The web turns it off: its hot path finds dead connections itself (`on_driver`), and
    elsewhere SQLAlchemy invalidates the pool on the first disconnect error, so a Postgres
    restart fails at most one ORM request (a page, a Bolt event) per web process.
    """
    return create_async_engine(
        database.sqlalchemy,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        # A DBAPIError's text would otherwise quote every parameter: message text, payloads.
        hide_parameters=True,
        connect_args={
            **database.connect_args,
            "server_settings": {"application_name": application_name},
            "command_timeout": 10,
        },
    )


def create_sessions(
    engine: AsyncEngine, *, box: SecretBox | None = None, driver_pool: DriverPool | None = None
) -> async_sessionmaker[AsyncSession]:
    """`box` opens and seals message payloads (`app.db.sealed`); without it, sessions can
    do anything but load or write a sealed `bridge_message` row. `driver_pool`: the hot
    path's own connections (`on_driver`); without it, it checks out from the engine."""
    info: dict[str, Any] = {} if box is None else {sealed.BOX: box}
    if driver_pool is not None:
        info[DRIVER_POOL] = driver_pool
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


async def on_driver(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[asyncpg.Connection[Any]], Awaitable[T]],
) -> T:
    """Run `work` on a pooled connection's asyncpg driver.

    No statement goes through SQLAlchemy, so none starts a transaction: each statement `work`
    runs is its own, committed when it returns. A connection found closed is thrown away for
    another; one that dies during `work` gets one retry on a fresh connection, then the error
    goes up. Sessions bound to one connection instead of the engine (the tests' rollback
    fixture) run `work` inside that connection's transaction.
    """
    bind = sessions.kw.get("bind")
    if isinstance(bind, AsyncEngine):
        pool = sessions.kw["info"].get(DRIVER_POOL)
        if isinstance(pool, DriverPool):
            return await _on_driver_pool(pool, work)
        return await _on_pooled(bind, work)
    return await _in_session(sessions, work)


async def _on_driver_pool(
    pool: DriverPool, work: Callable[[asyncpg.Connection[Any]], Awaitable[T]]
) -> T:
    """`_on_pooled`'s rules on the bare pool: a closed connection is replaced without a round
    trip, one that dies during `work` gets one retry on a fresh connection."""
    retried = False
    for _ in range(MAX_STALE_CONNECTIONS):
        connection = await pool.acquire()
        if connection.is_closed():
            pool.release(connection, broken=True)
            continue
        try:
            result = await work(connection)
        except DISCONNECTS:
            pool.release(connection, broken=True)
            if retried:
                raise
            retried = True
            continue
        except BaseException:
            pool.release(connection)
            raise
        pool.release(connection)
        return result
    raise ConnectionLost("no live database connection")


async def _on_pooled(
    engine: AsyncEngine, work: Callable[[asyncpg.Connection[Any]], Awaitable[T]]
) -> T:
    """The hot path: a pooled connection without a Session; none of its statements goes
    through SQLAlchemy, so returning it to the pool (a rollback of nothing) is free."""
    retried = False
    for _ in range(MAX_STALE_CONNECTIONS):
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            if not isinstance(driver, asyncpg.Connection) or driver.is_closed():
                await connection.invalidate()
                continue
            try:
                return await work(driver)
            except DISCONNECTS as exc:
                await connection.invalidate(exc)
                if retried:
                    raise
                retried = True
    raise ConnectionLost("no live database connection")


async def _in_session(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[asyncpg.Connection[Any]], Awaitable[T]],
) -> T:
    async with sessions.begin() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, asyncpg.Connection)
        return await work(driver)
