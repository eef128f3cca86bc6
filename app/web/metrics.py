"""`/metrics` in Prometheus text format (written by `prometheus-client`), behind a bearer token.

Web and worker run as separate processes (and dynos), so whatever must be true across all of
them is read from Postgres at scrape time: message counts per direction and status, per
tenant by ID, queue depth and the age of the oldest waiting message, retries, dead letters
and 429s. What only the web process knows, its ingest latency, is an in-process histogram.
No names, texts or other personal data appear in any label. Each app has its own registry
(never the library's global one), so several apps in one process never share a series.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.bridge.dispatch import LOCK_CLASS
from app.web.views import state_of

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class IngestMetrics:
    """This web process's view: requests in and how long the sender waited for our answer,
    observed by the ingest endpoints themselves (`app.web.front`) as they start it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "switchboard_ingest_latency_seconds",
            "Time until this web process answered a sender.",
            ["source", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], Histogram] = {}

    def observe(self, source: str, status: int, seconds: float) -> None:
        # Two sources and a handful of statuses: each series' child is looked up once.
        child = self._children.get((source, status))
        if child is None:
            child = self._children[(source, status)] = self.latency.labels(
                source=source, status=str(status)
            )
        child.observe(seconds)


class _Snapshot(Collector):
    """Families already read from Postgres; the registry's `collect` is synchronous."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self.families)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(
    name: str, documentation: str, labels: list[str], rows: Iterable[Sequence[Any]]
) -> GaugeMetricFamily:
    """One sample per row: the labels' values, then the count."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for row in rows:
        family.add_metric([str(value) for value in row[:-1]], float(row[-1]))
    return family


def _delivery_latency(samples: Iterable[Sequence[Any]]) -> HistogramMetricFamily:
    """Stored to delivered, per direction, over the last 15 minutes of deliveries."""
    family = HistogramMetricFamily(
        "switchboard_delivery_latency_seconds",
        "Stored to delivered, last 15 minutes.",
        labels=["direction"],
    )
    by_direction: dict[str, list[float]] = {}
    for direction, seconds in samples:
        by_direction.setdefault(str(direction), []).append(float(seconds))
    for direction, values in sorted(by_direction.items()):
        buckets = [(str(b), float(sum(1 for v in values if v <= b))) for b in BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        family.add_metric([direction], buckets, sum(values))
    return family


async def _database_families(session: AsyncSession) -> list[Metric]:
    by_direction = await session.execute(
        text("SELECT direction, status, count(*) FROM bridge_message GROUP BY 1, 2 ORDER BY 1, 2")
    )
    by_tenant = await session.execute(
        text(
            "SELECT tenant_id, direction, status, count(*) FROM bridge_message "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    )
    families: list[Metric] = [
        _labelled(
            "switchboard_messages",
            "Messages by direction and status (to_genesys: events in).",
            ["direction", "status"],
            by_direction,
        ),
        _labelled(
            "switchboard_tenant_messages",
            "Messages per tenant ID, direction and status.",
            ["tenant_id", "direction", "status"],
            by_tenant,
        ),
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
    # Conversations with something to deliver, and those a worker holds now (its advisory
    # lock, `app.bridge.dispatch`): waiting and not held means no worker is taking work.
    waiting, held = (
        await session.execute(
            text(
                "SELECT (SELECT count(DISTINCT conversation_id) FROM bridge_message "
                "WHERE status = 'pending' AND conversation_id IS NOT NULL), "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
            ),
            {"c": LOCK_CLASS},
        )
    ).one()
    dead = await session.execute(
        text(
            "SELECT tenant_id, count(*) FROM bridge_message WHERE status = 'dead' "
            "GROUP BY 1 ORDER BY 1"
        )
    )
    families += [
        _gauge("switchboard_queue_depth", "Messages waiting to be delivered.", pending),
        _gauge(
            "switchboard_conversations_waiting",
            "Conversations with messages waiting to be delivered.",
            int(waiting),
        ),
        _gauge(
            "switchboard_conversations_in_delivery",
            "Conversations a worker is delivering now.",
            int(held),
        ),
        _gauge(
            "switchboard_queue_oldest_age_seconds",
            "Age of the oldest undelivered message.",
            float(oldest),
        ),
        _gauge(
            "switchboard_retries",
            "Delivery attempts beyond the first, over stored messages.",
            int(retries),
        ),
        _gauge(
            "switchboard_rate_limited",
            "429s received from Slack or Genesys while delivering.",
            int(limited),
        ),
        _labelled(
            "switchboard_dead_letters",
            "Messages that could not be delivered, per tenant ID.",
            ["tenant_id"],
            dead,
        ),
    ]
    window = await session.execute(
        text(
            "SELECT direction, EXTRACT(EPOCH FROM delivered_at - created_at) FROM bridge_message "
            "WHERE status = 'delivered' AND delivered_at > now() - interval '15 minutes'"
        )
    )
    families.append(_delivery_latency(window))
    return families


async def metrics(request: Request) -> Response:
    state = state_of(request)
    expected = state.settings.metrics_token.get_secret_value()
    if not expected:
        return PlainTextResponse("metrics are off: set METRICS_TOKEN\n", status_code=404)
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return PlainTextResponse("unauthorized\n", status_code=401)
    async with state.sessions() as session:
        families = await _database_families(session)
    # A registry per scrape: the database's snapshot beside this process's own histogram.
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(families))
    scrape.register(state.ingest_metrics.registry)
    return Response(generate_latest(scrape), media_type=CONTENT_TYPE_PLAIN_0_0_4)
