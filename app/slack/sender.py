"""Talking to Slack outside Bolt: posting agent replies, reactions, and looking people up.

Failures become the `SlackError` tree (`app.slack.errors`), which says whether trying again can
help: a 429 carries Slack's `Retry-After`, and the queue (not a sleep here) waits it out, so one
rate-limited channel never stalls other conversations. Lookups (`users.info`,
`conversations.info`) are cached per process; they only decorate what the agent sees, so their
failures degrade to None.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings
from app.retry import parse_retry_after
from app.slack.directory import (
    ChannelChoice,
    ChannelInfo,
    ConnectOrg,
    Named,
    SlackProfile,
    ThreadMessage,
    ThreadPage,
    external_team_ids,
)
from app.slack.errors import (
    SlackError,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
    error_for_exception,
)
from app.slack.files import SlackFileInfo
from app.slack.uploads import UploadFile

log = logging.getLogger(__name__)

LOOKUP_TTL_SECONDS = 600.0
# Sending one file's bytes to its upload URL (the other calls keep the 10 s of `_client`).
UPLOAD_TIMEOUT_SECONDS = 30.0
# conversations.list: pages of this many, and no more than this many pages (Tier 2).
CHANNEL_PAGE_SIZE = 200
MAX_CHANNEL_PAGES = 10


class SlackSender:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}

    def _client(self, token: str, team_id: str | None) -> AsyncWebClient:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return AsyncWebClient(
            token=token,
            base_url=str(self._settings.slack_api_url),
            session=self._http,
            team_id=team_id,
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1)],
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _call(self, token: str, team_id: str | None, method: str, **params: Any) -> Any:
        """Call a Web API method by its SDK name (`chat_postMessage`), mapping failures."""
        client = self._client(token, team_id)
        try:
            response = await getattr(client, method)(**params)
        except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
            raise error_for_exception(exc) from None
        return response.data

    async def post_message(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        username: str | None = None,
        icon_url: str | None = None,
    ) -> str:
        """Post and return the new message's ts. `parse`/`link_names` stay off: the text is
        already escaped, and Slack must not turn it back into mentions. `username`/`icon_url`
        need `chat:write.customize`; the caller sends them only when the install has it."""
        params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
        if username:
            params["username"] = username
        if icon_url:
            params["icon_url"] = icon_url
        data = await self._call(token, team_id, "chat_postMessage", **params)
        return str(data.get("ts"))

    async def uninstall_app(self, token: str, *, team_id: str | None) -> None:
        """Remove the app from the workspace (`apps.uninstall`, with the app's own client
        credentials): Slack revokes every token of the install, then sends
        `app_uninstalled` and `tokens_revoked`, which find nothing left to purge."""
        await self._call(
            token,
            team_id,
            "apps_uninstall",
            client_id=self._settings.slack_client_id,
            client_secret=self._settings.slack_client_secret.get_secret_value(),
        )

    async def update_message(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        """Rewrite one of the bot's own messages in place (`chat.update`); Slack answers
        `cant_update_message` for anyone else's and `message_not_found` for a deleted one.
        Without `blocks` the message keeps none (an empty list clears them)."""
        params: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        await self._call(token, team_id, "chat_update", **params)

    async def post_ephemeral(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        slack_user_id: str,
        text: str,
        thread_ts: str | None = None,
    ) -> None:
        """A message only `slack_user_id` sees (`chat.postEphemeral`, scope `chat:write`); Slack
        answers `user_not_in_channel` when that person is not in the channel."""
        params: dict[str, Any] = {"channel": channel, "user": slack_user_id, "text": text}
        if thread_ts:
            params["thread_ts"] = thread_ts
        await self._call(token, team_id, "chat_postEphemeral", **params)

    async def open_dm(self, token: str, *, team_id: str | None, slack_user_id: str) -> str:
        data = await self._call(token, team_id, "conversations_open", users=slack_user_id)
        return str(data["channel"]["id"])

    async def add_reaction(
        self, token: str, *, team_id: str | None, channel: str, ts: str, name: str
    ) -> None:
        """Best effort: a missing ✓ is cosmetic, so failures are logged and dropped, except a
        429, which the caller's pacing (`app.bridge.reactions`) must hear to back off."""
        try:
            await self._call(
                token, team_id, "reactions_add", channel=channel, timestamp=ts, name=name
            )
        except SlackRateLimited:
            raise
        except SlackError as exc:
            if exc.error != "already_reacted":
                log.info("reaction not added", extra={"slack_error": exc.error})

    async def is_guest(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> bool:
        """Whether Slack calls the person a guest (`is_restricted`: multi-channel,
        `is_ultra_restricted`: single-channel). Cached for `LOOKUP_TTL_SECONDS`; a failed
        lookup raises (`SlackError`), as an access decision must not guess."""
        key = (f"guest:{scope}", slack_user_id)
        cached = self._cached(key)
        if isinstance(cached, bool):
            return cached
        data = await self._call(token, team_id, "users_info", user=slack_user_id)
        user = data.get("user") or {}
        guest = bool(user.get("is_restricted") or user.get("is_ultra_restricted"))
        self._remember(key, guest)
        return guest

    async def usergroup_members(
        self, token: str, *, team_id: str | None, scope: str, usergroup_id: str
    ) -> frozenset[str]:
        """The user IDs in a user group (`usergroups.users.list`, `usergroups:read`), cached
        for `LOOKUP_TTL_SECONDS`; a failed lookup raises (`SlackError`)."""
        key = (f"usergroup:{scope}", usergroup_id)
        cached = self._cached(key)
        if isinstance(cached, frozenset):
            return cached
        data = await self._call(token, team_id, "usergroups_users_list", usergroup=usergroup_id)
        members = frozenset(str(u) for u in data.get("users") or [] if u)
        self._remember(key, members)
        return members

    async def _paged(
        self, token: str, team_id: str | None, method: str, key: str, **params: Any
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(50):  # at most 50 pages of 200: a picker, not an export
            data = await self._call(token, team_id, method, limit=200, cursor=cursor, **params)
            items += [i for i in data.get(key) or [] if isinstance(i, dict)]
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return items

    async def list_usergroups(self, token: str, *, team_id: str | None) -> list[Named]:
        data = await self._call(token, team_id, "usergroups_list")
        found = [
            Named(str(g["id"]), f"{g.get('name') or g['id']} (@{g.get('handle') or ''})")
            for g in data.get("usergroups") or []
            if isinstance(g, dict) and g.get("id") and not g.get("date_delete")
        ]
        return sorted(found, key=lambda n: n.name)

    async def list_admins(self, token: str, *, team_id: str | None) -> list[Named]:
        """The workspace's admins and owners (people, not bots), for the alert's recipients."""
        raw = await self._paged(token, team_id, "users_list", "members")
        found = [
            Named(str(u["id"]), str(u.get("real_name") or u.get("name") or u["id"]))
            for u in raw
            if u.get("id")
            and (u.get("is_admin") or u.get("is_owner"))
            and not u.get("is_bot")
            and not u.get("deleted")
        ]
        return sorted(found, key=lambda n: n.name)

    def _cached(self, key: tuple[str, str]) -> object | None:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _remember(self, key: tuple[str, str], value: object) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + LOOKUP_TTL_SECONDS, value)

    async def profile(
        self, token: str, *, team_id: str | None, scope: str, slack_user_id: str
    ) -> SlackProfile | None:
        key = (f"user:{scope}", slack_user_id)
        cached = self._cached(key)
        if isinstance(cached, SlackProfile):
            return cached
        try:
            data = await self._call(token, team_id, "users_info", user=slack_user_id)
        except SlackError as exc:
            log.info("users.info failed", extra={"slack_error": exc.error})
            return None
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        result = SlackProfile(
            first_name=profile.get("first_name") or None,
            last_name=profile.get("last_name") or None,
            nickname=profile.get("display_name") or profile.get("real_name") or user.get("name"),
            email=profile.get("email") or None,
            image=profile.get("image_192") or profile.get("image_72") or None,
        )
        self._remember(key, result)
        return result

    async def channel_info(
        self, token: str, *, team_id: str | None, scope: str, channel: str
    ) -> ChannelInfo:
        key = (f"channel:{scope}", channel)
        cached = self._cached(key)
        if isinstance(cached, ChannelInfo):
            return cached
        try:
            data = await self._call(token, team_id, "conversations_info", channel=channel)
        except SlackError as exc:
            log.info("conversations.info failed", extra={"slack_error": exc.error})
            return ChannelInfo(name=None, is_shared=None)
        raw = data.get("channel") or {}
        own = {t for t in (scope, team_id) if t}
        info = ChannelInfo(
            name=raw.get("name"),
            is_shared=bool(raw.get("is_ext_shared") or raw.get("is_shared")),
            connect_orgs=await self._connect_orgs(token, team_id, external_team_ids(raw, own=own)),
        )
        self._remember(key, info)
        return info

    async def _connect_orgs(
        self, token: str, team_id: str | None, ids: tuple[str, ...]
    ) -> tuple[ConnectOrg, ...]:
        return tuple([ConnectOrg(t, await self.team_name(token, team_id, t)) for t in ids])

    async def team_name(self, token: str, team_id: str | None, other: str) -> str | None:
        """An external workspace's name (`team.info`, scope `team:read`); None if Slack does
        not say (an install from before the scope, a disconnected organisation)."""
        key = ("team", other)
        cached = self._cached(key)
        if isinstance(cached, tuple):
            return cached[0] if isinstance(cached[0], str) else None
        try:
            data = await self._call(token, team_id, "team_info", team=other)
        except SlackError as exc:
            log.info("team.info failed", extra={"slack_error": exc.error})
            self._remember(key, (None,))
            return None
        name = (data.get("team") or {}).get("name")
        found = name if isinstance(name, str) and name.strip() else None
        self._remember(key, (found,))
        return found

    async def list_channels(
        self, token: str, *, team_id: str | None, scope: str, refresh: bool = False
    ) -> list[ChannelChoice]:
        """Public and private channels the app can see, by name (`conversations.list`),
        cached for `LOOKUP_TTL_SECONDS`; raises `SlackError` when Slack refuses."""
        key = ("channels", scope)
        cached = None if refresh else self._cached(key)
        if isinstance(cached, list):
            return cached
        own = {t for t in (scope, team_id) if t}
        raws: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_CHANNEL_PAGES):
            params: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": True,
                "limit": CHANNEL_PAGE_SIZE,
            }
            if cursor:
                params["cursor"] = cursor
            data = await self._call(token, team_id, "conversations_list", **params)
            raws.extend(c for c in data.get("channels") or [] if isinstance(c, dict))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        choices = [
            ChannelChoice(
                slack_channel_id=str(raw["id"]),
                name=str(raw.get("name") or raw["id"]),
                is_private=bool(raw.get("is_private")),
                connect_orgs=await self._connect_orgs(
                    token, team_id, external_team_ids(raw, own=own)
                ),
            )
            for raw in raws
            if isinstance(raw.get("id"), str)
        ]
        choices.sort(key=lambda c: c.name)
        self._remember(key, choices)
        return choices

    async def permalink(
        self, token: str, *, team_id: str | None, channel: str, ts: str
    ) -> str | None:
        key = (f"permalink:{team_id}:{channel}", ts)
        cached = self._cached(key)
        if isinstance(cached, str):
            return cached
        try:
            data = await self._call(
                token, team_id, "chat_getPermalink", channel=channel, message_ts=ts
            )
        except SlackError as exc:
            log.info("chat.getPermalink failed", extra={"slack_error": exc.error})
            return None
        link = data.get("permalink")
        if not link:
            return None
        self._remember(key, str(link))
        return str(link)

    async def _send_bytes(self, upload_url: str, content: bytes) -> None:
        """POST the raw bytes to Slack's upload URL (no token: the URL is the credential).
        Slack answers 200; anything else fails the upload like an API error would."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_SECONDS)
        try:
            async with self._http.post(upload_url, data=content, timeout=timeout) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SlackUnavailable(type(exc).__name__) from None
        if status == 429:
            raise SlackRateLimited(
                "upload_http_429", retry_after=parse_retry_after(retry_after), status=status
            )
        if status >= 500:
            raise SlackUnavailable(f"upload_http_{status}", status=status)
        if status != 200:
            raise SlackRejected(f"upload_http_{status}", status=status)

    async def upload_files(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        files: list[UploadFile],
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> str | None:
        """Share `files` in one message through the external upload flow
        (`app.slack.uploads`); returns the message's ts when Slack already names it (sharing
        is asynchronous on Slack's side, so it may not). Needs `files:write`."""
        entries: list[dict[str, str | None]] = []
        for file in files:
            reserved = await self._call(
                token,
                team_id,
                "files_getUploadURLExternal",
                filename=file.filename,
                length=len(file.content),
            )
            await self._send_bytes(str(reserved["upload_url"]), file.content)
            entries.append({"id": str(reserved["file_id"]), "title": file.title or file.filename})
        params: dict[str, Any] = {"files": entries, "channel_id": channel}
        if thread_ts:
            params["thread_ts"] = thread_ts
        if initial_comment:
            params["initial_comment"] = initial_comment
        data = await self._call(token, team_id, "files_completeUploadExternal", **params)
        return _shared_ts(data, channel)

    async def file_info(
        self, token: str, *, team_id: str | None, slack_file_id: str
    ) -> SlackFileInfo | None:
        """`files.info` (scope `files:read`); None when Slack does not know the file (or no
        longer shows it to us). Other failures raise the `SlackError` tree."""
        try:
            data = await self._call(token, team_id, "files_info", file=slack_file_id)
        except SlackError as exc:
            if exc.error in ("file_not_found", "file_deleted"):
                return None
            raise
        raw = data.get("file") or {}
        size = raw.get("size")
        hosted = raw.get("mode") in (None, "hosted", "snippet") and not raw.get("is_external")
        return SlackFileInfo(
            slack_file_id=str(raw.get("id") or slack_file_id),
            name=raw.get("name") or None,
            mimetype=raw.get("mimetype") or "application/octet-stream",
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            download_url=raw.get("url_private_download") or raw.get("url_private") or None,
            hosted=hosted,
        )

    async def thread_page(
        self,
        token: str,
        *,
        team_id: str | None,
        channel: str,
        thread_ts: str,
        before_ts: str,
        limit: int,
    ) -> ThreadPage:
        """The thread's parent and first replies written before `before_ts`, oldest first:
        one `conversations.replies` call (history reads are scarce: external-contracts §S3).
        Nothing is cached, since it holds what people wrote. Failures raise `SlackError`."""
        data = await self._call(
            token,
            team_id,
            "conversations_replies",
            channel=channel,
            ts=thread_ts,
            latest=before_ts,
            inclusive=False,
            limit=limit,
        )
        found = []
        for raw in data.get("messages") or []:
            if not isinstance(raw, dict) or not isinstance(raw.get("ts"), str):
                continue
            found.append(
                ThreadMessage(
                    ts=raw["ts"],
                    text=raw["text"] if isinstance(raw.get("text"), str) else "",
                    slack_user_id=raw.get("user") if isinstance(raw.get("user"), str) else None,
                    bot_id=raw.get("bot_id") if isinstance(raw.get("bot_id"), str) else None,
                    username=raw.get("username") if isinstance(raw.get("username"), str) else None,
                )
            )
        return ThreadPage(messages=tuple(found), has_more=bool(data.get("has_more")))


def _shared_ts(data: Any, channel: str) -> str | None:
    """The ts of the message that shared the first file in `channel`, if Slack said it."""
    shared = (data.get("files") or [{}])[0].get("shares") or {}
    for visibility in ("public", "private"):
        entries = (shared.get(visibility) or {}).get(channel) or []
        if entries and isinstance(entries[0], dict) and entries[0].get("ts"):
            return str(entries[0]["ts"])
    return None
