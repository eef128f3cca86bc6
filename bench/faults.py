"""The fault scenarios: each runs alongside a phase of steady traffic and is bounded in time.

Each returns the spans in which at-least-once delivery may legitimately repeat a message
(a process killed, or the database gone, between a call reaching Slack and its outcome being
written down): Slack's `chat.postMessage` has no idempotency key (external-contracts §S1), so such a
repeat is visible, and is reported apart from unexplained duplicates.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from bench.database import Database
from bench.phases import Fault, System
from devkit.harness.ledger import Window
from sandbox.faults import FaultSpec

# How far before a crash a call may have landed without its outcome being recorded.
CRASH_MARGIN_SECONDS = 2.0


async def _at(start: float, offset: float) -> None:
    await asyncio.sleep(max(0.0, start + offset - time.monotonic()))


HOLD_SECONDS = 2.0


def kill_worker(at: float) -> Fault:
    """`kill -9` of a worker mid-flight, and a new worker at once. To be sure deliveries are
    in flight, Genesys holds every inbound message for 2 s from a second before the kill
    (external-contracts §R1). The dead worker's connections drop with it, and with them its
    claims on conversations (`app.bridge.dispatch`), so the new worker takes them over at its
    next look; the held calls still complete at Genesys, so they are sent again:
    at-least-once, with the same `channel.messageId`."""

    async def fault(system: System, start: float) -> list[Window]:
        await _at(start, at - 1.0)
        hold = FaultSpec(route="inbound.message", kind="delay", delay=HOLD_SECONDS, for_seconds=1.0)
        await system.far.arm(system.far.genesys, hold)
        await _at(start, at)
        victim = system.formation.of("worker")[0]
        killed = time.time()
        victim.kill()
        await system.formation.add("worker")
        return [Window(killed - CRASH_MARGIN_SECONDS, killed)]

    return fault


def restart_web(at: float) -> Fault:
    """SIGTERM (uvicorn's graceful shutdown) and a new web process on the same socket."""

    async def fault(system: System, start: float) -> list[Window]:
        await _at(start, at)
        old = system.formation.of("web")[0]
        await asyncio.to_thread(old.stop)
        await system.formation.add("web")
        return []

    return fault


def restart_postgres(database: Database, at: float) -> Fault:
    """`pg_ctl restart` (fast shutdown, then start) while traffic flows."""

    def restart() -> None:
        # Postgres inherits this thread's CPUs; leave it unpinned as it was started.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        database.restart()

    async def fault(system: System, start: float) -> list[Window]:
        await _at(start, at)
        began = time.time()
        await asyncio.to_thread(restart)
        return [Window(began - CRASH_MARGIN_SECONDS, time.time())]

    return fault


def _armed(side: str, specs: Callable[[], list[tuple[float, FaultSpec]]]) -> Fault:
    async def fault(system: System, start: float) -> list[Window]:
        target = system.far.genesys if side == "genesys" else system.far.slack
        for offset, spec in specs():
            await _at(start, offset)
            await system.far.arm(target, spec)
        return []

    return fault


def genesys_errors(at: float, seconds: float) -> Fault:
    """Genesys answers 429 (Retry-After 2 s) for the first half, then 503, on every route."""
    half = seconds / 2
    return _armed(
        "genesys",
        lambda: [
            (at, FaultSpec(route="*", kind="rate_limit", retry_after=2, for_seconds=half)),
            (at + half, FaultSpec(route="*", kind="status", status=503, for_seconds=half)),
        ],
    )


def slack_429_storm(at: float, seconds: float) -> Fault:
    """Every Slack Web API call answers 429 with Retry-After: 1 for `seconds`."""
    return _armed(
        "slack",
        lambda: [
            (at, FaultSpec(route="*", kind="rate_limit", retry_after=1, for_seconds=seconds)),
        ],
    )


def slow_genesys(at: float, seconds: float, delay: float = 1.5) -> Fault:
    """Every Genesys call takes `delay` seconds longer for `seconds`."""
    return _armed(
        "genesys",
        lambda: [(at, FaultSpec(route="*", kind="delay", delay=delay, for_seconds=seconds))],
    )
