"""Pure numbers: percentiles, summaries and slopes over raw samples.

Latencies are kept as raw arrays (a run holds well under a million samples), so percentiles are
exact rather than bucketed. Percentiles use linear interpolation between closest ranks, the
definition numpy calls "linear".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 <= q <= 100) of `samples`, or None when there are none."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not samples:
        return None
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Latency summary in milliseconds; `count` is how many samples it was made from."""

    count: int
    p50: float | None
    p99: float | None
    p999: float | None
    max: float | None
    mean: float | None

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "p50_ms": _round(self.p50),
            "p99_ms": _round(self.p99),
            "p99_9_ms": _round(self.p999),
            "max_ms": _round(self.max),
            "mean_ms": _round(self.mean),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summarize(seconds: Sequence[float]) -> Summary:
    """Summarise latencies given in seconds, reported in milliseconds."""
    if not seconds:
        return Summary(0, None, None, None, None, None)
    ms = sorted(s * 1000 for s in seconds)
    return Summary(
        count=len(ms),
        p50=percentile(ms, 50),
        p99=percentile(ms, 99),
        p999=percentile(ms, 99.9),
        max=ms[-1],
        mean=sum(ms) / len(ms),
    )


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (per second for a backlog sampled over time)."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)
