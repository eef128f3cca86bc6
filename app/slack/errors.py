"""What can go wrong calling the Slack Web API, as one tree the bridge can act on:

```
SlackError                 `.error` is Slack's own error code (`channel_not_found`), or
                           `http_<status>` / the exception's name when Slack gave none
  SlackRateLimited         429 or `ratelimited`: wait `.retry_after` seconds (when Slack says)
  SlackUnavailable         5xx, Slack's own transient codes, timeouts, connection errors
  SlackAuthError           the bot token is revoked, expired or not accepted: only a
                           reinstall (or a token refresh) fixes it, retrying the call does not
  SlackRejected            every other `ok: false`: this call is wrong and will stay wrong
```

`SlackRateLimited` and `SlackUnavailable` also derive from `app.retry.RetryableError`, the base
they share with the Genesys tree. Messages carry Slack's error code only, never a token or the
text of a message.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

from app.retry import RetryableError, parse_retry_after

# `ok: false` codes where the same call can succeed later (Slack's Web API error lists).
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})
# The token itself is no good; the Web API answers these to every method.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class SlackError(Exception):
    # Set only on `SlackRateLimited`; on the base so a caller can read it on any Slack error.
    retry_after: float | None = None

    def __init__(self, error: str, *, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


class SlackRateLimited(SlackError, RetryableError):
    def __init__(self, error: str, *, retry_after: float | None, status: int | None = None) -> None:
        super().__init__(error, status=status)
        self.retry_after = retry_after


class SlackUnavailable(SlackError, RetryableError):
    pass


class SlackAuthError(SlackError):
    pass


class SlackRejected(SlackError):
    pass


def error_for_api_error(exc: SlackApiError) -> SlackError:
    """The error for an answer Slack gave: an HTTP error status or `ok: false`."""
    response = exc.response
    status = response.status_code
    error = str(response.get("error") or f"http_{status}")
    if status == 429 or error in RATE_LIMIT_ERRORS:
        headers = response.headers
        raw = headers.get("Retry-After") or headers.get("retry-after")
        return SlackRateLimited(error, retry_after=parse_retry_after(raw), status=status)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return SlackUnavailable(error, status=status)
    if error in AUTH_ERRORS:
        return SlackAuthError(error, status=status)
    return SlackRejected(error, status=status)


def error_for_exception(exc: SlackApiError | TimeoutError | aiohttp.ClientError) -> SlackError:
    """Slack's answer, or no answer at all (timeout, lost connection): worth another try."""
    if isinstance(exc, SlackApiError):
        return error_for_api_error(exc)
    return SlackUnavailable(type(exc).__name__)
