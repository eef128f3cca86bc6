"""Genesys' error bodies, so the bridge's error mapping is exercised against the real shapes.

API host errors use ErrorBody `{message, code, status, contextId, details, errors}`; the login
host answers OAuth errors `{error, description, error_description}`. The 401 codes
(`authentication.required`, `bad.credentials`) and the 429 code (`too.many.requests`) follow
what Genesys is commonly seen to send. The 403 code for a missing permission is UNCONFIRMED,
so it comes from `GenesysConfig.missing_permission_code` (default `missing.permissions`); the
message names the permission(s), which is the part clients should rely on.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from sandbox.faults import Outcome
from sandbox.genesys_world import new_uuid

MALFORMED = "The request could not be understood by the server due to malformed syntax."
ANY_OF_TEXT_CONTENT = (
    "should have required property 'content', should have required property '.text', "
    "should match some schema in anyOf"
)

_CODES = {
    400: ("bad.request", MALFORMED),
    401: ("bad.credentials", "Invalid login credentials."),
    403: ("missing.permissions", "You are missing the following permission(s): []"),
    404: ("not.found", "The requested resource was not found."),
    405: ("method.not.allowed", "The HTTP method is not allowed for this resource."),
    408: ("request.timeout", "The request timed out."),
    409: ("conflict", "The request could not be completed due to a conflict."),
    429: ("too.many.requests", "Rate limit exceeded the maximum allowed requests."),
    500: ("internal.server.error", "The server encountered an unexpected condition."),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: ("service.unavailable", "The service is currently unavailable."),
    504: ("gateway.timeout", "The server timed out waiting for an upstream server."),
}


class GenesysApiError(Exception):
    """Raised anywhere in a simulated API call; rendered once, at the edge, as ErrorBody."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        field_name: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        default_code, default_message = _CODES.get(status, ("error", "The request failed."))
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.field_name = field_name
        self.retry_after = retry_after
        self.context_id = new_uuid()
        super().__init__(self.code)

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.field_name:
            details.append({"errorCode": self.code, "fieldName": self.field_name})
        return {
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "contextId": self.context_id,
            "details": details,
            "errors": [],
        }

    def response(self) -> JSONResponse:
        headers = {"ININ-Correlation-Id": self.context_id}
        if self.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str = MALFORMED, *, field_name: str | None = None) -> GenesysApiError:
    return GenesysApiError(400, "bad.request", message, field_name=field_name)


def fault_error(outcome: Outcome) -> GenesysApiError | None:
    """An armed fault as Genesys would answer it.

    `FaultPlan` labels rate-limit faults `ratelimited` (Slack's word) unless told otherwise;
    Genesys says `too.many.requests`, so that default is translated here.
    """
    if outcome.status is None:
        return None
    code = outcome.error
    if outcome.status == 429 and code in (None, "ratelimited"):
        code = "too.many.requests"
    return GenesysApiError(outcome.status, code, retry_after=outcome.retry_after)


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "description": description, "error_description": description},
        status_code=status,
    )
