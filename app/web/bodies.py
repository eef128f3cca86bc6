"""Request bodies from anyone on the internet: read with a cap, parsed with a depth limit.

`/slack/events` and `/genesys/webhook` take bodies before anything is known about the sender,
so neither may read more than its cap (a declared `Content-Length` over it is refused unread,
a streamed body is cut off at it) nor hand a parser a body it cannot survive: JSON nested
deeper than any Slack or Genesys payload is refused, as are bodies that are not UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.types import Message

# Slack's and Genesys' payloads nest about ten levels (blocks in attachments in messages).
MAX_JSON_DEPTH = 64


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


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def json_object(raw: bytes | str) -> dict[str, Any] | None:
    """A JSON object no deeper than `MAX_JSON_DEPTH`, or None for anything else."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(value, dict) or not _depth_ok(value):
        return None
    return value
