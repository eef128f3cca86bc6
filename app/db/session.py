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
    """Raised inside a session block so that it rolls back instead of committing."""


def create_engine(
    database: DatabaseURL, *, pool_size: int, application_name: str, pre_ping: bool = True
) -> AsyncEngine:
    """One engine per process. `pre_ping` survives a Postgres restart without errors, at a
    round trip per checkout.

    The web turns it off: its hot path finds dead connections itself (`on_driver`), and
    elsewhere SQLAlchemy invalidates the pool on the first disconnect error, so a Postgres
    restart fails at most one ORM request (a page, a Bolt event) per web process.
    """
    return create_async_engine(
        database.sqlalchemy,
        pool_size=pool_size,
        max_overflow=pool_size,
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


def create_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def on_driver(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[asyncpg.Connection[Any]], Awaitable[T]],
) -> T:
    """Run `work` on the pooled connection's asyncpg driver, once it has committed.

    No statement goes through SQLAlchemy, so it starts no transaction: each statement `work`
    runs is its own. (In tests, whose sessions join an outer transaction, it runs inside that
    one.) A connection found closed is thrown away for another; one that dies during `work`
    gets one retry on a fresh connection, then the error goes up.
    """
    retried = False
    for _ in range(MAX_STALE_CONNECTIONS):
        try:
            async with sessions.begin() as session:
                connection = await session.connection()
                driver = (await connection.get_raw_connection()).driver_connection
                if not isinstance(driver, asyncpg.Connection) or driver.is_closed():
                    await connection.invalidate()
                    raise ConnectionLost
                try:
                    return await work(driver)
                except DISCONNECTS as exc:
                    await connection.invalidate(exc)
                    if retried:
                        raise
                    retried = True
                    raise ConnectionLost from exc
        except ConnectionLost:
            continue
    raise ConnectionLost("no live database connection")
