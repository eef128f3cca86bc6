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
class ConnectOrg:
    """An external organisation's workspace a Slack Connect channel is shared with; `name`
    from `team.info` (scope `team:read`), None when Slack did not say."""

    slack_team_id: str
    name: str | None = None


@dataclass(frozen=True)
class ChannelInfo:
    name: str | None
    is_shared: bool | None
    # Slack Connect: the other organisations, from `conversations.info`.
    connect_orgs: tuple[ConnectOrg, ...] = ()


@dataclass(frozen=True)
class Named:
    """A Slack ID with the name a person knows it by (pickers show names, not IDs)."""

    id: str
    name: str


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


@dataclass(frozen=True)
class ChannelChoice:
    """A channel the routing rules page offers, from `conversations.list`."""

    slack_channel_id: str
    name: str
    is_private: bool = False
    connect_orgs: tuple[ConnectOrg, ...] = ()


def external_team_ids(raw: dict[str, object], *, own: set[str]) -> tuple[str, ...]:
    """The external workspaces of a Slack Connect channel object: `connected_team_ids` (or,
    without it, `shared_team_ids`) minus our own workspace(s) and `internal_team_ids`."""
    if not (raw.get("is_ext_shared") or raw.get("is_shared")):
        return ()
    listed = raw.get("connected_team_ids") or raw.get("shared_team_ids") or []
    internal = raw.get("internal_team_ids") or []
    skip = own | {t for t in internal if isinstance(t, str)} if isinstance(internal, list) else own
    found: list[str] = []
    for team in listed if isinstance(listed, list) else []:
        if isinstance(team, str) and team and team not in skip and team not in found:
            found.append(team)
    return tuple(found[:10])
