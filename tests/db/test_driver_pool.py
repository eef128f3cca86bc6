"""The web's bare asyncpg pool for the ingest hot path, against the real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.config import DatabaseURL
from app.db.session import DriverPool, create_engine, create_sessions, on_driver


@pytest.fixture
async def pooled(database_url: str) -> AsyncIterator[tuple[DriverPool, Any]]:
    engine = create_engine(
        DatabaseURL(database_url), pool_size=1, application_name="tests", pre_ping=False
    )
    pool = DriverPool(DatabaseURL(database_url), size=2, application_name="tests-ingest")
    try:
        yield pool, create_sessions(engine, driver_pool=pool)
    finally:
        await pool.close()
        await engine.dispose()


async def backend(connection: asyncpg.Connection[Any]) -> int:
    pid = await connection.fetchval("SELECT pg_backend_pid()")
    assert isinstance(pid, int)
    return pid


async def test_a_connection_that_died_is_replaced_without_an_error(
    database_url: str, pooled: tuple[DriverPool, Any]
) -> None:
    _, sessions = pooled
    first = await on_driver(sessions, backend)
    assert await on_driver(sessions, backend) == first  # kept, not reopened
    other = await asyncpg.connect(DatabaseURL(database_url).libpq)
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await other.close()
    assert await on_driver(sessions, backend) != first


async def test_no_more_than_its_size_are_opened_and_every_caller_gets_a_turn(
    pooled: tuple[DriverPool, Any],
) -> None:
    _, sessions = pooled
    busy = 0
    most = 0

    async def slow(connection: asyncpg.Connection[Any]) -> int:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        try:
            await connection.execute("SELECT pg_sleep(0.02)")
            return await backend(connection)
        finally:
            busy -= 1

    pids = await asyncio.gather(*(on_driver(sessions, slow) for _ in range(12)))
    assert most == 2 and len(set(pids)) == 2


async def test_json_is_decoded_as_the_engine_decodes_it(pooled: tuple[DriverPool, Any]) -> None:
    _, sessions = pooled

    async def values(connection: asyncpg.Connection[Any]) -> tuple[Any, Any]:
        row = await connection.fetchrow(
            "SELECT $1::jsonb AS b, '{\"a\": [1]}'::json AS j", '{"k": "v"}'
        )
        assert row is not None
        return row["b"], row["j"]

    assert await on_driver(sessions, values) == ({"k": "v"}, {"a": [1]})


async def test_a_connection_left_in_a_transaction_is_not_reused(
    pooled: tuple[DriverPool, Any],
) -> None:
    pool, _ = pooled
    connection = await pool.acquire()
    pid = await backend(connection)
    await connection.execute("BEGIN")
    pool.release(connection)
    again = await pool.acquire()
    try:
        assert await backend(again) != pid
    finally:
        pool.release(again)
