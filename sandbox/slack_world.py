"""The whole simulated Slack as one in-memory object, shared by its HTTP routes and its tests.

Everything Slack would remember lives here: who is in which workspace, what was posted, which
tokens were issued and revoked. The routes only translate HTTP into calls on this object, so a
test can arrange state directly and then watch our app talk to the simulator over real HTTP.
"""

from __future__ import annotations

import secrets
import string
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.faults import FaultPlan
from sandbox.slack_limits import POST_BURST, POST_RATE_PER_CHANNEL, RateLimits
from sandbox.slack_manifest import DEFAULT_MANIFEST, declared_scopes
from sandbox.slack_records import (
    GrantFlow,
    RecordedCall,
    SlackChannel,
    SlackFile,
    SlackGrant,
    SlackInstallation,
    SlackMessage,
    SlackTeam,
    SlackToken,
    SlackUser,
    TokenKind,
)
from sandbox.slack_seed import SlackDirectory, build_directory

if TYPE_CHECKING:
    from collections import deque

    from sandbox.slack_actions import ResponseUrl
    from sandbox.slack_events import DeliveryReport

SANDBOX_CLIENT_ID = "1000000000001.2000000000002"
SANDBOX_CLIENT_SECRET = "5a9d1c0e7b3f4a6c8d2e0f1a3b5c7d9e"
# Slack's limits on a message: `text` 40,000 characters, a section block's text 3,000.
MAX_TEXT_LENGTH = 40_000
MAX_SECTION_TEXT_LENGTH = 3000
SANDBOX_SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
SANDBOX_APP_ID = "A0SANDBOXAP"
# The deprecated `token` field every event envelope still carries.
SANDBOX_VERIFICATION_TOKEN = "sandboxVerificationToken0"
SANDBOX_APP_NAME = "Switchboard"
# The Events API delivers at most this many events per workspace per app per hour.
EVENTS_PER_HOUR = 30_000

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8010"
# Slack's rotating access tokens live for 12 hours.
TOKEN_LIFETIME_SECONDS = 12 * 60 * 60
GRANT_LIFETIME_SECONDS = 10 * 60
_ID_ALPHABET = string.ascii_uppercase + string.digits
# How Slack answers an authorize request for a scope the app does not declare. Two projects
# report a refusal; whether it is an `error=invalid_scope` redirect or Slack's own error page
# is not settled, so both can be chosen (reference: api-fidelity-review W1).
UndeclaredScopeResponse = Literal["redirect", "page"]
# What a bot token answers once the app is uninstalled (UNCONFIRMED; see `_configure_defaults`).
RevokedBotTokenError = Literal["account_inactive", "token_revoked"]


# How long an upload URL from `files.getUploadURLExternal` takes bytes (Slack does not say;
# its URLs are short-lived, so the sim is strict).
UPLOAD_URL_LIFETIME_SECONDS = 600.0


class SlackWorld:
    def __init__(self, directory: SlackDirectory, *, manifest: Path = DEFAULT_MANIFEST) -> None:
        self.manifest = manifest
        # One RSA key for the world's lifetime, so relying parties may cache the JWKS.
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)
        self.events_url: str | None = None
        # The manifest sends interactivity to the events URL; None means "the same".
        self.interactivity_url: str | None = None
        self.public_url = DEFAULT_PUBLIC_URL
        self.faults = FaultPlan()
        self._configure_defaults()
        self._load(directory)

    @classmethod
    def seeded(cls, *, manifest: Path = DEFAULT_MANIFEST) -> SlackWorld:
        return cls(build_directory(), manifest=manifest)

    def reset(self) -> None:
        """Back to the seed; where our app listens (`events_url`, `public_url`) is kept."""
        self.faults = FaultPlan()
        self._configure_defaults()
        self._load(build_directory())

    def _configure_defaults(self) -> None:
        self.token_rotation = False
        self.token_lifetime_seconds: float = TOKEN_LIFETIME_SECONDS
        self.post_rate_per_channel: float | None = POST_RATE_PER_CHANNEL
        self.post_burst = POST_BURST
        # chat.postMessage's `text` limit (Slack answers msg_too_long beyond it).
        self.max_text_length = MAX_TEXT_LENGTH
        self.enforce_scopes = True
        self.retry_time_scale = 1.0
        self.declared = declared_scopes(self.manifest)
        self.undeclared_scope_response: UndeclaredScopeResponse = "redirect"
        self.events_per_hour = EVENTS_PER_HOUR
        # Slack documents `account_inactive` for a bot token of a deleted workspace and
        # `token_revoked` for a user token once the app is removed; what a bot token answers
        # after an uninstall is UNCONFIRMED, and developers report `account_inactive`.
        self.uninstalled_bot_token_error: RevokedBotTokenError = "account_inactive"
        # Per-method tiers (`slack_limits`); the benchmark turns them off to measure the app.
        self.method_rate_limits = True
        # Not approved for the Marketplace: history reads once a minute, 15 messages a call.
        self.marketplace_approved = False
        # Slack Connect channel objects: which team lists Slack fills is UNCONFIRMED
        # (external-contracts); "connected" adds `connected_team_ids` and `internal_team_ids`
        # to `shared_team_ids`, "shared_only" sends `shared_team_ids` alone.
        self.connect_team_lists: Literal["connected", "shared_only"] = "connected"

    def revoked_token_error(self, token: SlackToken) -> str:
        """The Web API's answer to a revoked token."""
        if token.uninstalled and token.kind == "bot":
            return self.uninstalled_bot_token_error
        return "token_revoked"

    def _load(self, directory: SlackDirectory) -> None:
        self.enterprises = {e.slack_enterprise_id: e for e in directory.enterprises}
        self.teams = {t.slack_team_id: t for t in directory.teams}
        self.users = {u.slack_user_id: u for u in directory.users}
        self.channels = {c.slack_channel_id: c for c in directory.channels}
        self.usergroups = {g.slack_usergroup_id: g for g in directory.usergroups}
        self.app_bots = dict(directory.app_bots)
        self.messages: dict[str, list[SlackMessage]] = {}
        self.files: dict[str, SlackFile] = {}
        # upload id -> (file id, the `length` promised, when the URL stops working)
        self.uploads: dict[str, tuple[str, int, float]] = {}
        self.tokens: dict[str, SlackToken] = {}
        self.refresh_tokens: dict[str, SlackToken] = {}
        self.grants: dict[str, SlackGrant] = {}
        self.installations: list[SlackInstallation] = []
        self.webhooks: dict[str, str] = {}
        self.calls: list[RecordedCall] = []
        self.deliveries: dict[str, DeliveryReport] = {}
        self.last_delivery: DeliveryReport | None = None
        self.response_urls: dict[str, ResponseUrl] = {}
        self.event_times: dict[str, deque[float]] = {}
        self.rate_limited_notified: dict[str, float] = {}
        self.limits = RateLimits()
        self._last_ts_us = 0

    # ---- identifiers -------------------------------------------------------------------

    def new_id(self, prefix: str, length: int = 10) -> str:
        return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))

    def new_ts(self) -> str:
        """Slack `ts` values double as message IDs, so they must be unique and increasing."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    # ---- directory -----------------------------------------------------------------------

    def team_users(self, slack_team_id: str) -> list[SlackUser]:
        return [u for u in self.users.values() if u.slack_team_id == slack_team_id]

    def team_channels(self, slack_team_id: str) -> list[SlackChannel]:
        return [
            c for c in self.channels.values() if c.slack_team_id == slack_team_id and not c.is_im
        ]

    def enterprise_teams(self, slack_enterprise_id: str) -> list[SlackTeam]:
        return [t for t in self.teams.values() if t.slack_enterprise_id == slack_enterprise_id]

    def org_home_team(self, slack_enterprise_id: str) -> str:
        """The org workspace whose bot user stands in for an org-wide install."""
        return self.enterprise_teams(slack_enterprise_id)[0].slack_team_id

    def app_bot_user(self, slack_team_id: str) -> SlackUser:
        return self.users[self.app_bots[slack_team_id]]

    def app_bot_ids(self) -> set[str]:
        return {self.users[u].slack_bot_id or "" for u in self.app_bots.values()}

    def covers(self, token: SlackToken, slack_team_id: str) -> bool:
        """Whether the token's install reaches this workspace (an org install reaches all)."""
        if token.slack_team_id == slack_team_id:
            return True
        team = self.teams.get(slack_team_id)
        return (
            token.is_enterprise_install
            and team is not None
            and team.slack_enterprise_id == token.slack_enterprise_id
        )

    def open_dm(self, slack_team_id: str, slack_user_id: str) -> SlackChannel:
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == slack_user_id:
                return channel
        channel = SlackChannel(
            slack_channel_id=self.new_id("D"),
            slack_team_id=slack_team_id,
            name="",
            is_im=True,
            im_user=slack_user_id,
            members={slack_user_id, self.app_bots[slack_team_id]},
        )
        self.channels[channel.slack_channel_id] = channel
        return channel

    # ---- messages ------------------------------------------------------------------------

    def add_message(self, message: SlackMessage) -> SlackMessage:
        self.messages.setdefault(message.slack_channel_id, []).append(message)
        return message

    def find_message(self, slack_channel_id: str, ts: str) -> SlackMessage | None:
        for message in self.messages.get(slack_channel_id, []):
            if message.ts == ts and not message.deleted:
                return message
        return None

    def channel_messages(self, slack_channel_id: str) -> list[SlackMessage]:
        return [m for m in self.messages.get(slack_channel_id, []) if not m.deleted]

    def replies(self, slack_channel_id: str, thread_ts: str) -> list[SlackMessage]:
        return [m for m in self.channel_messages(slack_channel_id) if m.thread_ts == thread_ts]

    def bot_messages(self, slack_channel_id: str | None = None) -> list[SlackMessage]:
        bot_ids = self.app_bot_ids()
        channels = [slack_channel_id] if slack_channel_id else list(self.messages)
        return [
            m for channel in channels for m in self.channel_messages(channel) if m.bot_id in bot_ids
        ]

    def take_post_slot(self, slack_channel_id: str) -> float | None:
        """Seconds until this channel may take another post, or None when it may now."""
        if not self.post_rate_per_channel:
            return None
        return self.limits.take_post(
            slack_channel_id, per_second=self.post_rate_per_channel, burst=self.post_burst
        )

    # ---- files ---------------------------------------------------------------------------

    def add_file(self, file: SlackFile) -> SlackFile:
        self.files[file.slack_file_id] = file
        return file

    def reserve_upload(self, file: SlackFile) -> str:
        upload_id = secrets.token_urlsafe(16)
        self.files[file.slack_file_id] = file
        expires_at = time.time() + UPLOAD_URL_LIFETIME_SECONDS
        self.uploads[upload_id] = (file.slack_file_id, file.size, expires_at)
        return upload_id

    def receive_upload(self, upload_id: str, content: bytes) -> SlackFile | str:
        """Store the bytes sent to an upload URL, or say why not: the URL is single-use
        (`unknown`), stops working after `UPLOAD_URL_LIFETIME_SECONDS` (`expired`), and the
        bytes must be exactly the `length` given to `files.getUploadURLExternal`
        (`length_mismatch`), as Slack's are."""
        reserved = self.uploads.pop(upload_id, None)
        if reserved is None:
            return "unknown"
        file_id, length, expires_at = reserved
        file = self.files.get(file_id)
        if file is None:
            return "unknown"
        if expires_at < time.time():
            return "expired"
        if len(content) != length:
            return "length_mismatch"
        file.content = content
        file.size = len(content)
        file.uploaded = True
        return file

    # ---- OAuth, tokens, installations ----------------------------------------------------

    def issue_grant(
        self,
        *,
        flow: GrantFlow,
        slack_user_id: str,
        slack_team_id: str | None,
        slack_enterprise_id: str | None,
        scopes: tuple[str, ...],
        user_scopes: tuple[str, ...],
        redirect_uri: str,
        nonce: str | None = None,
    ) -> SlackGrant:
        grant = SlackGrant(
            code=f"{int(time.time())}.{secrets.token_hex(16)}",
            flow=flow,
            slack_user_id=slack_user_id,
            slack_team_id=slack_team_id,
            slack_enterprise_id=slack_enterprise_id,
            is_enterprise_install=slack_team_id is None,
            scopes=scopes,
            user_scopes=user_scopes,
            redirect_uri=redirect_uri,
            expires_at=time.time() + GRANT_LIFETIME_SECONDS,
            nonce=nonce,
        )
        self.grants[grant.code] = grant
        return grant

    def usable_grant(self, code: str, flow: GrantFlow) -> SlackGrant | None:
        """Codes are single-use: once `used`, a code fails just as an unknown one does."""
        grant = self.grants.get(code)
        if grant is None or grant.flow != flow or grant.used or grant.expires_at < time.time():
            return None
        return grant

    def issue_token(
        self,
        *,
        kind: TokenKind,
        slack_user_id: str,
        scopes: frozenset[str],
        slack_team_id: str | None,
        slack_enterprise_id: str | None,
        slack_bot_id: str | None = None,
    ) -> SlackToken:
        prefix = "xoxb" if kind == "bot" else "xoxp"
        body = f"{secrets.randbelow(10**12):012d}-{secrets.randbelow(10**13):013d}-"
        value = f"{prefix}-{body}{secrets.token_hex(12)}"
        token = SlackToken(
            value=value,
            kind=kind,
            slack_user_id=slack_user_id,
            scopes=scopes,
            slack_team_id=slack_team_id,
            slack_enterprise_id=slack_enterprise_id,
            is_enterprise_install=slack_team_id is None,
            slack_bot_id=slack_bot_id,
        )
        if self.token_rotation:
            token.value = f"xoxe.{value}"
            token.expires_at = time.time() + self.token_lifetime_seconds
            token.refresh_token = f"xoxe-1-{secrets.token_hex(24)}"
            self.refresh_tokens[token.refresh_token] = token
        self.tokens[token.value] = token
        return token

    def rotate(self, refresh_token: str) -> SlackToken | None:
        """Each refresh revokes the refresh token it used, as Slack does."""
        old = self.refresh_tokens.pop(refresh_token, None)
        if old is None or old.revoked:
            return None
        return self.issue_token(
            kind=old.kind,
            slack_user_id=old.slack_user_id,
            scopes=old.scopes,
            slack_team_id=old.slack_team_id,
            slack_enterprise_id=old.slack_enterprise_id,
            slack_bot_id=old.slack_bot_id,
        )

    def install(self, grant: SlackGrant) -> SlackInstallation:
        """A reinstall issues a fresh bot token; earlier ones keep working until revoked."""
        bot_team = grant.slack_team_id or self.org_home_team(grant.slack_enterprise_id or "")
        bot_user = self.app_bot_user(bot_team)
        bot_token = None
        if grant.scopes:
            bot_token = self.issue_token(
                kind="bot",
                slack_user_id=bot_user.slack_user_id,
                scopes=frozenset(grant.scopes),
                slack_team_id=grant.slack_team_id,
                slack_enterprise_id=grant.slack_enterprise_id,
                slack_bot_id=bot_user.slack_bot_id,
            )
        user_token = None
        if grant.user_scopes:
            user_token = self.issue_token(
                kind="user",
                slack_user_id=grant.slack_user_id,
                scopes=frozenset(grant.user_scopes),
                slack_team_id=grant.slack_team_id,
                slack_enterprise_id=grant.slack_enterprise_id,
            )
        installation = SlackInstallation(
            slack_team_id=grant.slack_team_id,
            slack_enterprise_id=grant.slack_enterprise_id,
            is_enterprise_install=grant.is_enterprise_install,
            installer_user_id=grant.slack_user_id,
            bot_user_id=bot_user.slack_user_id,
            slack_bot_id=bot_user.slack_bot_id or "",
            bot_token=bot_token,
            user_token=user_token,
        )
        if "incoming-webhook" in grant.scopes:
            general = next(c for c in self.team_channels(bot_team) if c.is_general)
            installation.incoming_webhook_channel_id = general.slack_channel_id
        self.installations.append(installation)
        return installation

    def active_installation(self, slack_team_id: str) -> SlackInstallation | None:
        """The newest live install reaching this workspace: its own, else its org's."""
        team = self.teams.get(slack_team_id)
        for installation in reversed(self.installations):
            if not installation.active:
                continue
            if installation.slack_team_id == slack_team_id:
                return installation
            if (
                installation.is_enterprise_install
                and team is not None
                and installation.slack_enterprise_id == team.slack_enterprise_id
            ):
                return installation
        return None

    def revoke_tokens(
        self,
        *,
        slack_team_id: str | None,
        slack_enterprise_id: str | None,
        slack_user_ids: set[str] | None = None,
        uninstall: bool = False,
    ) -> list[SlackToken]:
        """Revoke what the install (workspace or org) issued, optionally only for some users;
        `uninstall` when the app itself is removed."""
        revoked = []
        for token in self.tokens.values():
            if token.revoked or token.slack_team_id != slack_team_id:
                continue
            if slack_team_id is None and token.slack_enterprise_id != slack_enterprise_id:
                continue
            if slack_user_ids is not None and token.slack_user_id not in slack_user_ids:
                continue
            token.revoked = True
            token.uninstalled = uninstall
            revoked.append(token)
        return revoked
