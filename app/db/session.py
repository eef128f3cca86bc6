"""Engine and session factory, created in a lifespan and passed down, never at import time.

The ingest hot path talks to asyncpg directly (`on_driver`): one prepared statement per
event, which Postgres runs as its own transaction, instead of the ORM's BEGIN, statements and
COMMIT. It checks out its connection through the same pool and session, so tests' rollback
fixtures and the pool's size still apply.
"""

from __future__ import annotations

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


class ConnectionLost(Exception):
    """No live connection to the database could be found."""


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
    engine: AsyncEngine, *, box: SecretBox | None = None
) -> async_sessionmaker[AsyncSession]:
    """`box` opens and seals message payloads (`app.db.sealed`); without it, sessions can
    do anything but load or write a sealed `bridge_message` row."""
    return async_sessionmaker(
        engine, expire_on_commit=False, info={} if box is None else {sealed.BOX: box}
    )


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
        return await _on_pooled(bind, work)
    return await _in_session(sessions, work)


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
