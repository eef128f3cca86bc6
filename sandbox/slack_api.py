"""The Web API edge of the simulated Slack: `/api/<method>`, as slack_sdk's clients call it.

Every call goes through the same steps real Slack shows from outside: armed faults first,
then the token (`not_authed`, `invalid_auth` for a token Slack never issued, `token_revoked`
for one revoked by an uninstall or `auth.revoke`, `token_expired`), then scopes
(`missing_scope`, naming `needed` and `provided`), then the method's rate-limit tier
(`slack_limits`: 429, `ratelimited`, `Retry-After`), then the method. API errors are HTTP 200
with `{"ok": false, "error": …}`; only throttling and injected faults change the status.
Each call is recorded, minus its secrets, for tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import TIMEOUT_HANG_SECONDS, Outcome, wait_out
from sandbox.slack_limits import (
    HISTORY_METHODS,
    NON_MARKETPLACE_HISTORY_PER_MINUTE,
    retry_after_seconds,
)
from sandbox.slack_records import RecordedCall, SlackToken
from sandbox.slack_world import SlackWorld

JsonObject = dict[str, Any]
_SECRET_PARAMS = {"token", "client_secret", "refresh_token"}
_FAULT_ERRORS = {429: "ratelimited", 503: "service_unavailable", 504: "request_timeout"}


class ApiError(Exception):
    """An `ok: false` answer. Raised by methods, turned into a response at the route."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


@dataclass
class MethodCall:
    world: SlackWorld
    request: Request
    args: dict[str, Any]
    token: SlackToken | None
    base_url: str
    slack_team_id: str | None = None
    slack_enterprise_id: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def flag(self, name: str) -> bool:
        value = self.args.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))

    def json_arg(self, name: str) -> Any:
        """Form posts carry blocks and file lists as JSON strings, JSON posts as real JSON."""
        value = self.args.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(f"invalid_{name}") from None
        return value

    @property
    def bearer(self) -> SlackToken:
        if self.token is None:
            raise ApiError("not_authed")
        return self.token

    def need_scope(self, *scopes: str) -> None:
        """Any one of `scopes` suffices, as Slack's `X-Accepted-OAuth-Scopes` lists them."""
        token = self.bearer
        if self.world.enforce_scopes and not token.scopes.intersection(scopes):
            raise ApiError(
                "missing_scope", needed=",".join(scopes), provided=",".join(sorted(token.scopes))
            )


MethodHandler = Callable[[MethodCall], JsonObject]


@dataclass(frozen=True)
class Method:
    handler: MethodHandler
    scopes: tuple[str, ...] = ()
    needs_token: bool = True


async def read_args(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return args
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            loaded = json.loads(body)
            if isinstance(loaded, dict):
                args.update(loaded)
    else:
        async with request.form() as form:
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return args


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None
    return user, password


def retry_after_header(seconds: float) -> str:
    """Slack sends whole seconds; slack_sdk's retry handler parses the header as an int."""
    return str(math.ceil(seconds))


async def sit_out(request: Request, outcome: Outcome) -> bool:
    """Apply an armed delay. A hang ends when the client gives up; False means it did."""
    if not outcome.hang:
        await wait_out(outcome)
        return True
    deadline = time.monotonic() + TIMEOUT_HANG_SECONDS
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(0.05)
    return True


def fault_response(outcome: Outcome) -> JSONResponse:
    status = outcome.status or 500
    headers = {}
    if outcome.retry_after is not None:
        headers["Retry-After"] = retry_after_header(outcome.retry_after)
    error = outcome.error or _FAULT_ERRORS.get(status, "internal_error")
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)


def _check_token(world: SlackWorld, value: str | None) -> SlackToken:
    if not value:
        raise ApiError("not_authed")
    token = world.tokens.get(value)
    if token is None:
        raise ApiError("invalid_auth")
    if token.revoked:
        raise ApiError(world.revoked_token_error(token))
    if token.expires_at is not None and token.expires_at < time.time():
        raise ApiError("token_expired")
    return token


def _within_tier(call: MethodCall, name: str) -> None:
    if not call.world.method_rate_limits or call.token is None:
        return
    workspace = call.token.slack_team_id or call.token.slack_enterprise_id or ""
    history = name in HISTORY_METHODS and not call.world.marketplace_approved
    per_minute = NON_MARKETPLACE_HISTORY_PER_MINUTE if history else None
    wait = call.world.limits.take_method(name, workspace, per_minute=per_minute)
    if wait is not None:
        raise ApiError(
            "ratelimited",
            status=429,
            headers={"Retry-After": str(retry_after_seconds(wait))},
        )


def _public_params(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in _SECRET_PARAMS}


def api_route(world: SlackWorld, methods: dict[str, Method]) -> Route:
    async def endpoint(request: Request) -> Response:
        name = request.path_params["method"]
        try:
            args = await read_args(request)
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_json"})
        token_value = bearer_token(request) or args.get("token")
        token = world.tokens.get(token_value) if isinstance(token_value, str) else None
        call = MethodCall(
            world=world,
            request=request,
            args=args,
            token=token,
            base_url=str(request.base_url).rstrip("/"),
            slack_team_id=token.slack_team_id if token else None,
            slack_enterprise_id=token.slack_enterprise_id if token else None,
        )
        method = methods.get(name)
        if method is None:
            return _answer(call, name, ApiError("unknown_method", status=404, req_method=name))
        outcome = world.faults.take(name)
        if not await sit_out(request, outcome):
            return Response(status_code=499)
        if outcome.status is not None:
            response = fault_response(outcome)
            _record(call, name, response.status_code, outcome.error or "fault")
            return response
        try:
            if method.needs_token:
                call.token = _check_token(
                    world, token_value if isinstance(token_value, str) else None
                )
                if method.scopes:
                    call.need_scope(*method.scopes)
                _within_tier(call, name)
            body = method.handler(call)
        except ApiError as error:
            return _answer(call, name, error)
        return _answer(call, name, {"ok": True, **body})

    return Route("/api/{method:str}", endpoint, methods=["GET", "POST"])


def _answer(call: MethodCall, name: str, result: JsonObject | ApiError) -> JSONResponse:
    headers = dict(call.response_headers)
    if call.token is not None:
        headers["X-OAuth-Scopes"] = ",".join(sorted(call.token.scopes))
    if isinstance(result, ApiError):
        body: JsonObject = {"ok": False, "error": result.error, **result.extra}
        status, error = result.status, result.error
        headers.update(result.headers)
    else:
        body, status, error = result, 200, None
    _record(call, name, status, error)
    return JSONResponse(body, status_code=status, headers=headers)


def _record(call: MethodCall, name: str, status: int, error: str | None) -> None:
    call.world.calls.append(
        RecordedCall(
            method=name,
            slack_team_id=call.slack_team_id,
            slack_enterprise_id=call.slack_enterprise_id,
            params=_public_params(call.args),
            status=status,
            ok=error is None,
            error=error,
        )
    )
