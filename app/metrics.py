"""`/metrics` in Prometheus text format, behind a bearer token.

Web and worker run as separate processes (and dynos), so whatever must be true across all of
them is read from Postgres at scrape time: message counts per direction and status, per
tenant by ID, queue depth and the age of the oldest waiting message, retries, dead letters
and 429s. What only the web process knows, its ingest latency, is a classic in-process
histogram. No names, texts or other personal data appear in any label.
"""

from __future__ import annotations

import bisect
import hmac
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.web.views import state_of

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Paths whose latency is the ingest latency the senders (Slack, Genesys) wait for.
INGEST_PATHS = {"/slack/events": "slack", "/genesys/webhook": "genesys"}


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for bound, count in zip(BUCKETS, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels},le="{bound}"}} {running}')
        running += self.counts[-1]
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {running}')
        out.append(f"{name}_sum{{{labels}}} {self.total:.6f}")
        out.append(f"{name}_count{{{labels}}} {running}")
        return out


@dataclass
class IngestMetrics:
    """This web process's view: requests in and how long the sender waited for our answer."""

    latency: dict[tuple[str, int], Histogram] = field(default_factory=dict)

    def observe(self, source: str, status: int, seconds: float) -> None:
        self.latency.setdefault((source, status), Histogram()).observe(seconds)


class IngestTimer:
    """ASGI middleware timing `/slack/events` and `/genesys/webhook` up to the response start."""

    def __init__(self, app: ASGIApp, metrics: IngestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = INGEST_PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if source is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status = message.get("status")
                self.metrics.observe(
                    source, status if isinstance(status, int) else 0, time.perf_counter() - started
                )
            await send(message)

        await self.app(scope, receive, timed)  # type: ignore[arg-type]


async def _database_lines(session: AsyncSession) -> list[str]:
    lines = [
        "# HELP switchboard_messages Messages by direction and status (to_genesys: events in).",
        "# TYPE switchboard_messages gauge",
    ]
    rows = await session.execute(
        text("SELECT direction, status, count(*) FROM bridge_message GROUP BY 1, 2 ORDER BY 1, 2")
    )
    lines += [f'switchboard_messages{{direction="{d}",status="{s}"}} {n}' for d, s, n in rows]
    lines += [
        "# HELP switchboard_tenant_messages Messages per tenant ID, direction and status.",
        "# TYPE switchboard_tenant_messages gauge",
    ]
    rows = await session.execute(
        text(
            "SELECT tenant_id, direction, status, count(*) FROM bridge_message "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    )
    lines += [
        f'switchboard_tenant_messages{{tenant_id="{t}",direction="{d}",status="{s}"}} {n}'
        for t, d, s, n in rows
    ]
    pending, oldest, retries, limited = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'pending'), "
                "COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) "
                "FILTER (WHERE status = 'pending')), 0), "
                "COALESCE(sum(GREATEST(attempts - 1, 0)), 0), "
                "COALESCE(sum(rate_limited), 0) FROM bridge_message"
            )
        )
    ).one()
    queued = (
        await session.execute(
            text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        )
    ).scalar_one()
    dead = await session.execute(
        text(
            "SELECT tenant_id, count(*) FROM bridge_message WHERE status = 'dead' "
            "GROUP BY 1 ORDER BY 1"
        )
    )
    lines += [
        "# HELP switchboard_queue_depth Messages waiting to be delivered.",
        "# TYPE switchboard_queue_depth gauge",
        f"switchboard_queue_depth {pending}",
        "# HELP switchboard_queue_jobs Queue jobs waiting or running.",
        "# TYPE switchboard_queue_jobs gauge",
        f"switchboard_queue_jobs {queued}",
        "# HELP switchboard_queue_oldest_age_seconds Age of the oldest undelivered message.",
        "# TYPE switchboard_queue_oldest_age_seconds gauge",
        f"switchboard_queue_oldest_age_seconds {float(oldest):.3f}",
        "# HELP switchboard_retries Delivery attempts beyond the first, over stored messages.",
        "# TYPE switchboard_retries gauge",
        f"switchboard_retries {int(retries)}",
        "# HELP switchboard_rate_limited 429s received from Slack or Genesys while delivering.",
        "# TYPE switchboard_rate_limited gauge",
        f"switchboard_rate_limited {int(limited)}",
        "# HELP switchboard_dead_letters Messages that could not be delivered, per tenant ID.",
        "# TYPE switchboard_dead_letters gauge",
    ]
    lines += [f'switchboard_dead_letters{{tenant_id="{t}"}} {n}' for t, n in dead]
    window = await session.execute(
        text(
            "SELECT direction, EXTRACT(EPOCH FROM delivered_at - created_at) FROM bridge_message "
            "WHERE status = 'delivered' AND delivered_at > now() - interval '15 minutes'"
        )
    )
    recent: dict[str, Histogram] = {}
    for direction, seconds in window:
        recent.setdefault(direction, Histogram()).observe(float(seconds))
    lines += [
        "# HELP switchboard_delivery_latency_seconds Stored to delivered, last 15 minutes.",
        "# TYPE switchboard_delivery_latency_seconds histogram",
    ]
    for direction, histogram in sorted(recent.items()):
        lines += histogram.lines("switchboard_delivery_latency_seconds", f'direction="{direction}"')
    return lines


async def metrics(request: Request) -> Response:
    state = state_of(request)
    expected = state.settings.metrics_token.get_secret_value()
    if not expected:
        return PlainTextResponse("metrics are off: set METRICS_TOKEN\n", status_code=404)
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return PlainTextResponse("unauthorized\n", status_code=401)
    async with state.sessions() as session:
        lines = await _database_lines(session)
    lines += [
        "# HELP switchboard_ingest_latency_seconds Time until this web process answered a sender.",
        "# TYPE switchboard_ingest_latency_seconds histogram",
    ]
    for (source, status), histogram in sorted(state.ingest_metrics.latency.items()):
        lines += histogram.lines(
            "switchboard_ingest_latency_seconds", f'source="{source}",status="{status}"'
        )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
