"""What happens in Slack, as the `event` inside an Events API envelope.

Each builder changes the world the way the real action would (a mention is stored as a message,
an edit changes it, an uninstall revokes tokens) and returns the event Slack would push, with
the field names of Slack's own payloads. Delivery is `slack_events`' job.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sandbox.slack_objects import avatar_url, file_object, message_object
from sandbox.slack_records import SlackChannel, SlackFile, SlackInstallation, SlackMessage
from sandbox.slack_seed import OTHER_BOT_USER_ID
from sandbox.slack_world import SlackWorld

JsonObject = dict[str, Any]
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


class EventInputError(ValueError):
    """The requested action cannot happen in this world (unknown user, channel, message)."""


@dataclass
class BuiltEvent:
    event: JsonObject
    slack_team_id: str
    # captured before the action, so an uninstall is still authorized for its own envelope
    installation: SlackInstallation | None
    channel: SlackChannel | None = None
    message: SlackMessage | None = None


def rich_text_blocks(text: str) -> list[JsonObject]:
    """The `rich_text` block Slack's composer attaches to a typed message."""
    elements: list[JsonObject] = []
    position = 0
    for match in _MENTION.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": text[position : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        position = match.end()
    if position < len(text):
        elements.append({"type": "text", "text": text[position:]})
    section = {"type": "rich_text_section", "elements": elements}
    block_id = uuid.uuid5(uuid.NAMESPACE_OID, text).hex[:5]
    return [{"type": "rich_text", "block_id": block_id, "elements": [section]}]


def channel_type(channel: SlackChannel) -> str:
    if channel.is_im:
        return "im"
    return "group" if channel.is_private else "channel"


def _person(world: SlackWorld, slack_team_id: str, slack_user_id: str) -> str:
    user = world.users.get(slack_user_id)
    if user is None or user.is_bot or user.slack_team_id != slack_team_id:
        raise EventInputError(f"no person {slack_user_id} in {slack_team_id}")
    return user.slack_user_id


def _channel(world: SlackWorld, slack_team_id: str, slack_channel_id: str) -> SlackChannel:
    channel = world.channels.get(slack_channel_id)
    if channel is None or channel.slack_team_id != slack_team_id:
        raise EventInputError(f"no channel {slack_channel_id} in {slack_team_id}")
    if channel.is_archived:
        raise EventInputError(f"#{channel.name} is archived")
    return channel


def _thread_parent(world: SlackWorld, channel: SlackChannel, thread_ts: str | None) -> str | None:
    if thread_ts is None:
        return None
    parent = world.find_message(channel.slack_channel_id, thread_ts)
    if parent is None:
        raise EventInputError(f"no message {thread_ts} in {channel.slack_channel_id}")
    return parent.thread_ts if parent.is_reply else parent.ts


def _user_message(
    world: SlackWorld,
    channel: SlackChannel,
    *,
    slack_user_id: str,
    text: str,
    thread_ts: str | None,
    file_ids: list[str] | None = None,
    subtype: str | None = None,
) -> SlackMessage:
    return world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=channel.slack_channel_id,
            slack_team_id=channel.slack_team_id,
            text=text,
            user=slack_user_id,
            thread_ts=_thread_parent(world, channel, thread_ts),
            blocks=rich_text_blocks(text) if text else None,
            client_msg_id=str(uuid.uuid4()),
            file_ids=file_ids or [],
            subtype=subtype,
        )
    )


def _message_event(world: SlackWorld, message: SlackMessage, **extra: Any) -> JsonObject:
    event = message_object(world, message, base_url=world.public_url)
    event.pop("reactions", None)
    event.update(channel=message.slack_channel_id, event_ts=message.ts, **extra)
    return event


def build_mention(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_channel_id: str,
    slack_user_id: str,
    text: str,
    thread_ts: str | None = None,
    file_ids: list[str] | None = None,
) -> BuiltEvent:
    """`<@bot>` is put in front of the text unless the text already mentions the bot."""
    channel = _channel(world, slack_team_id, slack_channel_id)
    if channel.is_im:
        raise EventInputError("Slack never sends app_mention for a DM; send a DM event instead")
    if not channel.bot_is_member:
        raise EventInputError(f"the app is not in #{channel.name}, so Slack sends no mention")
    installation = world.active_installation(slack_team_id)
    bot_user_id = installation.bot_user_id if installation else world.app_bots[slack_team_id]
    if f"<@{bot_user_id}>" not in text:
        text = f"<@{bot_user_id}> {text}"
    message = _user_message(
        world,
        channel,
        slack_user_id=_person(world, slack_team_id, slack_user_id),
        text=text,
        thread_ts=thread_ts,
        file_ids=file_ids,
    )
    event = _message_event(world, message)
    event["type"] = "app_mention"
    return BuiltEvent(event, slack_team_id, installation, channel, message)


def build_channel_message(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_channel_id: str,
    slack_user_id: str,
    text: str,
    thread_ts: str | None = None,
    file_ids: list[str] | None = None,
) -> BuiltEvent:
    """A message in a channel that does not mention the app (a plain reply in a thread, say):
    Slack sends it as `message` (`message.channels` / `message.groups`) to a member app."""
    channel = _channel(world, slack_team_id, slack_channel_id)
    if channel.is_im:
        raise EventInputError("a DM is sent with build_dm")
    if not channel.bot_is_member:
        raise EventInputError(f"the app is not in #{channel.name}, so Slack sends it nothing")
    message = _user_message(
        world,
        channel,
        slack_user_id=_person(world, slack_team_id, slack_user_id),
        text=text,
        thread_ts=thread_ts,
        file_ids=file_ids,
        subtype="file_share" if file_ids else None,
    )
    event = _message_event(world, message, channel_type=channel_type(channel))
    installation = world.active_installation(slack_team_id)
    return BuiltEvent(event, slack_team_id, installation, channel, message)


def build_dm(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_user_id: str,
    text: str,
    thread_ts: str | None = None,
    file_ids: list[str] | None = None,
) -> BuiltEvent:
    channel = world.open_dm(slack_team_id, _person(world, slack_team_id, slack_user_id))
    message = _user_message(
        world,
        channel,
        slack_user_id=slack_user_id,
        text=text,
        thread_ts=thread_ts,
        file_ids=file_ids,
        subtype="file_share" if file_ids else None,
    )
    event = _message_event(world, message, channel_type="im")
    installation = world.active_installation(slack_team_id)
    return BuiltEvent(event, slack_team_id, installation, channel, message)


def _existing(world: SlackWorld, slack_channel_id: str, ts: str) -> SlackMessage:
    message = world.find_message(slack_channel_id, ts)
    if message is None:
        raise EventInputError(f"no message {ts} in {slack_channel_id}")
    return message


def build_edit(world: SlackWorld, *, slack_channel_id: str, ts: str, text: str) -> BuiltEvent:
    """`message_changed` has no top-level `user`: the editor is inside `message`."""
    message = _existing(world, slack_channel_id, ts)
    channel = world.channels[slack_channel_id]
    previous = message_object(world, message, base_url=world.public_url)
    event_ts = world.new_ts()
    message.text = text
    message.blocks = rich_text_blocks(text)
    message.edited = {"user": message.user or "", "ts": event_ts}
    event = {
        "type": "message",
        "subtype": "message_changed",
        "message": message_object(world, message, base_url=world.public_url),
        "previous_message": previous,
        "channel": slack_channel_id,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type(channel),
    }
    installation = world.active_installation(channel.slack_team_id)
    return BuiltEvent(event, channel.slack_team_id, installation, channel, message)


def build_delete(world: SlackWorld, *, slack_channel_id: str, ts: str) -> BuiltEvent:
    message = _existing(world, slack_channel_id, ts)
    channel = world.channels[slack_channel_id]
    previous = message_object(world, message, base_url=world.public_url)
    message.deleted = True
    event_ts = world.new_ts()
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": previous,
        "channel": slack_channel_id,
        "hidden": True,
        "deleted_ts": ts,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel_type(channel),
    }
    installation = world.active_installation(channel.slack_team_id)
    return BuiltEvent(event, channel.slack_team_id, installation, channel, message)


def add_user_file(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_user_id: str,
    name: str,
    content: bytes,
    mimetype: str,
    filetype: str,
) -> SlackFile:
    """A file a person uploaded in the Slack client, downloadable from the simulator."""
    return world.add_file(
        SlackFile(
            slack_file_id=world.new_id("F"),
            slack_team_id=slack_team_id,
            user=_person(world, slack_team_id, slack_user_id),
            name=name,
            title=name,
            mimetype=mimetype,
            filetype=filetype,
            size=len(content),
            content=content,
            uploaded=True,
            shared=True,
        )
    )


def share_file(built: BuiltEvent, file: SlackFile, world: SlackWorld) -> BuiltEvent:
    """Record where the file now lives, so `files.info` reports the share."""
    if built.message is not None:
        file.shares[built.message.slack_channel_id] = built.message.ts
        built.event["files"] = [file_object(world, file, base_url=world.public_url)]
    return built


def build_bot_message(
    world: SlackWorld,
    *,
    slack_team_id: str,
    slack_channel_id: str,
    text: str,
    bot_user_id: str = OTHER_BOT_USER_ID,
) -> BuiltEvent:
    """Another integration posting; our bridge must not forward it or loop on it."""
    channel = _channel(world, slack_team_id, slack_channel_id)
    bot = world.users[bot_user_id]
    message = world.add_message(
        SlackMessage(
            ts=world.new_ts(),
            slack_channel_id=channel.slack_channel_id,
            slack_team_id=slack_team_id,
            text=text,
            user=None,
            bot_id=bot.slack_bot_id,
            blocks=rich_text_blocks(text),
            subtype="bot_message",
            username=bot.real_name,
            icon_url=avatar_url(world.public_url, bot.slack_user_id, 48),
        )
    )
    event = _message_event(world, message, channel_type=channel_type(channel))
    installation = world.active_installation(slack_team_id)
    return BuiltEvent(event, slack_team_id, installation, channel, message)


def build_app_uninstalled(world: SlackWorld, *, slack_team_id: str) -> BuiltEvent:
    """Uninstalling revokes every token of the install reaching this workspace."""
    installation = world.active_installation(slack_team_id)
    if installation is not None:
        world.revoke_tokens(
            slack_team_id=installation.slack_team_id,
            slack_enterprise_id=installation.slack_enterprise_id,
            uninstall=True,
        )
    event = {"type": "app_uninstalled", "event_ts": world.new_ts()}
    return BuiltEvent(event, slack_team_id, installation)


def build_uninstall(world: SlackWorld, *, slack_team_id: str) -> list[BuiltEvent]:
    """Removing the app from a workspace: Slack sends `app_uninstalled` and `tokens_revoked`
    (in no guaranteed order), having revoked every token of the install."""
    installation = world.active_installation(slack_team_id)
    revoked = []
    if installation is not None:
        revoked = world.revoke_tokens(
            slack_team_id=installation.slack_team_id,
            slack_enterprise_id=installation.slack_enterprise_id,
            uninstall=True,
        )
    tokens = {
        "oauth": sorted({t.slack_user_id for t in revoked if t.kind == "user"}),
        "bot": sorted({t.slack_user_id for t in revoked if t.kind == "bot"}),
    }
    return [
        BuiltEvent(
            {"type": "app_uninstalled", "event_ts": world.new_ts()}, slack_team_id, installation
        ),
        BuiltEvent(
            {"type": "tokens_revoked", "tokens": tokens, "event_ts": world.new_ts()},
            slack_team_id,
            installation,
        ),
    ]


def build_tokens_revoked(
    world: SlackWorld, *, slack_team_id: str, slack_user_ids: set[str] | None = None
) -> BuiltEvent:
    """`tokens` holds user IDs, not tokens: people under `oauth`, bot users under `bot`."""
    installation = world.active_installation(slack_team_id)
    revoked = []
    if installation is not None:
        revoked = world.revoke_tokens(
            slack_team_id=installation.slack_team_id,
            slack_enterprise_id=installation.slack_enterprise_id,
            slack_user_ids=slack_user_ids,
        )
    tokens = {
        "oauth": sorted({t.slack_user_id for t in revoked if t.kind == "user"}),
        "bot": sorted({t.slack_user_id for t in revoked if t.kind == "bot"}),
    }
    event = {"type": "tokens_revoked", "tokens": tokens, "event_ts": world.new_ts()}
    return BuiltEvent(event, slack_team_id, installation)
