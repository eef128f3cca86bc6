"""The worker process: message delivery, and the periodic tasks. Tasks are thin: they call
the owning service.

Delivery is not a queue job: the worker's `Dispatcher` (`app.bridge.dispatch`) claims
conversations with due messages straight from `bridge_message`. The periodic maintenance tasks
run on procrastinate on the same Postgres (docs/decisions.md). They are declared on a blueprint
at import time, but nothing connects until `app.main.worker_app` opens the queue and builds the
services (the one composition root); dependencies reach tasks through the worker's
`additional_context`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.conversation_end import ConversationEnds
from app.bridge.delivery import Delivery
from app.bridge.dispatch import Dispatcher
from app.config import Settings
from app.tenants import privacy, store

log = logging.getLogger(__name__)

# Task names are part of the queue's data (procrastinate_jobs.task_name); never rename one.
NAMESPACE = "switchboard"

# Heroku sends SIGTERM and kills 30 s later; finish or give back in-flight work before that.
SHUTDOWN_GRACE_SECONDS = 25.0


# A worker that has not sent a heartbeat for this long is presumed dead (kill -9, lost dyno),
# and its periodic jobs are put back; heartbeats come every HEARTBEAT_SECONDS. (Delivery does
# not wait for this: a dead worker's conversations are free as soon as its connection drops.)
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER_SECONDS = 15.0


@dataclass
class WorkerDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    delivery: Delivery
    dispatcher: Dispatcher
    conversation_ends: ConversationEnds


async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Jobs of a worker that died mid-job stay "doing"; put them back so they run again.
    Every periodic task is safe to run twice."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
    if stalled:
        log.warning("retried stalled jobs", extra={"count": len(stalled)})
    return len(stalled)


def deps_of(context: procrastinate.JobContext) -> WorkerDeps:
    deps = context.additional_context["deps"]
    assert isinstance(deps, WorkerDeps)
    return deps


async def purge_expired_oauth_states(context: procrastinate.JobContext, timestamp: int) -> int:
    """Bolt consumes used states but never deletes expired ones; we do, every ten minutes."""
    async with deps_of(context).sessions.begin() as session:
        removed = await store.purge_expired_oauth_states(session)
    log.info("expired oauth states purged", extra={"count": removed})
    return removed


async def watch_conversation_ends(context: procrastinate.JobContext, timestamp: int) -> int:
    """Open Messaging has no end event: read the open conversations' state (docs/decisions.md)."""
    return await deps_of(context).conversation_ends.watch()


async def apply_retention(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete what is past each tenant's retention period (`app.tenants.privacy`), hourly."""
    deleted = await privacy.apply_retention(deps_of(context).sessions)
    log.info(
        "retention applied",
        extra={"messages": deleted.messages, "conversations": deleted.conversations},
    )
    return deleted.messages


def build_queue(settings: Settings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=settings.database.libpq,
        kwargs={"application_name": "worker-queue"},
        min_size=1,
        max_size=4,
    )
    queue = procrastinate.App(connector=connector)
    # A fresh blueprint per app: procrastinate namespaces a blueprint's tasks in place, so one
    # blueprint cannot be added to two apps (tests and the benchmark build several).
    tasks = procrastinate.Blueprint()
    for function, cron, periodic_id in (
        # croniter's sixth field is seconds.
        (retry_stalled_jobs, "* * * * * */30", "stalled"),
        (purge_expired_oauth_states, "*/10 * * * *", "oauth-states"),
        (
            watch_conversation_ends,
            f"* * * * * */{settings.conversation_end_poll_seconds}",
            "conversation-ends",
        ),
        (apply_retention, "23 * * * *", "retention"),
    ):
        task = tasks.task(name=function.__name__, pass_context=True, queue="maintenance")(function)
        tasks.periodic(cron=cron, periodic_id=periodic_id)(task)
    queue.add_tasks_from(tasks, namespace=NAMESPACE)
    return queue


async def run_worker(queue: procrastinate.App, deps: WorkerDeps) -> None:
    """Deliver messages (`deps.dispatcher`) and run the periodic tasks until SIGTERM/SIGINT.

    On a signal the dispatcher stops claiming and gives in-flight flushes
    `SHUTDOWN_GRACE_SECONDS` to finish; the queue's worker is cancelled, which procrastinate
    turns into the same graceful stop for a running periodic task.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    delivering = asyncio.create_task(deps.dispatcher.run(stop))
    try:
        await run_periodic(queue, deps, stop)
    finally:
        stop.set()
        await delivering


async def run_periodic(queue: procrastinate.App, deps: WorkerDeps, stop: asyncio.Event) -> None:
    """The queue's worker for the periodic tasks, until `stop`; one that stops by itself (e.g.
    Postgres restarted under its LISTEN connection) is started again after a short backoff."""
    backoff_seconds = 1.0
    while not stop.is_set():
        worker = asyncio.create_task(
            queue.run_worker_async(
                concurrency=2,
                additional_context={"deps": deps},
                install_signal_handlers=False,
                shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
                delete_jobs="successful",
                fetch_job_polling_interval=5.0,
                update_heartbeat_interval=HEARTBEAT_SECONDS,
                stalled_worker_timeout=STALLED_AFTER_SECONDS,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            break
        stopping.cancel()
        problem = None if worker.cancelled() else worker.exception()
        log.warning(
            "worker stopped by itself; starting it again",
            extra={"error": type(problem).__name__ if problem else None},
        )
        await asyncio.sleep(backoff_seconds)
        backoff_seconds = min(backoff_seconds * 2, 30.0)
