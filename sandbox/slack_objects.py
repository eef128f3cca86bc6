"""How Slack spells its objects in JSON: users, channels, messages, files, permalinks.

Shared by the Web API answers and the event payloads, so a message looks the same whether our
app reads it from `chat.postMessage`'s reply or from an event. URLs point at the simulator
(`base_url`), so avatars, files and permalinks resolve without the internet.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from sandbox.slack_records import (
    AVATAR_SIZES,
    SlackChannel,
    SlackFile,
    SlackMessage,
    SlackUser,
)
from sandbox.slack_world import SANDBOX_APP_ID, SlackWorld

JsonObject = dict[str, Any]


def avatar_url(base_url: str, slack_user_id: str, size: int) -> str:
    return f"{base_url}/avatars/{slack_user_id}/{size}.svg"


def _images(base_url: str, slack_user_id: str) -> JsonObject:
    return {f"image_{size}": avatar_url(base_url, slack_user_id, size) for size in AVATAR_SIZES}


def profile_object(world: SlackWorld, user: SlackUser, *, base_url: str, email: bool) -> JsonObject:
    profile: JsonObject = {
        "title": user.title,
        "phone": "",
        "skype": "",
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "display_name": user.display_name,
        "display_name_normalized": user.display_name,
        "fields": {},
        "status_text": "",
        "status_emoji": "",
        "status_emoji_display_info": [],
        "status_expiration": 0,
        "avatar_hash": hashlib.md5(user.slack_user_id.encode()).hexdigest()[:12],
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_custom_image": True,
        "team": user.slack_team_id,
        **_images(base_url, user.slack_user_id),
        "image_original": avatar_url(base_url, user.slack_user_id, 1024),
    }
    if email and user.email:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = user.slack_bot_id
        profile["api_app_id"] = (
            SANDBOX_APP_ID if user.slack_user_id in world.app_bots.values() else ""
        )
        profile["always_active"] = True
    return profile


def user_object(world: SlackWorld, user: SlackUser, *, base_url: str, email: bool) -> JsonObject:
    team = world.teams[user.slack_team_id]
    obj: JsonObject = {
        "id": user.slack_user_id,
        "team_id": user.slack_team_id,
        "name": user.name,
        "deleted": False,
        "color": user.color,
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": "Eastern Standard Time",
        "tz_offset": -18000,
        "profile": profile_object(world, user, base_url=base_url, email=email),
        "is_admin": user.is_admin,
        "is_owner": user.is_owner,
        "is_primary_owner": user.is_owner,
        "is_restricted": user.is_restricted or user.is_ultra_restricted,
        "is_ultra_restricted": user.is_ultra_restricted,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1_700_000_000,
        "is_email_confirmed": not user.is_bot,
        "who_can_share_contact_card": "EVERYONE",
    }
    if team.slack_enterprise_id:
        enterprise = world.enterprises[team.slack_enterprise_id]
        obj["enterprise_user"] = {
            "id": user.slack_user_id,
            "enterprise_id": enterprise.slack_enterprise_id,
            "enterprise_name": enterprise.name,
            "is_admin": user.is_admin,
            "is_owner": user.is_owner,
            "is_primary_owner": user.is_owner,
            "teams": [team.slack_team_id],
        }
    return obj


def bot_profile(world: SlackWorld, bot: SlackUser, *, base_url: str) -> JsonObject:
    return {
        "id": bot.slack_bot_id,
        "deleted": False,
        "name": bot.real_name,
        "updated": 1_700_000_000,
        "app_id": SANDBOX_APP_ID if bot.slack_user_id in world.app_bots.values() else "",
        "icons": {f"image_{s}": avatar_url(base_url, bot.slack_user_id, s) for s in (36, 48, 72)},
        "team_id": bot.slack_team_id,
    }


def channel_object(world: SlackWorld, channel: SlackChannel) -> JsonObject:
    common: JsonObject = {
        "id": channel.slack_channel_id,
        "created": channel.created,
        "is_archived": channel.is_archived,
        "is_im": channel.is_im,
        "is_mpim": False,
        "is_org_shared": False,
        "is_ext_shared": channel.is_ext_shared,
        "is_shared": channel.is_ext_shared,
        "context_team_id": channel.slack_team_id,
        "updated": channel.created * 1000,
    }
    if channel.is_im:
        return {
            **common,
            "is_channel": False,
            "is_group": False,
            "is_member": True,
            "user": channel.im_user,
            "is_user_deleted": False,
            "priority": 0,
        }
    creator = next((u for u in world.team_users(channel.slack_team_id) if u.is_owner), None)
    return {
        **common,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.is_private,
        "is_private": channel.is_private,
        "is_general": channel.is_general,
        "is_member": channel.bot_is_member,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "unlinked": 0,
        "parent_conversation": None,
        "creator": creator.slack_user_id if creator else "",
        "shared_team_ids": [channel.slack_team_id, *channel.connected_team_ids],
        "pending_connected_team_ids": [],
        "previous_names": [],
        "topic": {"value": channel.topic, "creator": "", "last_set": 0},
        "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
        "num_members": len(channel.members) + int(channel.bot_is_member),
        **(
            {
                "conversation_host_id": channel.slack_team_id,
                "connected_team_ids": [channel.slack_team_id, *channel.connected_team_ids],
                "internal_team_ids": [channel.slack_team_id],
            }
            if channel.is_ext_shared and world.connect_team_lists == "connected"
            else {}
        ),
    }


def file_urls(base_url: str, file: SlackFile) -> JsonObject:
    key = f"{file.slack_team_id}-{file.slack_file_id}"
    name = quote(file.name)
    return {
        "url_private": f"{base_url}/files-pri/{key}/{name}",
        "url_private_download": f"{base_url}/files-pri/{key}/download/{name}",
        "permalink": f"{base_url}/files/{file.user}/{file.slack_file_id}/{name}",
        "permalink_public": f"{base_url}/files-pub/{key}/{name}",
    }


def file_object(world: SlackWorld, file: SlackFile, *, base_url: str) -> JsonObject:
    urls = file_urls(base_url, file)
    obj: JsonObject = {
        "id": file.slack_file_id,
        "created": file.created,
        "timestamp": file.created,
        "name": file.name,
        "title": file.title,
        "mimetype": file.mimetype,
        "filetype": file.filetype,
        "pretty_type": file.filetype.upper(),
        "user": file.user,
        "user_team": file.slack_team_id,
        "editable": False,
        "size": file.size,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        **urls,
        "file_access": "visible",
        "has_rich_preview": False,
        "channels": [c for c in file.shares if c.startswith("C")],
        "groups": [],
        "ims": [c for c in file.shares if c.startswith("D")],
        "shares": _shares(world, file),
        "comments_count": 0,
    }
    if file.alt_txt:
        obj["alt_txt"] = file.alt_txt
    if file.mimetype.startswith("image/"):
        for size in (64, 80, 360, 480):
            obj[f"thumb_{size}"] = urls["url_private"]
    return obj


def _shares(world: SlackWorld, file: SlackFile) -> JsonObject:
    shares: JsonObject = {}
    for slack_channel_id, ts in file.shares.items():
        channel = world.channels.get(slack_channel_id)
        bucket = "public" if channel and not channel.is_private and not channel.is_im else "private"
        shares.setdefault(bucket, {})[slack_channel_id] = [
            {
                "reply_users": [],
                "reply_count": 0,
                "ts": ts,
                "channel_name": channel.name if channel else "",
            }
        ]
    return shares


def message_object(world: SlackWorld, message: SlackMessage, *, base_url: str) -> JsonObject:
    obj: JsonObject = {"type": "message", "text": message.text, "ts": message.ts}
    if message.subtype:
        obj["subtype"] = message.subtype
    if message.user:
        obj["user"] = message.user
    obj["team"] = message.slack_team_id
    if message.client_msg_id:
        obj["client_msg_id"] = message.client_msg_id
    if message.bot_id:
        obj["bot_id"] = message.bot_id
        bot = next((u for u in world.users.values() if u.slack_bot_id == message.bot_id), None)
        if bot is not None:
            if bot.slack_user_id in world.app_bots.values():
                obj["app_id"] = SANDBOX_APP_ID
            obj["bot_profile"] = bot_profile(world, bot, base_url=base_url)
    if message.username:
        obj["username"] = message.username
    if message.icon_url:
        obj["icons"] = {"image_48": message.icon_url}
    elif message.icon_emoji:
        obj["icons"] = {"emoji": message.icon_emoji}
    if message.blocks:
        obj["blocks"] = message.blocks
    if message.file_ids:
        obj["files"] = [
            file_object(world, world.files[f], base_url=base_url)
            for f in message.file_ids
            if f in world.files
        ]
        obj["upload"] = False
        obj["display_as_bot"] = False
    if message.edited:
        obj["edited"] = dict(message.edited)
    if message.is_reply:
        obj["thread_ts"] = message.thread_ts
        parent = world.find_message(message.slack_channel_id, message.thread_ts or "")
        if parent is not None and parent.user:
            obj["parent_user_id"] = parent.user
    else:
        _add_thread_summary(world, message, obj)
    if message.reactions:
        obj["reactions"] = [
            {"name": name, "users": list(users), "count": len(users)}
            for name, users in message.reactions.items()
        ]
    return obj


def _add_thread_summary(world: SlackWorld, parent: SlackMessage, obj: JsonObject) -> None:
    replies = [m for m in world.replies(parent.slack_channel_id, parent.ts) if m.is_reply]
    if not replies:
        return
    users = sorted({m.user for m in replies if m.user})
    obj["thread_ts"] = parent.ts
    obj["reply_count"] = len(replies)
    obj["reply_users_count"] = len(users)
    obj["reply_users"] = users
    obj["latest_reply"] = replies[-1].ts
    obj["is_locked"] = False


def permalink(base_url: str, message: SlackMessage) -> str:
    link = f"{base_url}/archives/{message.slack_channel_id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={message.slack_channel_id}"
    return link
