"""Acks are never hostage to the database: ingest answers in time, or says "retry".

Slack retries an event it has no answer for after 3 s, and Genesys after its own timeout, but
both retry a 503 too. So each ingest runs as a task that the request waits for only until
the deadline (`INGEST_ACK_DEADLINE_SECONDS`): past it the sender gets a 503 and the task is
left to finish (or fail) on its own, never cancelled halfway through a statement. If it did
store the message, the retry is a duplicate the unique constraints drop; if it did not, the
retry stores it. Past `INGEST_MAX_IN_FLIGHT` unfinished ingests, new requests get the 503 at
once instead of queueing for a pool connection: memory stays bounded under any stall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# Under overload a warning per request would cost what shedding saves: at most one a second.
LOG_EVERY_SECONDS = 1.0

T = TypeVar("T")


class Admission:
    def __init__(self, *, deadline_seconds: float, max_in_flight: int) -> None:
        self._deadline = deadline_seconds
        self._max_in_flight = max_in_flight
        self._running: set[asyncio.Task[Any]] = set()
        self._unlogged = {"shed": 0, "late": 0}
        self._logged_at = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def full(self) -> bool:
        """Checked before a request is even read, so shedding costs next to nothing."""
        if len(self._running) < self._max_in_flight:
            return False
        self._note("shed")
        return True

    async def run(self, work: Coroutine[Any, Any, T]) -> T | None:
        """`work`'s result, or None when it was shed or is still running at the deadline.
        An error it raises in time is raised here (the web answers 5xx, which is retried)."""
        if self.full:
            work.close()
            return None
        loop = asyncio.get_running_loop()
        task = loop.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._finished)
        # `wait_for(shield(task))` without its two extra futures: one waiter, released by the
        # task's end or the deadline's timer, whichever comes first. The task is never
        # cancelled here, so a request that gives up leaves it to finish.
        waiter: asyncio.Future[None] = loop.create_future()

        def release(_: object) -> None:
            if not waiter.done():
                waiter.set_result(None)

        task.add_done_callback(release)
        timer = loop.call_later(self._deadline, release, None)
        try:
            await waiter
        finally:
            timer.cancel()
            task.remove_done_callback(release)
        if task.done():
            return task.result()
        self._note("late")
        return None

    def _note(self, what: str) -> None:
        self._unlogged[what] += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            log.warning(
                "ingest answered busy",
                extra={**self._unlogged, "in_flight": len(self._running)},
            )
            self._unlogged = {"shed": 0, "late": 0}

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Raised to the request if it was still waiting; logged here in case it was not.
            log.warning("ingest failed", extra={"error": type(task.exception()).__name__})
