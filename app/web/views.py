"""What every page handler shares: the lifespan state and template rendering."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

if TYPE_CHECKING:
    from app.main import AppState

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def state_of(request: Request) -> AppState:
    return request.state.app  # type: ignore[no-any-return]


def page(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    response = templates.TemplateResponse(request, template, context or {}, status_code=status)
    # Settings pages show tenant data; never let a shared cache keep them.
    response.headers["cache-control"] = "no-store"
    return response
