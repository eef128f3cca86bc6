"""What can go wrong talking to Genesys Cloud, as one tree the bridge can act on:

```
GenesysError
  GenesysAuthError         credentials refused at the token endpoint, or 401 again after one
                           fresh token: the tenant must fix its OAuth client
  GenesysPermissionError   403: the OAuth client's role lacks `.missing_permissions`
  GenesysNotFound          404: no such integration (or another org's)
  GenesysRejected          any other 4xx: this request is wrong and will stay wrong
  GenesysRateLimited       429: wait `.retry_after` seconds (when Genesys says) and retry
  GenesysUnavailable       5xx, 408, timeouts, connection errors: safe to retry
```

The two retryable leaves also derive from `app.retry.RetryableError`, the base they share with
the Slack tree (`app.slack.errors`).

Every error carries `status`, `code` and `context_id` when Genesys gave them; `contextId` is
what Genesys support asks for. Messages hold IDs, status codes and Genesys' own error text,
never a token, a secret or the text of a message we sent.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.retry import RetryableError, parse_retry_after

# Genesys permissions are `domain:entity:action`, e.g. `conversation:message:receive`.
_PERMISSION = re.compile(r"(?<![\w:])[A-Za-z]+:[A-Za-z]+:(?:[A-Za-z]+|\*)(?![\w:])")
_MAX_GENESYS_MESSAGE = 300


class GenesysError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.context_id = context_id


class GenesysAuthError(GenesysError):
    pass


class GenesysPermissionError(GenesysError):
    def __init__(self, message: str, *, missing_permissions: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.missing_permissions = missing_permissions


class GenesysNotFound(GenesysError):
    pass


class GenesysRejected(GenesysError):
    pass


class GenesysRateLimited(GenesysError, RetryableError):
    def __init__(self, message: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GenesysUnavailable(GenesysError, RetryableError):
    pass


def _error_body(response: httpx.Response) -> dict[str, Any]:
    """Genesys' ErrorBody `{message, code, status, contextId, ...}`, or `{}` when a gateway
    answered with something else (HTML, empty)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def missing_permissions_in(body: dict[str, Any]) -> list[str]:
    """Permission names from a 403 body. Genesys names them in `message` (and sometimes in
    `messageParams`); the error code for it varies, so the names are what we rely on."""
    texts = [body.get("message"), body.get("messageWithParams")]
    params = body.get("messageParams")
    if isinstance(params, dict):
        texts.extend(params.values())
    found: list[str] = []
    for text in texts:
        if isinstance(text, str):
            found.extend(p for p in _PERMISSION.findall(text) if p not in found)
    return found


def error_for_response(
    response: httpx.Response, *, operation: str, integration_id: str | None = None
) -> GenesysError:
    """The error for a non-2xx answer from the API or login host.

    A 401 maps to `GenesysAuthError` here; the client only lets one through after it has
    already retried with a fresh token.
    """
    status = response.status_code
    body = _error_body(response)
    code = _text(body.get("code")) or _text(body.get("error"))
    context_id = _text(body.get("contextId")) or response.headers.get("ININ-Correlation-Id")
    detail = _text(body.get("message")) or _text(body.get("error_description"))
    where = f"{operation} (integration {integration_id})" if integration_id else operation
    message = f"Genesys answered {status}{f' {code}' if code else ''} to {where}"
    if detail:
        message += f": {detail[:_MAX_GENESYS_MESSAGE]}"
    if context_id:
        message += f" [contextId {context_id}]"
    common: dict[str, Any] = {"status": status, "code": code, "context_id": context_id}
    if status == 401:
        return GenesysAuthError(message, **common)
    if status == 403:
        return GenesysPermissionError(
            message, missing_permissions=missing_permissions_in(body), **common
        )
    if status == 404:
        return GenesysNotFound(message, **common)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return GenesysRateLimited(message, retry_after=retry_after, **common)
    # 408 is Genesys (or a proxy) giving up on waiting: a timeout, so retryable like one.
    if status >= 500 or status == 408:
        return GenesysUnavailable(message, **common)
    return GenesysRejected(message, **common)


def error_for_token_response(response: httpx.Response) -> GenesysError:
    """The login host refusing us: 400 (`invalid_client`, `invalid_grant`), 401 and 403 all mean
    the tenant's OAuth client cannot be used, whatever the request; 429 and 5xx stay retryable."""
    error = error_for_response(response, operation="token grant")
    if response.status_code in (400, 401, 403):
        return GenesysAuthError(
            str(error), status=error.status, code=error.code, context_id=error.context_id
        )
    return error
