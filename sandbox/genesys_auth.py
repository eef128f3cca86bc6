"""The login host (`POST /oauth/token`) and the bearer-token checks of the API host.

Each region is its own deployment with its own hosts (`login.{domain}`, `api.{domain}`,
`api-downloads.{domain}`); the sim serves them as path prefixes (`/login.mypurecloud.ie/…`).
An org's clients and tokens exist only in its region, so credentials sent to another region's
login host are refused `invalid_client`, exactly like an unknown client, and a token shown to
another region's API host is `bad.credentials`. The unprefixed root is region-blind, for tests
that do not care about regions. A host name outside Genesys' region list answers 404 (live, it
would not resolve at all).

Client credentials come only in `Authorization: Basic`, as the reference shows; every grant is
counted per client because the benchmark expects the bridge to reuse tokens (grants per
message tending to zero). Faults are applied before authentication so an armed 429 or 5xx
reaches the client whatever it sends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.faults import TIMEOUT_HANG_SECONDS, Outcome
from sandbox.genesys_errors import GenesysApiError, fault_error, oauth_error
from sandbox.genesys_world import REGION_DOMAINS, GenesysWorld, OAuthClient

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0


def world_of(request: Request) -> GenesysWorld:
    return cast(GenesysWorld, request.app.state.world)


def region_of(request: Request, kind: str) -> str | None:
    """The region domain of the host this request came to, or None on the region-blind root.

    `kind` is the host the route lives on (`login`, `api` or `api-downloads`); a route asked
    for on another kind of host, or an unknown domain, is not there (404)."""
    host = request.path_params.get("region_host")
    if host is None:
        return None
    prefix, _, domain = str(host).partition(".")
    if prefix != kind or domain not in REGION_DOMAINS:
        raise GenesysApiError(404, "not.found", f"No such resource on host {host}")
    return domain


def _in_region(world: GenesysWorld, client: OAuthClient, domain: str | None) -> bool:
    org = world.orgs.get(client.org_id)
    return domain is None or (org is not None and org.domain == domain)


async def _hang(request: Request) -> None:
    """A 'timeout' fault: stay silent until the client gives up and hangs up, so a stopped
    server is not held open by a sleeping handler."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(TIMEOUT_HANG_SECONDS):
            while (await request.receive())["type"] != "http.disconnect":
                pass


async def apply_fault(request: Request, route: str) -> None:
    """Consume an armed fault for `route`: sleep, hang, or raise the error Genesys would send."""
    world = world_of(request)
    world.stats.count(world.stats.api_calls, route)
    outcome: Outcome = world.faults.take(route)
    if outcome.hang:
        await _hang(request)
        raise GenesysApiError(504)
    if outcome.delay:
        await asyncio.sleep(outcome.delay)
    error = fault_error(outcome)
    if error is not None:
        if error.status == 429:
            world.stats.rate_limited += 1
        raise error


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    return (client_id, client_secret) if sep else None


async def token_endpoint(request: Request) -> Response:
    world = world_of(request)
    try:
        domain = region_of(request, "login")
        await apply_fault(request, "oauth.token")
    except GenesysApiError as exc:
        return exc.response()
    status = world.config.bad_credentials_status
    credentials = _basic_credentials(request)
    if credentials is None:
        return oauth_error(status, "invalid_client", "client credentials are required")
    client = world.clients.get(credentials[0])
    if (
        client is None
        or client.client_secret != credentials[1]
        or not _in_region(world, client, domain)
    ):
        log.info("genesys sim token refused", extra={"genesys_client_id": credentials[0]})
        return oauth_error(status, "invalid_client", "client not found or secret mismatch")
    form = await request.form()
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant type is not supported")
    token = world.grant_token(client)
    log.info("genesys sim token granted", extra={"genesys_client_id": client.client_id})
    expires_in = max(0, round(token.expires_at - world.now()))
    return JSONResponse(
        {"access_token": token.value, "token_type": "bearer", "expires_in": expires_in},
        headers={"Cache-Control": "no-store"},
    )


def authorize(request: Request, *permissions: str, host: str = "api") -> OAuthClient:
    """The client behind the bearer token, if it holds every permission named.

    Raises 401 for a missing, unknown or expired token (or one from another region), 403
    naming the missing permission(s), and 429 when the optional per-token rate limit is exceeded.
    """
    world = world_of(request)
    domain = region_of(request, host)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise GenesysApiError(
            401,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
    token = world.tokens.get(value.strip())
    now = world.now()
    if token is None or token.expires_at <= now:
        raise GenesysApiError(401, "bad.credentials", "Invalid login credentials.")
    client = world.clients.get(token.client_id)
    if client is None or not _in_region(world, client, domain):
        raise GenesysApiError(401, "bad.credentials", "Invalid login credentials.")
    limit = world.config.rate_limit_per_minute
    if limit is not None:
        while token.calls and token.calls[0] <= now - RATE_WINDOW_SECONDS:
            token.calls.popleft()
        if len(token.calls) >= limit:
            world.stats.rate_limited += 1
            wait = token.calls[0] + RATE_WINDOW_SECONDS - now
            raise GenesysApiError(
                429,
                "too.many.requests",
                f"Rate limit exceeded the maximum. [{limit}] requests for [60] seconds",
                retry_after=max(wait, 1.0),
            )
        token.calls.append(now)
    missing = sorted(set(permissions) - client.permissions)
    if missing:
        raise GenesysApiError(
            403,
            world.config.missing_permission_code,
            f"You are missing the following permission(s): [{', '.join(missing)}]",
        )
    return client
