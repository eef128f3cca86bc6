"""Request bodies from anyone on the internet, read with a cap before anything else.

`/slack/events` and `/genesys/webhook` take bodies before anything is known about the sender,
so neither may read more than its cap: a declared `Content-Length` over it is refused unread,
and a streamed body is cut off at it. This is the only place a body's size is checked; what is
read is then parsed with a depth limit (`app.json_input`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def replayed(request: Request, body: bytes) -> Request:
    """The same request with its body already read, for a handler that reads it again."""

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
