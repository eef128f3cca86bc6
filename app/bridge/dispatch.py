"""Workers claim conversations with due messages directly: no queue job per message.

Why not a job per flush (what this replaced): at the benchmark's traffic a conversation gets a
message every few seconds, so every message paid for its own procrastinate job: 7 of the ~10
rows written per message (the job's insert, update and delete, and four event rows from the
queue's triggers), two psycopg round trips, and the queue's bookkeeping (issue 12).

How a worker claims. It keeps one connection of its own, the *lease connection*, and claims a
conversation by taking a session-level advisory lock on it (`pg_try_advisory_lock`) in the same
statement that finds conversations whose oldest pending message is due. The lock is the lease:
while a worker holds it no other worker delivers that conversation, so messages keep their
order, and claiming writes nothing. No transaction is held: a session lock outlives the
statement that took it, and the sends happen on other connections with none open.

What this buys on failure:
- A worker that dies (`kill -9`, a lost dyno) drops its connection, and Postgres releases its
  locks at once: another worker takes the conversation over at its next look (within
  `poll_seconds`), not after a heartbeat timeout.
- If the lease connection itself is lost while the worker lives (Postgres restarted, the
  network), its locks are gone too. Its in-flight flushes are *fenced*: the message each is
  sending still gets its outcome written (`outcomes.record` retries through a database blip,
  so what reached Slack or Genesys is not sent again), and nothing more is sent. Cancelling
  them instead would drop those outcomes and repeat the messages. On reconnecting the worker
  first takes its fenced conversations' locks back, and every worker waits
  `RECONNECT_GRACE_SECONDS` before claiming, longer than the reconnect backoff's step, so a
  conversation whose outcome is still being written is not claimed by another worker in the
  meantime. What is left is the at-least-once window described in docs/deployment.md
  ("Nothing is lost"): a worker that cannot write its outcome for longer than that.
- A host that vanishes without closing its sockets holds its claims until Postgres notices the
  connection is dead: the lease connection asks the server for TCP keepalives
  (`LEASE_KEEPALIVES`), so that takes about a minute, not the operating system's two hours.

Waking. Ingest sends `NOTIFY` on `queueing.PENDING_CHANNEL` when it stores a message to deliver
(in the same statement, so at its commit); the worker listens on the lease connection and looks
at once. It also looks every `poll_seconds`, for retries coming due (a head row's
`next_attempt_at`) and for anything whose notification it missed while reconnecting.

A flush that fails unexpectedly (a bug, a database error) holds its conversation back in this
process for a growing delay (at most a minute), so one bad conversation cannot spin the worker.
Its messages stay pending and are tried again: once a send is attempted, `Delivery`'s limits
dead-letter them in time; a failure before any send (say, loading the conversation) repeats
until fixed, visible in the log and in the waiting-conversations gauge, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg

from app.bridge.queueing import PENDING_CHANNEL
from app.bridge.retries import MAX_DELAY_SECONDS, RetryLater, backoff
from app.db.session import DISCONNECTS

log = logging.getLogger(__name__)

# What a lost lease connection looks like (Postgres restarted, the network), connecting or after.
LEASE_ERRORS: tuple[type[BaseException], ...] = (*DISCONNECTS, asyncpg.PostgresError)

# The advisory locks' first key, so ours never meet another application's ("SWBD").
LOCK_CLASS = 0x53574244

# Conversations whose oldest pending message is due, not being delivered here, locked in the
# same pass. `OFFSET 0` keeps the subquery apart, so the lock is only tried on rows that passed
# every other test, and `LIMIT` stops trying once enough were taken. A hash collision only
# makes two conversations take turns.
CLAIM = """
    SELECT due.conversation_id, due.tenant_id
    FROM (
        SELECT heads.conversation_id, heads.tenant_id
        FROM (
            SELECT DISTINCT ON (conversation_id) conversation_id, tenant_id, next_attempt_at
            FROM bridge_message
            WHERE status = 'pending' AND conversation_id IS NOT NULL
            ORDER BY conversation_id, source_ts, id
        ) AS heads
        WHERE (heads.next_attempt_at IS NULL OR heads.next_attempt_at <= now())
          AND NOT (heads.conversation_id = ANY($2::uuid[]))
        OFFSET 0
    ) AS due
    WHERE pg_try_advisory_lock($1, hashtext(due.conversation_id::text))
    LIMIT $3
"""

# Take back the locks of conversations still being flushed after a reconnect.
RELOCK = """
    SELECT c FROM unnest($2::uuid[]) AS c WHERE pg_try_advisory_lock($1, hashtext(c::text))
"""

RELEASE = """
    SELECT count(*) FILTER (WHERE pg_advisory_unlock($1, hashtext(c::text)))
    FROM unnest($2::uuid[]) AS c
"""

# Server-side keepalives for the lease connection (`server_settings`): a dead peer is found
# after idle + interval * count seconds, and its advisory locks are released.
LEASE_KEEPALIVES = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}

# After a lost lease connection: the reconnect backoff's largest step, and how long a worker
# that reconnected waits before claiming (longer than the step, see the module's docstring).
MAX_RECONNECT_STEP_SECONDS = 2.0
RECONNECT_GRACE_SECONDS = 3.0


class Flusher(Protocol):
    async def flush(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        keep_going: Callable[[], bool],
    ) -> int: ...


Connect = Callable[[], Awaitable["asyncpg.Connection[Any]"]]


class Dispatcher:
    """Claims due conversations on one lease connection and flushes up to `concurrency` of
    them at a time (`Delivery.flush`)."""

    def __init__(
        self,
        *,
        connect: Connect,
        delivery: Flusher,
        concurrency: int,
        poll_seconds: float = 1.0,
        grace_seconds: float = 25.0,
    ) -> None:
        self._connect = connect
        self._delivery = delivery
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._grace_seconds = grace_seconds
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._locked: set[uuid.UUID] = set()  # held on the current lease connection
        self._fenced: set[uuid.UUID] = set()  # running, but their claim was lost
        self._finished: list[uuid.UUID] = []
        self._held: dict[uuid.UUID, tuple[float, int]] = {}  # until (monotonic), failures
        self._wake = asyncio.Event()
        self.claims = 0

    @property
    def busy(self) -> int:
        """Conversations being delivered by this worker now."""
        return len(self._running)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, reconnecting the lease connection as needed; then let
        in-flight flushes finish for up to `grace_seconds` and release everything."""
        retry_in = 0.5
        reconnecting = False
        while not stop.is_set():
            try:
                connection = await self._connect()
            except LEASE_ERRORS as exc:
                log.warning("lease connection failed", extra={"error": type(exc).__name__})
                await _sleep_unless(stop, retry_in)
                retry_in = min(retry_in * 2, MAX_RECONNECT_STEP_SECONDS)
                continue
            retry_in = 0.5
            try:
                await self._serve(connection, stop, reconnected=reconnecting)
            except Exception as exc:
                # Lost (LEASE_ERRORS) or anything unexpected: either way the claims cannot be
                # trusted, and delivery must go on after a reconnect, never stop silently.
                log.log(
                    logging.WARNING if isinstance(exc, LEASE_ERRORS) else logging.ERROR,
                    "lease connection lost; in-flight flushes finish their current message",
                    extra={"error": type(exc).__name__, "in_flight": len(self._running)},
                )
                # The locks went with the connection: send nothing more on those claims.
                self._fenced.update(self._running)
                reconnecting = True
                await _sleep_unless(stop, retry_in)
            finally:
                if stop.is_set():
                    await self._finish_running()
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)
                self._locked.clear()
                self._finished.clear()

    async def _serve(
        self, connection: asyncpg.Connection[Any], stop: asyncio.Event, *, reconnected: bool
    ) -> None:
        def wake(*_: object) -> None:
            self._wake.set()

        await connection.add_listener(PENDING_CHANNEL, wake)
        connection.add_termination_listener(wake)
        if self._running:
            # Fenced flushes still finishing: hold their conversations again while they do.
            taken = await connection.fetch(RELOCK, LOCK_CLASS, list(self._running))
            self._locked.update(row["c"] for row in taken)
        claim_from = time.monotonic() + (RECONNECT_GRACE_SECONDS if reconnected else 0.0)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if connection.is_closed():
                    raise asyncpg.exceptions.ConnectionDoesNotExistError("lease connection closed")
                self._wake.clear()
                await self._release(connection)
                if time.monotonic() >= claim_from:
                    await self._claim(connection)
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {waker, stopping}, timeout=self._poll_seconds, return_when="FIRST_COMPLETED"
                )
                waker.cancel()
        finally:
            stopping.cancel()

    async def _release(self, connection: asyncpg.Connection[Any]) -> None:
        if not self._finished:
            return
        done, self._finished = self._finished, []
        # Only what this connection holds (a fenced flush's lock may have gone elsewhere).
        ours = [c for c in done if c in self._locked]
        self._locked.difference_update(ours)
        if ours:
            await connection.fetchval(RELEASE, LOCK_CLASS, ours)

    async def _claim(self, connection: asyncpg.Connection[Any]) -> None:
        free = self._concurrency - len(self._running)
        if free <= 0:
            return
        now = time.monotonic()
        # A hold past its time is kept a while for its failure count, then forgotten.
        for conversation_id, (until, _) in list(self._held.items()):
            if until < now - MAX_DELAY_SECONDS:
                del self._held[conversation_id]
        skip = list(self._running) + [c for c, (until, _) in self._held.items() if until > now]
        rows = await connection.fetch(CLAIM, LOCK_CLASS, skip, free)
        for row in rows:
            self.claims += 1
            self._locked.add(row["conversation_id"])
            self._running[row["conversation_id"]] = asyncio.create_task(
                self._flush(row["tenant_id"], row["conversation_id"])
            )

    async def _flush(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        try:
            await self._delivery.flush(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                keep_going=lambda: conversation_id not in self._fenced,
            )
        except RetryLater:
            # The head row carries its `next_attempt_at`: the claim skips it until then.
            self._held.pop(conversation_id, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = self._held.get(conversation_id, (0.0, 0))[1] + 1
            delay = backoff(failures)  # at most MAX_DELAY_SECONDS
            self._held[conversation_id] = (time.monotonic() + delay, failures)
            log.warning(
                "flush failed; conversation held back",
                extra={
                    "conversation_id": str(conversation_id),
                    "error": type(exc).__name__,
                    "retry_in_s": round(delay, 1),
                },
            )
        else:
            self._held.pop(conversation_id, None)
        finally:
            self._running.pop(conversation_id, None)
            self._fenced.discard(conversation_id)
            self._finished.append(conversation_id)
            self._wake.set()

    async def _finish_running(self) -> None:
        """Shutdown: no new claims; in-flight flushes get the grace period, then are cancelled
        (their messages stay pending and are delivered by the next worker)."""
        tasks = list(self._running.values())
        if not tasks:
            return
        log.info("waiting for in-flight flushes", extra={"in_flight": len(tasks)})
        _, late = await asyncio.wait(tasks, timeout=self._grace_seconds)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
