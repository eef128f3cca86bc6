"""`GET /files/{tenant_id}/{slack_file_id}?expires=&sig=`: a customer's Slack file, for Genesys.

Genesys fetches each inbound attachment from the URL we give it, and Slack's own URLs need
the bot token, so the worker gives Genesys a signed, expiring link to this route
(`app.bridge.file_links`). A link that is not ours, or altered, or expired gets 403 before
anything is looked up; a file that Slack does not know (or that cannot be passed on) 404;
Slack failing 502/503. The bytes are streamed through as Slack sends them, with Slack's content
type, and never stored or cached. Logs carry IDs and reasons only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from app.bridge.customer_files import GENESYS_ATTACHMENT_MAX_BYTES, Outcome
from app.bridge.file_links import LinkCheck
from app.web.views import state_of

log = logging.getLogger(__name__)


def _refused(status: int, text: str, **extra: str) -> Response:
    log.info("file link refused", extra={"status": status, **extra})
    return PlainTextResponse(text, status_code=status, headers={"cache-control": "no-store"})


def _disposition(name: str | None) -> str:
    safe = "".join(c for c in (name or "file") if c.isalnum() or c in "._- ")[:100] or "file"
    return f'inline; filename="{safe}"'


async def serve(request: Request) -> Response:
    state = state_of(request)
    raw_tenant = request.path_params["tenant_id"]
    slack_file_id = request.path_params["slack_file_id"]
    verdict = state.file_links.check(
        tenant_id=raw_tenant,
        slack_file_id=slack_file_id,
        expires=request.query_params.get("expires"),
        signature=request.query_params.get("sig"),
    )
    if verdict == LinkCheck.EXPIRED:
        return _refused(403, "This link has expired.", reason="expired")
    if verdict != LinkCheck.VALID:
        return _refused(403, "This link is not valid.", reason="bad_signature")
    try:
        tenant_id = uuid.UUID(raw_tenant)
    except ValueError:
        return _refused(404, "No such file.", reason="bad_tenant")
    served = await state.customer_files.open(tenant_id, slack_file_id)
    ids = {"tenant_id": str(tenant_id), "slack_file_id": slack_file_id}
    if served.outcome == Outcome.NOT_FOUND:
        return _refused(404, "No such file.", reason=served.reason or "", **ids)
    if served.outcome == Outcome.UNAVAILABLE or served.download is None or served.info is None:
        reason = served.reason or ""
        status = 503 if reason.startswith("files.info") or reason == "database_unavailable" else 502
        return _refused(status, "The file cannot be fetched right now.", reason=reason)
    download, info = served.download, served.info
    headers = {
        "cache-control": "private, no-store",
        "content-disposition": _disposition(info.name),
        "x-content-type-options": "nosniff",
    }
    if download.content_length is not None:
        headers["content-length"] = str(download.content_length)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in download.chunks(GENESYS_ATTACHMENT_MAX_BYTES):
            yield chunk

    log.info("file link served", extra=ids)
    return StreamingResponse(body(), media_type=info.mimetype, headers=headers)
