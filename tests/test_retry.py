"""The one `Retry-After` parser, shared by the Slack and Genesys error trees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from app.retry import parse_retry_after


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now=now.timestamp()) == 30.0
    assert (
        parse_retry_after(
            format_datetime(now - timedelta(seconds=5), usegmt=True), now=now.timestamp()
        )
        == 0.0
    )
    assert parse_retry_after("-3") == 0.0
    for garbage in (None, "", "  ", "soon", "nan", "inf"):
        assert parse_retry_after(garbage) is None
