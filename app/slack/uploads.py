"""A file to share in Slack through its external upload flow (`SlackSender.upload_files`).

Slack's steps (slack-platform reference §4.5): `files.getUploadURLExternal` with the filename
and the exact byte `length`, the bytes POSTed to the `upload_url` it returns (no token: the
URL is its own credential, single-use and short-lived), then one
`files.completeUploadExternal` with `files=[{id, title}]`, `channel_id` and `thread_ts`,
which shares every file in one message. It needs the `files:write` bot scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Slack's filename limit is not documented; names are kept short and free of path parts and
# control characters, which no filesystem on a customer's side should have to guess about.
FILENAME_LIMIT = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass(frozen=True)
class UploadFile:
    filename: str
    content: bytes
    title: str | None = None


def safe_filename(name: str | None, *, fallback: str = "attachment") -> str:
    cleaned = _UNSAFE.sub("_", (name or "").strip()).strip(" .")
    return cleaned[:FILENAME_LIMIT] or fallback
