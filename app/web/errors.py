"""Branded error pages for people, short plain answers for machines.

Starlette's defaults are a bare "Not Found" or "Internal Server Error" in plain text. A person
who follows a stale link, or meets a fault, should still see where they are and a way back;
Slack, Genesys and scripts get a short text body they can log, never HTML. The 500 page says
nothing about the fault: the trace id in the page lets support find it in the logs, which
carry IDs only.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.web.views import page

# What Starlette itself raises: an unknown address, a wrong method, an unreadable form. Our
# own refusals (401, 403, 413, 503) are built where they happen, with their reason.
_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    404: ("Page not found", "There is nothing at this address. The link may be old or mistyped."),
    405: ("Not allowed here", "This address does not accept that kind of request."),
}


def _wants_html(request: Request) -> bool:
    """Browsers ask for text/html first; Slack, Genesys, curl and health checks do not."""
    accept = request.headers.get("accept", "")
    return request.method in ("GET", "HEAD") and "text/html" in accept


def _answer(request: Request, status: int, headers: dict[str, str] | None = None) -> Response:
    title, detail = _TITLES.get(status, ("Something went wrong", "Please try again."))
    if not _wants_html(request):
        return PlainTextResponse(f"{title}\n", status_code=status, headers=headers)
    response = page(request, "message.html", {"title": title, "detail": detail}, status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _answer(request, exc.status_code, dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """The last resort: the exception is logged by the server with its trace id."""
    title, detail = "Something went wrong", "Switchboard could not finish this request."
    reference = str(request.scope.get("trace_id") or "")
    if not _wants_html(request):
        return PlainTextResponse(f"{title}\n", status_code=500)
    if reference:
        detail = f"{detail} If it keeps happening, quote reference {reference} to support."
    return page(request, "message.html", {"title": title, "detail": detail}, status=500)
