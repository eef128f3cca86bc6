"""The queue's tasks and the worker process. Tasks are thin: they call the owning service.

The queue is procrastinate on the same Postgres (docs/decisions.md). Tasks are declared on a
blueprint at import time, but nothing connects until `run_worker` builds the app from
settings; dependencies reach tasks through the worker's `additional_context`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import create_engine, create_sessions
from app.tenants import store

log = logging.getLogger(__name__)

tasks = procrastinate.Blueprint()

# Heroku sends SIGTERM and kills 30 s later; finish or release in-flight jobs before that.
SHUTDOWN_GRACE_SECONDS = 25.0


@dataclass
class WorkerDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


def deps_of(context: procrastinate.JobContext) -> WorkerDeps:
    deps = context.additional_context["deps"]
    assert isinstance(deps, WorkerDeps)
    return deps


@tasks.periodic(cron="*/10 * * * *", periodic_id="oauth-states")
@tasks.task(name="purge_expired_oauth_states", pass_context=True, queue="maintenance")
async def purge_expired_oauth_states(context: procrastinate.JobContext, timestamp: int) -> int:
    """Bolt consumes used states but never deletes expired ones; we do, every ten minutes."""
    async with deps_of(context).sessions.begin() as session:
        removed = await store.purge_expired_oauth_states(session)
    log.info("expired oauth states purged", extra={"count": removed})
    return removed


def build_queue(settings: Settings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=settings.database.libpq,
        kwargs={"application_name": "worker-queue"},
        min_size=1,
        max_size=4,
    )
    queue = procrastinate.App(connector=connector)
    queue.add_tasks_from(tasks, namespace="switchboard")
    return queue


async def run_worker(settings: Settings) -> None:
    engine = create_engine(
        settings.database, pool_size=settings.web_db_pool_size, application_name="worker"
    )
    deps = WorkerDeps(settings=settings, sessions=create_sessions(engine))
    queue = build_queue(settings)
    try:
        async with queue.open_async():
            await queue.run_worker_async(
                concurrency=settings.worker_concurrency,
                additional_context={"deps": deps},
                install_signal_handlers=True,
                shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
                delete_jobs="successful",
            )
    finally:
        await engine.dispose()
