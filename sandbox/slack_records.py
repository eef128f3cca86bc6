"""The records the simulated Slack keeps: workspaces, people, channels, messages, files, tokens.

Plain dataclasses, mutated in place by `SlackWorld`. How Slack *renders* them in JSON lives in
`slack_objects`, so one record can appear in an API answer and in an event alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

TokenKind = Literal["bot", "user"]
GrantFlow = Literal["oauth", "openid"]
AVATAR_SIZES = (24, 32, 48, 72, 192, 512, 1024)


@dataclass
class SlackEnterprise:
    slack_enterprise_id: str
    name: str
    domain: str


@dataclass
class SlackTeam:
    slack_team_id: str
    name: str
    domain: str
    slack_enterprise_id: str | None = None


@dataclass
class SlackUser:
    slack_user_id: str
    slack_team_id: str
    name: str
    real_name: str
    display_name: str
    first_name: str
    last_name: str
    email: str
    title: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    slack_bot_id: str | None = None
    tz: str = "America/New_York"
    color: str = "9f69e7"
    # Guests: multi-channel (`is_restricted`) and single-channel (`is_ultra_restricted`).
    is_restricted: bool = False
    is_ultra_restricted: bool = False


@dataclass
class SlackUsergroup:
    """A user group (`@helpdesk`); `usergroups.*` methods need `usergroups:read`."""

    slack_usergroup_id: str
    slack_team_id: str
    name: str
    handle: str
    description: str = ""
    users: list[str] = field(default_factory=list)


@dataclass
class SlackChannel:
    slack_channel_id: str
    slack_team_id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    is_ext_shared: bool = False
    # Slack Connect: the other organisations' workspaces this channel is shared with.
    connected_team_ids: list[str] = field(default_factory=list)
    is_general: bool = False
    bot_is_member: bool = True
    im_user: str | None = None
    members: set[str] = field(default_factory=set)
    created: int = field(default_factory=lambda: int(time.time()))
    topic: str = ""
    purpose: str = ""


@dataclass
class SlackMessage:
    ts: str
    slack_channel_id: str
    slack_team_id: str
    text: str
    user: str | None
    bot_id: str | None = None
    thread_ts: str | None = None
    blocks: list[Any] | None = None
    subtype: str | None = None
    username: str | None = None
    icon_url: str | None = None
    icon_emoji: str | None = None
    client_msg_id: str | None = None
    file_ids: list[str] = field(default_factory=list)
    edited: dict[str, str] | None = None
    deleted: bool = False
    ephemeral_to: str | None = None
    reply_broadcast: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class SlackFile:
    slack_file_id: str
    slack_team_id: str
    user: str
    name: str
    title: str
    mimetype: str
    filetype: str
    size: int
    content: bytes = b""
    created: int = field(default_factory=lambda: int(time.time()))
    uploaded: bool = False
    shared: bool = False
    alt_txt: str | None = None
    # channel id -> ts of the message that shared the file there
    shares: dict[str, str] = field(default_factory=dict)


@dataclass
class SlackToken:
    value: str
    kind: TokenKind
    slack_user_id: str
    scopes: frozenset[str]
    slack_team_id: str | None
    slack_enterprise_id: str | None
    is_enterprise_install: bool = False
    slack_bot_id: str | None = None
    expires_at: float | None = None
    refresh_token: str | None = None
    revoked: bool = False
    # Revoked because the app was removed (not by `auth.revoke`): see `SlackWorld`'s setting.
    uninstalled: bool = False


@dataclass
class SlackGrant:
    """What a person approved on a consent page; redeemed once for tokens."""

    code: str
    flow: GrantFlow
    slack_user_id: str
    slack_team_id: str | None
    slack_enterprise_id: str | None
    is_enterprise_install: bool
    scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]
    redirect_uri: str
    expires_at: float
    nonce: str | None = None
    used: bool = False


@dataclass
class SlackInstallation:
    slack_team_id: str | None
    slack_enterprise_id: str | None
    is_enterprise_install: bool
    installer_user_id: str
    bot_user_id: str
    slack_bot_id: str
    bot_token: SlackToken | None
    user_token: SlackToken | None
    incoming_webhook_channel_id: str | None = None
    installed_at: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.bot_token is not None and not self.bot_token.revoked


@dataclass
class RecordedCall:
    """One Web API call as tests see it; secrets are dropped before it is stored."""

    method: str
    slack_team_id: str | None
    slack_enterprise_id: str | None
    params: dict[str, Any]
    status: int
    ok: bool
    error: str | None
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "team_id": self.slack_team_id,
            "enterprise_id": self.slack_enterprise_id,
            "params": self.params,
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
            "at": self.at,
        }
