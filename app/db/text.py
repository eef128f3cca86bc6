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


def storable(value: Any) -> Any:
    """`value` (parsed JSON) with every string, keys included, made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value
