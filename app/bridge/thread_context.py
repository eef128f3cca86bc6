"""What an agent is told of a Slack thread that existed before the app was asked in it.

Pure: no network, no database. When a conversation starts from a mention inside an existing
thread, the earlier messages (the thread's parent and first replies, at most
`CONTEXT_MESSAGES`, as one `conversations.replies` page reads them) become ONE message sent
to Genesys before the mention, each line headed with its author's display name. The result is
Slack mrkdwn, which `inbound.to_open_message` turns into text with the same names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from app.slack.directory import ThreadMessage

# The most earlier messages passed on: one page of `conversations.replies` for an app not
# approved for the Slack Marketplace (external-contracts §S3).
CONTEXT_MESSAGES = 15
CONTEXT_HEADER = "Earlier in this Slack thread:"
MORE_NOTE = "(Later messages of the thread are not included.)"
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,40})(?:\|[^>]*)?>")


def mentioned_user_ids(texts: Iterable[str]) -> list[str]:
    """The people `<@U…>` mentions name, first mention first, each once."""
    found: list[str] = []
    for text in texts:
        for match in _MENTION.finditer(text):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def _escaped(name: str) -> str:
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def authors(messages: Sequence[ThreadMessage]) -> list[str]:
    """Whose names the context needs: the writers and the people they mention."""
    ids = [m.slack_user_id for m in messages if m.slack_user_id and not m.bot_id]
    return list(dict.fromkeys([*ids, *mentioned_user_ids(m.text for m in messages)]))


def context_mrkdwn(
    messages: Sequence[ThreadMessage],
    *,
    names: Mapping[str, str],
    own_bot_id: str | None,
    has_more: bool,
) -> str | None:
    """One line per earlier message, `Name: words`; None when nothing is worth passing on.
    The app's own posts are left out (the agent's side wrote them)."""
    lines = []
    for message in messages[:CONTEXT_MESSAGES]:
        if own_bot_id is not None and message.bot_id == own_bot_id:
            continue
        words = message.text.strip()
        if not words:
            continue
        if message.bot_id:
            author = message.username or "A bot"
        else:
            author = names.get(message.slack_user_id or "") or message.slack_user_id or "Someone"
        lines.append(f"{_escaped(author)}: {words}")
    if not lines:
        return None
    if has_more or len(messages) > CONTEXT_MESSAGES:
        lines.append(MORE_NOTE)
    return "\n".join([CONTEXT_HEADER, *lines])
