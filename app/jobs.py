"""The queue's tasks and the worker process. Tasks are thin: they call the owning service.

The queue is procrastinate on the same Postgres (docs/decisions.md). Tasks are declared on a
blueprint at import time, but nothing connects until `app.main.worker_app` opens the queue
and builds the services (the one composition root); dependencies reach tasks through the
worker's `additional_context`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import queueing, store as bridge_store
from app.bridge.conversation_end import ConversationEnds
from app.bridge.delivery import Delivery
from app.bridge.retries import RetryLater, backoff
from app.config import Settings
from app.tenants import privacy, store

log = logging.getLogger(__name__)

# The task name is part of the queue's data (see app/bridge/queueing.py); never rename.
NAMESPACE = "switchboard"

# Heroku sends SIGTERM and kills 30 s later; finish or release in-flight jobs before that.
SHUTDOWN_GRACE_SECONDS = 25.0


# Work committed this long ago with no job is re-enqueued by the relay.
RELAY_GRACE = timedelta(seconds=30)
# A worker that has not sent a heartbeat for this long is presumed dead (kill -9, lost dyno),
# and its jobs are put back; heartbeats come every HEARTBEAT_SECONDS.
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER_SECONDS = 15.0


@dataclass
class WorkerDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    delivery: Delivery
    conversation_ends: ConversationEnds


class DeliveryRetry(BaseRetryStrategy):
    """Delivery says when to come back (Retry-After, backoff); anything unexpected backs off too.

    The job keeps its lock while it waits, so later messages of the same conversation wait
    behind it: order is kept, and `Delivery` bounds the wait by dead-lettering.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            delay = exception.delay
        elif job.attempts >= 20:
            return None
        else:
            delay = backoff(job.attempts + 1)
        decision: RetryDecision = RetryDecision(
            retry_at=datetime.now(UTC) + timedelta(seconds=delay)
        )
        return decision


async def flush_conversation(
    context: procrastinate.JobContext, tenant_id: str, conversation_id: str
) -> int:
    return await deps_of(context).delivery.flush(
        tenant_id=uuid.UUID(tenant_id), conversation_id=uuid.UUID(conversation_id)
    )


async def relay_stranded_work(context: procrastinate.JobContext, timestamp: int) -> int:
    """Re-enqueue committed messages whose conversation has no queued or running job.

    Enqueueing shares the ingest transaction, so this should find nothing; it is the net for
    jobs lost any other way (a job deleted by hand, a bug), so nothing stays stranded.
    """
    deps = deps_of(context)
    async with deps.sessions.begin() as session:
        pending = await bridge_store.conversations_needing_jobs(
            session, older_than=datetime.now(UTC) - RELAY_GRACE
        )
        locks = {queueing.conversation_lock(conv): (tenant, conv) for tenant, conv in pending}
        covered = await queueing.locks_with_jobs(session, list(locks))
        stranded = [ids for lock, ids in locks.items() if lock not in covered]
        for tenant_id, conversation_id in stranded:
            await queueing.defer_flush(
                session, tenant_id=tenant_id, conversation_id=conversation_id
            )
    if stranded:
        log.warning("re-enqueued stranded conversations", extra={"count": len(stranded)})
    return len(stranded)


async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Jobs of a worker that died mid-job stay "doing" and hold their conversation's lock;
    put them back so the conversation moves again. Delivery is idempotent per message."""
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
    tasks.task(
        name="flush_conversation",
        pass_context=True,
        queue=queueing.QUEUE,
        retry=DeliveryRetry(),
    )(flush_conversation)
    for function, cron, periodic_id in (
        # croniter's sixth field is seconds: a dead worker's conversations resume quickly.
        (relay_stranded_work, "* * * * * */30", "relay"),
        (retry_stalled_jobs, "* * * * * */10", "stalled"),
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
    """Run the open queue's worker until SIGTERM/SIGINT; a worker that stops by itself (e.g.
    Postgres restarted under its LISTEN connection) is started again after a short backoff.

    On a signal the running worker is cancelled, which procrastinate turns into a graceful
    stop: no new jobs, in-flight jobs get `SHUTDOWN_GRACE_SECONDS` to finish.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    backoff_seconds = 1.0
    settings = deps.settings
    while not stop.is_set():
        worker = asyncio.create_task(
            queue.run_worker_async(
                concurrency=settings.worker_concurrency,
                additional_context={"deps": deps},
                install_signal_handlers=False,
                shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
                delete_jobs="successful",
                # Retries are scheduled in the future and need a poll to be picked up.
                fetch_job_polling_interval=1.0,
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
