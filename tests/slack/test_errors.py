"""Slack's answers mapped onto the error tree. The simulator produces most of them in
test_sender.py; these are the ones it does not (5xx, an HTTP-date `Retry-After`, timeouts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from app.retry import RetryableError
from app.slack.errors import (
    SlackAuthError,
    SlackError,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
    error_for_exception,
)


def api_error(status: int, data: dict[str, Any], **headers: str) -> SlackApiError:
    response = AsyncSlackResponse(
        client=AsyncWebClient(),
        http_verb="POST",
        api_url="https://slack.test/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers,
        status_code=status,
    )
    return SlackApiError("refused", response)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (429, "ratelimited", SlackRateLimited),
        (200, "rate_limited", SlackRateLimited),
        (500, "", SlackUnavailable),
        (503, "service_unavailable", SlackUnavailable),
        (200, "internal_error", SlackUnavailable),
        (200, "fatal_error", SlackUnavailable),
        (200, "request_timeout", SlackUnavailable),
        (200, "invalid_auth", SlackAuthError),
        (200, "token_revoked", SlackAuthError),
        (200, "account_inactive", SlackAuthError),
        (200, "not_authed", SlackAuthError),
        (200, "token_expired", SlackAuthError),
        (200, "channel_not_found", SlackRejected),
        (200, "missing_scope", SlackRejected),
        (200, "msg_too_long", SlackRejected),
        (404, "", SlackRejected),
    ],
)
def test_answer_picks_the_error(status: int, error: str, kind: type[SlackError]) -> None:
    data: dict[str, Any] = {"ok": False, "error": error} if error else {}
    mapped = error_for_exception(api_error(status, data))
    assert type(mapped) is kind
    assert mapped.error == (error or f"http_{status}")
    assert mapped.status == status
    retryable = kind in (SlackRateLimited, SlackUnavailable)
    assert isinstance(mapped, RetryableError) is retryable


def test_rate_limit_carries_retry_after_in_seconds_or_as_a_date() -> None:
    seconds = error_for_exception(api_error(429, {"ok": False}, **{"Retry-After": "3"}))
    assert isinstance(seconds, SlackRateLimited) and seconds.retry_after == 3.0
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    dated = error_for_exception(api_error(429, {"ok": False}, **{"retry-after": date}))
    assert isinstance(dated, SlackRateLimited) and dated.retry_after is not None
    assert 0.0 < dated.retry_after <= 20.0
    unsaid = error_for_exception(api_error(429, {"ok": False, "error": "ratelimited"}))
    assert isinstance(unsaid, SlackRateLimited) and unsaid.retry_after is None


def test_no_answer_at_all_is_worth_another_try() -> None:
    for exc in (TimeoutError(), aiohttp.ClientConnectionError("refused")):
        mapped = error_for_exception(exc)
        assert isinstance(mapped, SlackUnavailable) and isinstance(mapped, RetryableError)
        assert mapped.error == type(exc).__name__
