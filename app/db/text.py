"""What Postgres can store: strings without NUL and without lone surrogates, at any depth.

Postgres refuses U+0000 in `text` and in JSONB strings, and a lone surrogate (which JSON's
`\\ud800` escape produces) cannot be encoded as UTF-8 at all. Either would fail the insert on
every retry and the message would be lost. So before a payload is stored, NUL is removed (it
is invisible and carries nothing in a chat message) and a lone surrogate becomes U+FFFD, the
replacement character, which shows the reader that something was there.
"""

from __future__ import annotations

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", text)


def _text_ok(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or _LONE_SURROGATE.search(text) is None)


def _already_storable(value: Any) -> bool:
    """True when no string in `value`, keys included, needs a change: nearly every payload,
    checked without building a copy."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _text_ok(item):
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not _text_ok(key):
                    return False
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return True


def storable(value: Any) -> Any:
    """`value` (parsed JSON) with every string, keys included, made storable; `value` itself
    when nothing needed a change."""
    if _already_storable(value):
        return value
    return _rebuilt(value)


def _rebuilt(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(key)): _rebuilt(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebuilt(item) for item in value]
    return value
