"""The simulated Genesys Cloud as one ASGI app: the login host (`/oauth/token`), the API host
(`/api/v2/...`), attachment downloads, the agent console (`/`) and the control API
(`/_sandbox/...`), all on one server because the bridge only needs the two base URLs. Each
region's hosts are path prefixes (`/login.mypurecloud.ie/oauth/token`); see `genesys_auth`.

State lives in the `GenesysWorld` passed in, so a test can hold the same object the server
mutates.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
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
from sandbox.genesys_auth import authorize, region_of, token_endpoint, world_of
from sandbox.genesys_errors import GenesysApiError
from sandbox.genesys_world import GenesysWorld


async def download(request: Request) -> Response:
    """Outbound media URLs, on the region's `api-downloads` host. Whether real ones need a
    token is UNCONFIRMED, so it is a switch (on by default); with a token, only the sending
    org's clients find the file."""
    world = world_of(request)
    region_of(request, "api-downloads")
    org_id = None
    if world.config.download_requires_auth:
        org_id = authorize(request, host="api-downloads").org_id
    item = world.downloads.get(request.path_params["download_id"])
    if item is None or (org_id is not None and item.org_id not in (None, org_id)):
        raise GenesysApiError(404, "not.found", "Download not found")
    return Response(
        item.data,
        media_type=item.mime,
        headers={"Content-Disposition": f'attachment; filename="{item.filename}"'},
    )


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
            *genesys_conversations.image_routes,
            # Last, so the console and control routes win: `/{host}/…` is a region's host.
            Mount("/{region_host}", routes=genesys_routes),
        ],
        exception_handlers=exception_handlers,
    )
    app.state.world = world
    app.state.agent = Agent(world)
    return app
