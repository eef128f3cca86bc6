"""Alembic environment (async template). Alembic owns every table, including Slack's."""

import asyncio
import logging
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import DatabaseSettings, DatabaseURL
from app.db import models
from app.db.base import Base

config = context.config
# Configuration lives in pyproject.toml; an alembic.ini is used for logging only if present.
if config.config_file_name is not None and Path(config.config_file_name).exists():
    fileConfig(config.config_file_name)
else:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

target_metadata = Base.metadata


def _database() -> DatabaseURL:
    url = config.attributes.get("database_url")
    if isinstance(url, str):
        return DatabaseURL(url)
    return DatabaseSettings().database


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """The job queue's tables come from procrastinate's own SQL, not from our metadata."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def run_migrations_offline() -> None:
    context.configure(
        url=_database().sqlalchemy,
        target_metadata=target_metadata,
        literal_binds=True,
        include_name=include_name,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    database = _database()
    engine = create_async_engine(
        database.sqlalchemy, poolclass=pool.NullPool, connect_args=database.connect_args
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
