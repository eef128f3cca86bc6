"""When delivery tries again, and when it gives up: one vocabulary for both directions.

A send raises `Retryable` (may pass: 429, 5xx, timeouts, credentials an admin may still fix)
or `Permanent` (will not pass: dead-letter it). A retryable failure asks the queue to come
back later (`RetryLater`), after `backoff`, never sooner than the server's `Retry-After`; past
`MAX_ATTEMPTS` or `MAX_AGE` the message becomes a dead letter instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.retry import RetryableError

MAX_ATTEMPTS = 12
MAX_AGE = timedelta(minutes=30)
BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0


class RetryLater(Exception):
    """Raised out of a flush: the queue retries the conversation after `delay` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Retryable(RetryableError):
    """A send failed in a way that may pass: try the message again later (the same base as
    the Slack and Genesys trees' retryable leaves)."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        rate_limited: bool = False,
        notice: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        # Posted in the conversation should the message become a dead letter after all.
        self.notice = notice


class Permanent(Exception):
    """A send failed for good: dead-letter the message and tell the other side."""

    def __init__(
        self,
        reason: str,
        *,
        slack_error: str | None = None,
        receipt_reason: tuple[str, str] | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slack_error = slack_error
        self.receipt_reason = receipt_reason
        # A notice of ours for the Slack side of the conversation (an agent's file that
        # could not be passed on), queued with the dead letter.
        self.notice = notice


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Exponential with full jitter, floored by the server's Retry-After."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(BASE_DELAY_SECONDS / 2, ceiling)
    return max(delay, retry_after or 0.0)


def gives_up(*, attempts: int, created_at: datetime) -> bool:
    return attempts >= MAX_ATTEMPTS or created_at < datetime.now(UTC) - MAX_AGE
