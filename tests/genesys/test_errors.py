"""Mapping of Genesys answers the simulator does not produce (HTTP-date Retry-After, 408, 409,
`messageParams`); the rest is covered against the simulator in test_client.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysNotFound,
    GenesysPermissionError,
    GenesysRateLimited,
    GenesysRejected,
    GenesysUnavailable,
    error_for_response,
    error_for_token_response,
    missing_permissions_in,
)
from app.retry import RetryableError


def response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://genesys.sim/api/v2/x")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, GenesysRejected),
        (401, GenesysAuthError),
        (403, GenesysPermissionError),
        (404, GenesysNotFound),
        (408, GenesysUnavailable),
        (409, GenesysRejected),
        (413, GenesysRejected),
        (429, GenesysRateLimited),
        (500, GenesysUnavailable),
        (504, GenesysUnavailable),
    ],
)
def test_status_picks_the_error(status: int, kind: type[GenesysError]) -> None:
    error = error_for_response(
        response(status, {"code": "c", "contextId": "ctx-1"}), operation="op"
    )
    assert type(error) is kind
    assert (error.status, error.code, error.context_id) == (status, "c", "ctx-1")
    assert "ctx-1" in str(error)


def test_context_id_falls_back_to_the_correlation_header() -> None:
    error = error_for_response(response(502, **{"ININ-Correlation-Id": "corr-9"}), operation="op")
    assert isinstance(error, GenesysUnavailable)
    assert (error.code, error.context_id) == (None, "corr-9")


def test_html_error_page_still_maps() -> None:
    page = httpx.Response(503, text="<html>down</html>", request=httpx.Request("GET", "http://x"))
    error = error_for_response(page, operation="op", integration_id="i-1")
    assert isinstance(error, GenesysUnavailable)
    assert "i-1" in str(error) and "<html>" not in str(error)


def test_token_endpoint_refusals_are_auth_errors() -> None:
    for status in (400, 401, 403):
        body = {"error": "invalid_client", "error_description": "client not found"}
        error = error_for_token_response(response(status, body))
        assert isinstance(error, GenesysAuthError)
        assert error.code == "invalid_client"
    assert isinstance(error_for_token_response(response(503)), GenesysUnavailable)


def test_permissions_from_message_params() -> None:
    body = {
        "message": "Unable to perform the requested action.",
        "messageParams": {"permissions": "[messaging:integration:view, messaging:integration:*]"},
    }
    assert missing_permissions_in(body) == ["messaging:integration:view", "messaging:integration:*"]
    assert missing_permissions_in({"message": "Forbidden at https://x/y"}) == []


def test_rate_limit_reads_retry_after_as_a_date_too() -> None:
    """The parser itself is tested in tests/test_retry.py; here, that a 429 uses it."""
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    limited = error_for_response(response(429, {}, **{"Retry-After": date}), operation="op")
    assert isinstance(limited, GenesysRateLimited) and limited.retry_after is not None
    assert 0.0 < limited.retry_after <= 30.0


def test_retryable_leaves_share_the_base_with_slack() -> None:
    for status, retryable in ((429, True), (503, True), (408, True), (400, False), (401, False)):
        error = error_for_response(response(status, {}), operation="op")
        assert isinstance(error, RetryableError) is retryable, status
