"""Inbound attachments: Genesys fetches each attachment's URL, as the real service does.

Open Messaging has no upload step; an inbound attachment is a URL Genesys fetches itself.
Whether it does so at once or when the agent opens the file is UNCONFIRMED, so both are
offered (`GenesysConfig.attachment_fetch`): right after accepting the message (in the
background, so the inbound call is not slowed), or on the console's first open. Up to the
supported content profile's size limit and media types; the bytes are kept so the agent
console shows the fetched copy, not the sender's URL. Each result is recorded on the message
(`detail["fetch"]`): the HTTP status, content type, size and SHA-256, or why it was dropped.
Redirects are not followed: a signed link that redirects elsewhere is the sender's bug.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
from typing import Any

import httpx

from sandbox.genesys_world import ConversationMessage, GenesysWorld

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 30.0


def media_allowed(world: GenesysWorld, mime: str) -> bool:
    return any(fnmatch.fnmatch(mime.lower(), p.lower()) for p in world.config.inbound_media_types)


async def _fetch(world: GenesysWorld, message: ConversationMessage, url: str) -> None:
    limit = world.config.attachment_max_bytes
    result: dict[str, Any] = {"url": url, "status": 0, "mime": None, "size": 0, "sha256": None}
    body = bytearray()
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            result["status"] = response.status_code
            result["mime"] = response.headers.get("content-type", "").split(";")[0].strip()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    result["error"] = "InvalidMediaContentLength"
                    break
    except httpx.HTTPError as exc:
        result["error"] = type(exc).__name__
    result["size"] = len(body)
    if result["status"] == 200 and "error" not in result:
        if not media_allowed(world, result["mime"] or ""):
            result["error"] = "MediaTypeNotAllowed"
        else:
            result["sha256"] = hashlib.sha256(body).hexdigest()
            world.media[message.id] = (result["mime"] or "application/octet-stream", bytes(body))
    message.detail["fetch"] = result
    log.info(
        "genesys sim fetched an attachment",
        extra={"status": result["status"], "size": result["size"]},
    )


def attachment_url(message: ConversationMessage) -> str | None:
    for item in message.detail.get("content") or []:
        url = (item.get("attachment") or {}).get("url")
        if isinstance(url, str) and url:
            return url
    return None


def fetch_attachments(world: GenesysWorld, message: ConversationMessage) -> None:
    """On accepting a message (`attachment_fetch: on_accept`), start fetching its attachment;
    the result lands on the message."""
    url = attachment_url(message)
    if url is None or world.config.attachment_fetch != "on_accept":
        return
    task = asyncio.get_running_loop().create_task(_fetch(world, message, url))
    world.fetch_tasks.add(task)
    task.add_done_callback(world.fetch_tasks.discard)


async def fetch_on_open(world: GenesysWorld, message_id: str) -> tuple[str, bytes] | None:
    """The agent opens an attachment: the fetched copy, fetched now if it never was."""
    if message_id in world.media:
        return world.media[message_id]
    for conversation in world.conversations.values():
        message = conversation.find(message_id)
        if message is None or message.direction != "Inbound":
            continue
        url = attachment_url(message)
        if url is not None and "fetch" not in message.detail:
            await _fetch(world, message, url)
        return world.media.get(message_id)
    return None
