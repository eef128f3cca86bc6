"""What every outside service's failures share: whether trying again later can help, and when.

`app.genesys.errors` and `app.slack.errors` each keep their own tree; the leaves that are worth
retrying also derive from `RetryableError`, so the bridge can decide "retry or give up" without
knowing which service failed. `Retry-After` is read here, once, for both services.
"""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime


class RetryableError(Exception):
    """Trying the same request again later can succeed (429, 5xx, a timeout, a lost connection).

    `retry_after` is the wait the service asked for, in seconds, when it named one; callers wait
    at least that long and decide the rest themselves (backoff, attempt limits).
    """

    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3 allows both).

    None when absent or unreadable; a date in the past is 0. `now` (epoch seconds) is for tests.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
