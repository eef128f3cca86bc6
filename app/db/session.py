"""Engine and session factory, created in a lifespan and passed down, never at import time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import DatabaseURL


def create_engine(
    database: DatabaseURL,
    *,
    pool_size: int,
    application_name: str,
    max_overflow: int | None = None,
) -> AsyncEngine:
    """One engine per process. `pool_pre_ping` survives a Postgres restart without 500s.
    Overflow defaults to `pool_size` again."""
    return create_async_engine(
        database.sqlalchemy,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=True,
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
