"""The messaging side of the Web API: auth, chat, users, conversations, reactions.

Each method checks what Slack checks, in Slack's words (`channel_not_found`, `not_in_channel`,
`is_archived`, `already_reacted`, …), and the per-channel posting limit answers HTTP 429 with
`Retry-After`, so our app's retry handling meets the same shapes it meets in production.
"""

from __future__ import annotations

import base64
import re
import secrets

from sandbox.slack_api import ApiError, JsonObject, Method, MethodCall
from sandbox.slack_limits import NON_MARKETPLACE_HISTORY_LIMIT, retry_after_seconds
from sandbox.slack_objects import (
    channel_object,
    message_object,
    permalink,
    user_object,
)
from sandbox.slack_records import SlackChannel, SlackMessage, SlackUser, SlackUsergroup
from sandbox.slack_world import MAX_SECTION_TEXT_LENGTH

MAX_BLOCKS = 50
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
_REACTION_NAME = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


def resolve_channel(call: MethodCall, value: str | None) -> SlackChannel:
    """Channel IDs, `#names` and user IDs (meaning the DM with that user) all work, as in Slack."""
    world, token = call.world, call.bearer
    if not value:
        raise ApiError("channel_not_found")
    if value[0] in "UW" and value in world.users:
        user = world.users[value]
        if not world.covers(token, user.slack_team_id) or user.is_bot:
            raise ApiError("channel_not_found")
        return world.open_dm(user.slack_team_id, user.slack_user_id)
    if value.startswith("#"):
        found = [
            c
            for c in world.channels.values()
            if c.name == value[1:] and world.covers(token, c.slack_team_id)
        ]
        if not found:
            raise ApiError("channel_not_found")
        return found[0]
    channel = world.channels.get(value)
    if channel is None or not world.covers(token, channel.slack_team_id):
        raise ApiError("channel_not_found")
    return channel


def _is_member(call: MethodCall, channel: SlackChannel) -> bool:
    token = call.bearer
    if channel.is_im:
        return token.kind == "bot" or channel.im_user == token.slack_user_id
    if token.kind == "bot":
        return channel.bot_is_member
    return token.slack_user_id in channel.members


def _writable_channel(call: MethodCall) -> SlackChannel:
    channel = resolve_channel(call, call.arg("channel"))
    if channel.is_archived:
        raise ApiError("is_archived")
    if not _is_member(call, channel):
        raise ApiError("not_in_channel")
    return channel


def _visible_user(call: MethodCall, slack_user_id: str | None) -> SlackUser:
    user = call.world.users.get(slack_user_id or "")
    if user is None or not call.world.covers(call.bearer, user.slack_team_id):
        raise ApiError("user_not_found")
    return user


def _message_content(call: MethodCall) -> tuple[str, list[object] | None]:
    text = call.arg("text") or call.arg("markdown_text") or ""
    blocks = call.json_arg("blocks")
    attachments = call.json_arg("attachments")
    if blocks is not None and not isinstance(blocks, list):
        raise ApiError("invalid_blocks")
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    if len(text) > call.world.max_text_length:
        raise ApiError("msg_too_long")
    if blocks:
        _check_blocks(blocks)
        blocks = [_with_block_id(block) for block in blocks]
    return text, blocks or None


def _check_blocks(blocks: list[object]) -> None:
    """What Slack refuses with `invalid_blocks`: too many blocks or elements, an unknown
    block type, a section text over 3,000 characters, a button label over 75."""
    if len(blocks) > MAX_BLOCKS:
        raise ApiError("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            raise ApiError("invalid_blocks")
        section = block.get("text")
        words = section.get("text") if isinstance(section, dict) else None
        if isinstance(words, str) and len(words) > MAX_SECTION_TEXT_LENGTH:
            raise ApiError("invalid_blocks")
        elements = block.get("elements") if block.get("type") == "actions" else None
        if elements is not None and (not isinstance(elements, list) or len(elements) > 25):
            raise ApiError("invalid_blocks")
        for element in elements or []:
            label = element.get("text") if isinstance(element, dict) else None
            if isinstance(label, dict) and len(str(label.get("text", ""))) > 75:
                raise ApiError("invalid_blocks")
            if isinstance(element, dict):
                _check_element(element)
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(block_ids) != len(set(block_ids)) or any(
        not isinstance(b, str) or len(b) > 255 for b in block_ids
    ):
        raise ApiError("invalid_blocks")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plain(obj: object, limit: int) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("type") == "plain_text"
        and isinstance(obj.get("text"), str)
        and 0 < len(obj["text"]) <= limit
    )


def _check_element(element: JsonObject) -> None:
    """Block Kit's element rules: an `action_id` of up to 255 characters; a button `value` up
    to 2,000; a static select with 1 to 100 options, each a plain_text label of up to 75 and a
    value of up to 150; a date picker's `initial_date` as YYYY-MM-DD."""
    kind = element.get("type")
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        raise ApiError("invalid_blocks")
    if kind == "button" and len(str(element.get("value", ""))) > 2000:
        raise ApiError("invalid_blocks")
    placeholder = element.get("placeholder")
    if kind in ("static_select", "datepicker") and placeholder and not _plain(placeholder, 150):
        raise ApiError("invalid_blocks")
    if kind == "static_select":
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= 100:
            raise ApiError("invalid_blocks")
        for option in options:
            value = option.get("value") if isinstance(option, dict) else None
            if not _plain(option.get("text") if isinstance(option, dict) else None, 75):
                raise ApiError("invalid_blocks")
            if not isinstance(value, str) or not 0 < len(value) <= 150:
                raise ApiError("invalid_blocks")
    if kind == "datepicker" and "initial_date" in element:
        initial = element["initial_date"]
        if not isinstance(initial, str) or not _DATE.fullmatch(initial):
            raise ApiError("invalid_blocks")


def _with_block_id(block: object) -> object:
    """Slack gives each block without a `block_id` one of its own, and echoes it back."""
    if not isinstance(block, dict) or block.get("block_id"):
        return block
    return {**block, "block_id": secrets.token_urlsafe(4)}


def api_test(call: MethodCall) -> JsonObject:
    """Slack's connectivity check: no token, and the arguments echoed back."""
    return {"args": dict(call.args)} if call.args else {}


def auth_test(call: MethodCall) -> JsonObject:
    world, token = call.world, call.bearer
    user = world.users[token.slack_user_id]
    team = world.teams.get(token.slack_team_id or "")
    enterprise = world.enterprises.get(token.slack_enterprise_id or "")
    if team is not None:
        url = f"https://{team.domain}.slack.com/"
    else:
        url = f"https://{enterprise.domain if enterprise else 'unknown'}.enterprise.slack.com/"
    body: JsonObject = {
        "url": url,
        "team": team.name if team else (enterprise.name if enterprise else ""),
        "user": user.name,
        "user_id": user.slack_user_id,
        "is_enterprise_install": token.is_enterprise_install,
    }
    if team is not None:
        body["team_id"] = team.slack_team_id
    if enterprise is not None:
        body["enterprise_id"] = enterprise.slack_enterprise_id
    if token.kind == "bot":
        body["bot_id"] = token.slack_bot_id
    return body


def auth_revoke(call: MethodCall) -> JsonObject:
    if call.flag("test"):
        return {"revoked": False}
    call.bearer.revoked = True
    return {"revoked": True}


def chat_post_message(call: MethodCall) -> JsonObject:
    world, token = call.world, call.bearer
    channel = _writable_channel(call)
    text, blocks = _message_content(call)
    wait = world.take_post_slot(channel.slack_channel_id)
    if wait is not None:
        headers = {"Retry-After": str(retry_after_seconds(wait))}
        raise ApiError("ratelimited", status=429, headers=headers)
    thread_ts = call.arg("thread_ts")
    parent = world.find_message(channel.slack_channel_id, thread_ts) if thread_ts else None
    if parent is not None and parent.is_reply:
        thread_ts = parent.thread_ts
    # Slack ignores a custom identity unless the app holds chat:write.customize.
    customize = "chat:write.customize" in token.scopes
    message = world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=channel.slack_channel_id,
            slack_team_id=channel.slack_team_id,
            text=text,
            user=token.slack_user_id,
            bot_id=token.slack_bot_id,
            thread_ts=thread_ts,
            blocks=blocks,
            username=call.arg("username") if customize else None,
            icon_url=call.arg("icon_url") if customize else None,
            icon_emoji=call.arg("icon_emoji") if customize else None,
            reply_broadcast=call.flag("reply_broadcast"),
        )
    )
    return {
        "channel": channel.slack_channel_id,
        "ts": message.ts,
        "message": message_object(world, message, base_url=call.base_url),
    }


def chat_update(call: MethodCall) -> JsonObject:
    world, token = call.world, call.bearer
    channel = resolve_channel(call, call.arg("channel"))
    if channel.is_archived:
        raise ApiError("is_archived")
    message = world.find_message(channel.slack_channel_id, call.arg("ts") or "")
    if message is None:
        raise ApiError("message_not_found")
    if message.user != token.slack_user_id:
        raise ApiError("cant_update_message")
    text, blocks = _message_content(call)
    message.text = text
    message.blocks = blocks
    message.edited = {"user": token.slack_user_id, "ts": world.new_ts()}
    return {
        "channel": channel.slack_channel_id,
        "ts": message.ts,
        "text": message.text,
        "message": message_object(world, message, base_url=call.base_url),
    }


def chat_post_ephemeral(call: MethodCall) -> JsonObject:
    world, token = call.world, call.bearer
    channel = _writable_channel(call)
    user = _visible_user(call, call.arg("user"))
    if user.slack_user_id not in channel.members and channel.im_user != user.slack_user_id:
        raise ApiError("user_not_in_channel")
    text, blocks = _message_content(call)
    message = world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=channel.slack_channel_id,
            slack_team_id=channel.slack_team_id,
            text=text,
            user=token.slack_user_id,
            bot_id=token.slack_bot_id,
            thread_ts=call.arg("thread_ts"),
            blocks=blocks,
            ephemeral_to=user.slack_user_id,
        )
    )
    return {"message_ts": message.ts}


def chat_get_permalink(call: MethodCall) -> JsonObject:
    channel = resolve_channel(call, call.arg("channel"))
    message = call.world.find_message(channel.slack_channel_id, call.arg("message_ts") or "")
    if message is None:
        raise ApiError("message_not_found")
    return {"channel": channel.slack_channel_id, "permalink": permalink(call.base_url, message)}


def users_info(call: MethodCall) -> JsonObject:
    user = _visible_user(call, call.arg("user"))
    email = "users:read.email" in call.bearer.scopes
    obj = user_object(call.world, user, base_url=call.base_url, email=email)
    if call.flag("include_locale"):
        obj["locale"] = "en-US"
    return {"user": obj}


# Slack pages `users.list` and may return fewer members than `limit` asks for; it recommends
# no more than 200 a page. The simulator never returns more than this, so a caller that does
# not follow `next_cursor` misses people.
USERS_LIST_PAGE_CAP = 200


def users_list(call: MethodCall) -> JsonObject:
    raw_limit = call.arg("limit") or "0"
    if not raw_limit.isdigit():
        raise ApiError("invalid_limit")
    limit = int(raw_limit)
    page = min(limit, USERS_LIST_PAGE_CAP) if limit > 0 else USERS_LIST_PAGE_CAP
    cursor = call.arg("cursor") or ""
    if cursor:
        if not cursor.startswith("dXNlcjo") or not cursor[7:].isdigit():
            raise ApiError("invalid_cursor")
        start = int(cursor[7:])
    else:
        start = 0
    email = "users:read.email" in call.bearer.scopes
    visible = sorted(
        (u for u in call.world.users.values() if call.world.covers(call.bearer, u.slack_team_id)),
        key=lambda u: u.slack_user_id,
    )
    chosen = visible[start : start + page]
    more = start + page < len(visible)
    return {
        "members": [
            user_object(call.world, u, base_url=call.base_url, email=email) for u in chosen
        ],
        "cache_ts": 1_700_000_000,
        "response_metadata": {"next_cursor": f"dXNlcjo{start + page}" if more else ""},
    }


def conversations_info(call: MethodCall) -> JsonObject:
    channel = resolve_channel(call, call.arg("channel"))
    if channel.is_im:
        call.need_scope("im:read")
    elif channel.is_private:
        call.need_scope("groups:read")
        if not _is_member(call, channel):
            raise ApiError("channel_not_found")
    else:
        call.need_scope("channels:read")
    obj = channel_object(call.world, channel)
    if not call.flag("include_num_members"):
        obj.pop("num_members", None)
    return {"channel": obj}


# `conversations.replies` pages as Slack does: `limit` (default and most 1000, or 15 for an
# app not approved for the Marketplace, `slack_limits`), an opaque `cursor`, `has_more` and
# `response_metadata.next_cursor`.
REPLIES_LIMIT = 1000


def _history_scope(call: MethodCall, channel: SlackChannel) -> None:
    """Reading messages needs the history scope of the channel's kind, as in Slack."""
    if channel.is_im:
        call.need_scope("im:history")
    elif channel.is_private:
        call.need_scope("groups:history")
        if not _is_member(call, channel):
            raise ApiError("channel_not_found")
    else:
        call.need_scope("channels:history")


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        raise ApiError("invalid_cursor") from None
    if not decoded.startswith("offset:") or not decoded[7:].isdigit():
        raise ApiError("invalid_cursor")
    return int(decoded[7:])


def conversations_replies(call: MethodCall) -> JsonObject:
    """A thread: its parent first, then the replies oldest first, a page at a time."""
    channel = resolve_channel(call, call.arg("channel"))
    _history_scope(call, channel)
    ts = call.arg("ts")
    if ts is None:
        raise ApiError("invalid_arguments")
    parent = call.world.find_message(channel.slack_channel_id, ts)
    if parent is None:
        raise ApiError("thread_not_found")
    replies = [m for m in call.world.replies(channel.slack_channel_id, ts) if m.ts != parent.ts]
    thread = [parent, *sorted(replies, key=lambda m: float(m.ts))]
    latest, oldest = call.arg("latest"), call.arg("oldest")
    inclusive = call.flag("inclusive")
    try:
        if latest is not None:
            bound = float(latest)
            thread = [m for m in thread if float(m.ts) < bound or (inclusive and m.ts == latest)]
        if oldest is not None:
            low = float(oldest)
            thread = [m for m in thread if float(m.ts) > low or (inclusive and m.ts == oldest)]
        limit = int(call.arg("limit") or REPLIES_LIMIT)
    except ValueError:
        raise ApiError("invalid_arguments") from None
    most = REPLIES_LIMIT if call.world.marketplace_approved else NON_MARKETPLACE_HISTORY_LIMIT
    limit = max(1, min(limit, most))
    start = _offset(call.arg("cursor"))
    page = thread[start : start + limit]
    more = start + limit < len(thread)
    next_cursor = (
        base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    )
    return {
        "messages": [message_object(call.world, m, base_url=call.base_url) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": next_cursor},
    }


_LIST_TYPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}


def conversations_list(call: MethodCall) -> JsonObject:
    """Paged by an opaque cursor (`limit` up to 1000, default 100). Each type asked for needs
    its read scope; private channels appear only where the app is a member, as in Slack."""
    types = [t.strip() for t in (call.arg("types") or "public_channel").split(",") if t.strip()]
    for kind in types:
        if kind not in _LIST_TYPES:
            raise ApiError("invalid_types")
        call.need_scope(_LIST_TYPES[kind])
    try:
        limit = int(call.arg("limit") or 100)
    except ValueError:
        raise ApiError("invalid_limit") from None
    limit = max(1, min(limit, 1000))
    world = call.world
    listed = [
        c
        for c in sorted(world.channels.values(), key=lambda c: c.slack_channel_id)
        if world.covers(call.bearer, c.slack_team_id)
        and not (call.flag("exclude_archived") and c.is_archived)
        and (
            ("im" in types and c.is_im and _is_member(call, c))
            or ("public_channel" in types and not c.is_im and not c.is_private)
            or ("private_channel" in types and c.is_private and _is_member(call, c))
        )
    ]
    cursor = call.arg("cursor")
    start = 0
    if cursor:
        ids = [c.slack_channel_id for c in listed]
        key = cursor.removeprefix("dXNlcjo")
        if key not in ids:
            raise ApiError("invalid_cursor")
        start = ids.index(key)
    page = listed[start : start + limit]
    following = listed[start + limit] if start + limit < len(listed) else None
    return {
        "channels": [channel_object(world, c) for c in page],
        "response_metadata": {
            "next_cursor": f"dXNlcjo{following.slack_channel_id}" if following else ""
        },
    }


def team_info(call: MethodCall) -> JsonObject:
    """The token's own workspace, or (`team`) one it shares a Slack Connect channel with;
    any other answers `team_not_found`."""
    world, token = call.world, call.bearer
    wanted = call.arg("team") or token.slack_team_id or ""
    team = world.teams.get(wanted)
    reachable = team is not None and (
        world.covers(token, wanted)
        or any(
            wanted in c.connected_team_ids and world.covers(token, c.slack_team_id)
            for c in world.channels.values()
        )
    )
    if team is None or not reachable:
        raise ApiError("team_not_found")
    body: JsonObject = {
        "id": team.slack_team_id,
        "name": team.name,
        "domain": team.domain,
        "email_domain": "",
        "icon": {"image_default": True},
    }
    if team.slack_enterprise_id:
        enterprise = world.enterprises.get(team.slack_enterprise_id)
        body["enterprise_id"] = team.slack_enterprise_id
        body["enterprise_name"] = enterprise.name if enterprise else ""
    return {"team": body}


def conversations_open(call: MethodCall) -> JsonObject:
    world = call.world
    existing = call.arg("channel")
    if existing:
        channel = resolve_channel(call, existing)
        return {"no_op": True, "already_open": True, "channel": {"id": channel.slack_channel_id}}
    ids = [u.strip() for u in (call.arg("users") or "").split(",") if u.strip()]
    if not ids:
        raise ApiError("users_list_not_supplied")
    if len(ids) > 1:
        raise ApiError("method_not_supported_for_channel_type")
    user = _visible_user(call, ids[0])
    if user.is_bot:
        raise ApiError("cannot_dm_bot")
    already = any(c.is_im and c.im_user == user.slack_user_id for c in world.channels.values())
    channel = world.open_dm(user.slack_team_id, user.slack_user_id)
    shown = channel_object(world, channel) if call.flag("return_im") else None
    body: JsonObject = {"channel": shown or {"id": channel.slack_channel_id}}
    if already:
        body.update(no_op=True, already_open=True)
    return body


def _reaction_target(call: MethodCall) -> tuple[SlackMessage, str]:
    channel = resolve_channel(call, call.arg("channel"))
    if channel.is_archived:
        raise ApiError("is_archived")
    if not _is_member(call, channel):
        raise ApiError("not_in_channel")
    message = call.world.find_message(channel.slack_channel_id, call.arg("timestamp") or "")
    if message is None:
        raise ApiError("message_not_found")
    name = (call.arg("name") or "").strip(":")
    if not _REACTION_NAME.fullmatch(name):
        raise ApiError("invalid_name")
    return message, name


def reactions_add(call: MethodCall) -> JsonObject:
    message, name = _reaction_target(call)
    users = message.reactions.setdefault(name, [])
    if call.bearer.slack_user_id in users:
        raise ApiError("already_reacted")
    users.append(call.bearer.slack_user_id)
    return {}


def reactions_remove(call: MethodCall) -> JsonObject:
    message, name = _reaction_target(call)
    users = message.reactions.get(name, [])
    if call.bearer.slack_user_id not in users:
        raise ApiError("no_reaction")
    users.remove(call.bearer.slack_user_id)
    if not users:
        del message.reactions[name]
    return {}


def _usergroup_object(group: SlackUsergroup, *, include_users: bool) -> JsonObject:
    obj: JsonObject = {
        "id": group.slack_usergroup_id,
        "team_id": group.slack_team_id,
        "is_usergroup": True,
        "is_subteam": True,
        "name": group.name,
        "description": group.description,
        "handle": group.handle,
        "is_external": False,
        "date_create": 1_700_000_000,
        "date_update": 1_700_000_000,
        "date_delete": 0,
        "auto_type": None,
        "created_by": "",
        "updated_by": "",
        "deleted_by": None,
        "prefs": {"channels": [], "groups": []},
        "user_count": len(group.users),
    }
    if include_users:
        obj["users"] = list(group.users)
    return obj


def usergroups_list(call: MethodCall) -> JsonObject:
    world = call.world
    groups = [
        _usergroup_object(group, include_users=call.flag("include_users"))
        for group in world.usergroups.values()
        if world.covers(call.bearer, group.slack_team_id)
    ]
    return {"usergroups": groups}


def usergroups_users_list(call: MethodCall) -> JsonObject:
    world = call.world
    group_id = call.arg("usergroup")
    if not group_id:
        raise ApiError("invalid_arguments")
    group = world.usergroups.get(group_id)
    if group is None or not world.covers(call.bearer, group.slack_team_id):
        raise ApiError("no_such_subteam")
    return {"users": list(group.users)}


METHODS: dict[str, Method] = {
    "api.test": Method(api_test, needs_token=False),
    "auth.test": Method(auth_test),
    "auth.revoke": Method(auth_revoke),
    "chat.postMessage": Method(chat_post_message, ("chat:write",)),
    "chat.update": Method(chat_update, ("chat:write",)),
    "chat.postEphemeral": Method(chat_post_ephemeral, ("chat:write",)),
    "chat.getPermalink": Method(chat_get_permalink),
    "users.info": Method(users_info, ("users:read",)),
    "users.list": Method(users_list, ("users:read",)),
    "conversations.info": Method(conversations_info),
    "conversations.open": Method(conversations_open, ("im:write",)),
    "conversations.replies": Method(conversations_replies),
    "conversations.list": Method(conversations_list),
    "usergroups.list": Method(usergroups_list, ("usergroups:read",)),
    "usergroups.users.list": Method(usergroups_users_list, ("usergroups:read",)),
    "team.info": Method(team_info, ("team:read",)),
    "reactions.add": Method(reactions_add, ("reactions:write",)),
    "reactions.remove": Method(reactions_remove, ("reactions:write",)),
}
