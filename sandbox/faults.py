"""Fault injection shared by both simulators.

A test (or a person on the sandbox pages, or the benchmark) arms faults per route: "the next
3 calls to chat.postMessage answer 429 with Retry-After: 2", "every inbound message is slow
by 1.5 s for 30 s". Each simulator names its routes (Slack by method, Genesys by operation)
and renders the error body in its own service's shape; this module only decides *what* happens.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

FaultKind = Literal["status", "rate_limit", "delay", "timeout"]

# Long enough that every client we test gives up first; short enough not to leak forever.
TIMEOUT_HANG_SECONDS = 60.0


class FaultSpec(BaseModel):
    """One armed fault, as accepted by the `/_sandbox/faults` control endpoint."""

    route: str = Field(min_length=1, description="simulator route name, or '*' for every route")
    kind: FaultKind
    status: int = Field(default=500, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0, le=TIMEOUT_HANG_SECONDS)
    times: int | None = Field(default=None, ge=1, description="how many calls; None = until expiry")
    for_seconds: float | None = Field(default=None, gt=0, description="expire after this long")
    error: str | None = Field(default=None, description="service error code for the body")


@dataclass
class _Armed:
    spec: FaultSpec
    remaining: int | None
    expires_at: float | None


@dataclass
class Outcome:
    """What the simulator must do for this call: sleep `delay`, then maybe answer an error."""

    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None
    hang: bool = False


@dataclass
class FaultPlan:
    _armed: list[_Armed] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)

    def arm(self, spec: FaultSpec) -> None:
        expires = time.monotonic() + spec.for_seconds if spec.for_seconds else None
        self._armed.append(_Armed(spec=spec, remaining=spec.times, expires_at=expires))

    def clear(self) -> None:
        self._armed.clear()

    def list(self) -> list[FaultSpec]:
        self._expire()
        return [a.spec for a in self._armed]

    def _expire(self) -> None:
        now = time.monotonic()
        self._armed = [
            a
            for a in self._armed
            if (a.expires_at is None or a.expires_at > now)
            and (a.remaining is None or a.remaining > 0)
        ]

    def take(self, route: str) -> Outcome:
        """Consume at most one armed fault matching `route` (first armed wins)."""
        self._expire()
        for armed in self._armed:
            if armed.spec.route not in (route, "*"):
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
            self.hits[route] = self.hits.get(route, 0) + 1
            spec = armed.spec
            if spec.kind == "delay":
                return Outcome(delay=spec.delay)
            if spec.kind == "timeout":
                return Outcome(hang=True)
            if spec.kind == "rate_limit":
                return Outcome(
                    delay=spec.delay,
                    status=429,
                    retry_after=spec.retry_after if spec.retry_after is not None else 1.0,
                    error=spec.error or "ratelimited",
                )
            return Outcome(
                delay=spec.delay,
                status=spec.status,
                retry_after=spec.retry_after,
                error=spec.error,
            )
        return Outcome()


async def wait_out(outcome: Outcome) -> None:
    """Sleep as the outcome says; a 'timeout' hangs until the client gives up."""
    if outcome.hang:
        await asyncio.sleep(TIMEOUT_HANG_SECONDS)
    elif outcome.delay:
        await asyncio.sleep(outcome.delay)
