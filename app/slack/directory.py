"""What Slack's directory tells us about a person or a channel, as the bridge consumes it.

These live with the Slack adapter that fills them (`SlackSender.profile`, `.channel_info`), so
the bridge reads Slack's answers through types it imports downwards, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlackProfile:
    """The customer as the agent sees them, from `users.info` (email needs `users:read.email`)."""

    first_name: str | None = None
    last_name: str | None = None
    nickname: str | None = None
    email: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class ChannelInfo:
    name: str | None
    is_shared: bool | None


@dataclass(frozen=True)
class ThreadMessage:
    """One message of a thread, from `conversations.replies`: who wrote it and its mrkdwn."""

    ts: str
    text: str
    slack_user_id: str | None = None
    bot_id: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class ThreadPage:
    """The first page of a thread before a message; `has_more` when Slack held some back."""

    messages: tuple[ThreadMessage, ...]
    has_more: bool
