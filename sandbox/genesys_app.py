"""The simulated Genesys Cloud as one ASGI app: the login host (`/oauth/token`), the API host
(`/api/v2/...`), attachment downloads, the agent console (`/`) and the control API
(`/_sandbox/...`), all on one server because the bridge only needs the two base URLs. Each
region's hosts are path prefixes (`/login.mypurecloud.ie/oauth/token`); see `genesys_auth`.

State lives in the `GenesysWorld` passed in, so a test can hold the same object the server
mutates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ExceptionHandler

from sandbox import (
    genesys_authorization,
    genesys_control,
    genesys_conversations,
    genesys_inbound,
    genesys_integrations,
    genesys_pages,
    genesys_routing,
)
from sandbox.genesys_agent import Agent
from sandbox.genesys_auth import apply_fault, authorize, region_of, token_endpoint, world_of
from sandbox.genesys_errors import GenesysApiError
from sandbox.genesys_world import GenesysWorld

# How long a signed storage URL works (real ones are short-lived; the lifetime is not stated).
STORAGE_URL_LIFETIME_SECONDS = 300
# Signs storage URLs; per process, as a storage URL never outlives its redirect by much.
_STORAGE_KEY = secrets.token_bytes(32)


async def download(request: Request) -> Response:
    """Outbound media URLs, on the region's `api-downloads` host. Like the SDK's DownloadsApi
    (`GET /api/v2/downloads/{id}` "issues a redirect to a signed secure download URL"), the
    answer is a 302 to short-lived storage on another host. Whether the media URL needs a
    token is UNCONFIRMED, so it is a switch (on by default); with a token, only the sending
    org's clients find the file."""
    world = world_of(request)
    domain = region_of(request, "api-downloads")
    await apply_fault(request, "downloads.get")
    org_id = None
    if world.config.download_requires_auth:
        try:
            org_id = authorize(request, host="api-downloads").org_id
        except GenesysApiError as exc:
            # `redirectToAuth` defaults to true: a browser without a session is sent to sign in.
            if exc.status != 401 or request.query_params.get("redirectToAuth") == "false":
                raise
            origin = f"{request.url.scheme}://{request.url.netloc}"
            login = f"/login.{domain}" if domain else ""
            return Response(status_code=302, headers={"Location": f"{origin}{login}/authorize"})
    item = world.downloads.get(request.path_params["download_id"])
    if item is None or (org_id is not None and item.org_id not in (None, org_id)):
        raise GenesysApiError(404, "not.found", "Download not found")
    expires = int(world.now()) + STORAGE_URL_LIFETIME_SECONDS
    signature = _storage_signature(item.id, expires)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    storage = f"{origin}/storage.{domain or 'sandbox'}/downloads/{item.id}"
    location = f"{storage}?{urlencode({'expires': expires, 'signature': signature})}"
    return Response(status_code=302, headers={"Location": location})


def _storage_signature(download_id: str, expires: int) -> str:
    message = f"{download_id}:{expires}".encode()
    return hmac.new(_STORAGE_KEY, message, hashlib.sha256).hexdigest()


async def storage(request: Request) -> Response:
    """The signed storage URL a download redirects to (a presigned object-store URL): the
    signature is the only credential. Like S3, a request that also carries an
    `Authorization` header is refused (400), so a client that forwards its Genesys token
    across the redirect fails here; an expired or altered signature gets 403."""
    world = world_of(request)
    world.stats.count(world.stats.api_calls, "storage.get")
    if request.headers.get("authorization"):
        return PlainTextResponse(
            "InvalidArgument: Only one auth mechanism allowed", status_code=400
        )
    download_id = request.path_params["download_id"]
    expires_raw = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if not expires_raw.isdigit() or not hmac.compare_digest(
        signature, _storage_signature(download_id, int(expires_raw))
    ):
        return PlainTextResponse("SignatureDoesNotMatch", status_code=403)
    if int(expires_raw) < world.now():
        return PlainTextResponse("Request has expired", status_code=403)
    item = world.downloads.get(download_id)
    if item is None:
        return PlainTextResponse("NoSuchKey", status_code=404)
    return Response(
        item.data,
        media_type=item.mime,
        headers={"Content-Disposition": f'attachment; filename="{item.filename}"'},
    )


async def sign_in_page(request: Request) -> Response:
    """Where `redirectToAuth` sends a download without a usable token: Genesys' sign-in page,
    an HTML 200 (a client that follows redirects blindly gets this instead of the file)."""
    region_of(request, "login")
    return HTMLResponse("<!doctype html><title>Genesys Cloud</title><h1>Sign in</h1>")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GenesysApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Genesys' ErrorBody too, as the real API does."""
    assert isinstance(exc, HTTPException)
    return GenesysApiError(exc.status_code).response()


def create_genesys_sandbox(world: GenesysWorld) -> Starlette:
    exception_handlers: dict[type[Exception] | int, ExceptionHandler] = {
        GenesysApiError: _api_error,
        HTTPException: _http_error,
        genesys_control.BadInput: genesys_control.bad_input,
    }
    genesys_routes: list[BaseRoute] = [
        Route("/oauth/token", token_endpoint, methods=["POST"]),
        Route("/authorize", sign_in_page, methods=["GET"]),
        *genesys_inbound.routes,
        *genesys_integrations.routes,
        *genesys_routing.routes,
        *genesys_authorization.routes,
        *genesys_conversations.routes,
        Route("/api/v2/downloads/{download_id}", download, methods=["GET"]),
    ]
    app = Starlette(
        routes=[
            *genesys_routes,
            *genesys_control.routes,
            *genesys_pages.routes,
            # Storage is its own host in real Genesys (not a region's API host).
            Route("/storage.{domain}/downloads/{download_id}", storage, methods=["GET"]),
            *genesys_conversations.image_routes,
            # Last, so the console and control routes win: `/{host}/…` is a region's host.
            Mount("/{region_host}", routes=genesys_routes),
        ],
        exception_handlers=exception_handlers,
    )
    app.state.world = world
    app.state.agent = Agent(world)
    return app
