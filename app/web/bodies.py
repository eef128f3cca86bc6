"""Request bodies from anyone on the internet, read with a cap before anything else.

`/slack/events` and `/genesys/webhook` take bodies before anything is known about the sender,
so neither may read more than its cap: a declared `Content-Length` over it is refused unread,
and a streamed body is cut off at it. This is the only place a body's size is checked; what is
read is then parsed with a depth limit (`app.json_input`). Both endpoints are bare ASGI
(`app.web.front`), so the body is read from the server's `receive` directly.
"""

from __future__ import annotations

from starlette.types import Receive


class ClientGone(Exception):
    """The sender hung up before its body arrived: there is no one to answer."""


async def read_capped(receive: Receive, declared: bytes | None, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `limit` bytes. `declared` is
    the request's `Content-Length` header, if any."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
