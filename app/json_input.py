"""JSON from anyone on the internet, parsed so that no body can hurt the parser or us.

Slack's events and Genesys' webhooks arrive before anything is known about their sender. A
body that is not UTF-8, not a JSON object, or nested deeper than any Slack or Genesys payload
is refused here (None), so no parser downstream meets it. The size cap is the web layer's
(`app.web.bodies.read_capped`), applied once, before this.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Slack's and Genesys' payloads nest about ten levels (blocks in attachments in messages).
MAX_JSON_DEPTH = 64


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
    """A JSON object no deeper than `MAX_JSON_DEPTH`, or None for anything else.

    orjson parses nearly every body, several times faster; what it refuses but the standard
    library takes (a lone surrogate escape, which `app.db.text` cleans later; `NaN`) gets a
    second chance there, so no body is refused that was accepted before. (orjson reads an
    integer beyond 64 bits as a float; no Slack or Genesys field carries one.)"""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None
    if not isinstance(value, dict):
        return None
    # Nesting is never deeper than the number of opening brackets (those inside strings only
    # over-count), and counting bytes is far cheaper than walking the parsed value.
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if text.count(b"{") + text.count(b"[") > MAX_JSON_DEPTH and not _depth_ok(value):
        return None
    return value
