"""Percentiles, summaries and slopes of bench.stats."""

from __future__ import annotations

import pytest

from bench.stats import percentile, slope, summarize


def test_percentile_interpolates_between_closest_ranks() -> None:
    samples = [1.0, 2.0, 3.0, 4.0]
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 4.0
    assert percentile(samples, 50) == 2.5
    assert percentile(samples, 99) == pytest.approx(3.97)


def test_percentile_of_nothing_is_none_and_q_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_percentile_ignores_input_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_summary_is_in_milliseconds_and_tail_heavy_samples_show_in_p999() -> None:
    seconds = [0.001] * 999 + [2.0]
    summary = summarize(seconds)
    assert summary.count == 1000
    assert summary.p50 == pytest.approx(1.0)
    assert summary.p99 == pytest.approx(1.0)
    assert summary.p999 is not None and summary.p999 > 1.0
    assert summary.max == pytest.approx(2000.0)
    assert summarize([]).as_json()["p99_ms"] is None


def test_slope_of_a_growing_backlog() -> None:
    assert slope([(0, 0), (1, 10), (2, 20)]) == pytest.approx(10.0)
    assert slope([(0, 5), (1, 5), (2, 5)]) == pytest.approx(0.0)
    assert slope([(1, 5)]) is None
