"""Slack → Genesys: which Slack events reach the agent, and as which Genesys conversation.

Pure: no network, no database, no clock, no logging. Genesys groups messages into a
conversation by `channel.from.id`, so identity is decided here: one Slack thread is one
conversation, and so is each person's DM with the app. `inbound` turns the result into bodies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

ConversationKind = Literal["dm", "thread"]
MessageKind = Literal["message", "edit", "delete"]


# Subtypes that carry words a person (or, when allowed, a bot) wrote. Every other subtype is
# Slack describing the channel (joins, topics, pins…) and is deliberately not forwarded.
# `thread_broadcast` is the only event for a reply also sent to the channel, not a copy.
_MESSAGE_SUBTYPES: frozenset[str | None] = frozenset(
    {None, "file_share", "thread_broadcast", "bot_message"}
)
_SLACK_ID = re.compile(r"[A-Za-z0-9]{1,40}")
_SLACK_TS = re.compile(r"\d{1,10}(?:\.\d{1,6})?")


@dataclass(frozen=True)
class SlackConversationRef:
    """Which Genesys conversation a Slack message belongs to, and its wire form.

    `slack_scope_id` is the installation's workspace (`T…`), or the org (`E…`) for org-wide
    installs, where users and channels are unique across the org but an event's team may vary.
    Slack IDs never contain ":", so the joined form is unambiguous and parses back.
    """

    slack_scope_id: str
    kind: ConversationKind
    slack_user_id: str | None = None
    slack_channel_id: str | None = None
    slack_thread_ts: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "dm":
            parts = (self.slack_scope_id, self.slack_user_id)
            ok = self.slack_channel_id is None and self.slack_thread_ts is None
        else:
            parts = (self.slack_scope_id, self.slack_channel_id)
            ok = self.slack_user_id is None and _is_ts(self.slack_thread_ts)
        if not ok or not all(_is_id(part) for part in parts):
            raise ValueError(f"not a valid Slack {self.kind} reference")

    @classmethod
    def dm(cls, *, slack_scope_id: str, slack_user_id: str) -> SlackConversationRef:
        return cls(slack_scope_id, "dm", slack_user_id=slack_user_id)

    @classmethod
    def thread(
        cls, *, slack_scope_id: str, slack_channel_id: str, slack_thread_ts: str
    ) -> SlackConversationRef:
        return cls(
            slack_scope_id,
            "thread",
            slack_channel_id=slack_channel_id,
            slack_thread_ts=slack_thread_ts,
        )

    @property
    def external_user_id(self) -> str:
        if self.kind == "dm":
            return f"{self.slack_scope_id}:{self.slack_user_id}"
        return f"{self.slack_scope_id}:{self.slack_channel_id}:{self.slack_thread_ts}"


@dataclass(frozen=True)
class SlackFile:
    slack_file_id: str
    name: str | None = None
    mimetype: str | None = None
    size: int | None = None
    url_private_download: str | None = None
    # Slack Connect pushes a stub; `files.info` has the rest (external-contracts §S1).
    needs_file_info: bool = False


@dataclass(frozen=True, kw_only=True)
class SlackMessage:
    """A Slack event worth forwarding. `ts` is the message's own ts (for an edit or delete, the
    message edited or deleted); `occurred_ts` is when this event happened."""

    kind: MessageKind
    conversation: SlackConversationRef
    slack_team_id: str | None
    slack_enterprise_id: str | None
    slack_channel_id: str
    slack_user_id: str
    text: str
    ts: str
    thread_ts: str | None
    occurred_ts: str
    client_msg_id: str | None = None
    slack_event_id: str | None = None
    event_time: int | None = None
    files: tuple[SlackFile, ...] = ()
    is_ext_shared_channel: bool = False
    from_bot: bool = False


@dataclass(frozen=True)
class Ignored:
    """Why an event is not forwarded, for logs and tests: own_bot, other_bot, subtype:<name>,
    event:<type>, empty, malformed, edit_without_text_change, channel_message_without_mention,
    mention_delivered_as_app_mention (the `app_mention` event carries it), not_linked.

    For "not_linked", `conversation_key` is the thread's key, and `candidate` the message it
    would be in a linked thread (None if that would be ignored too, e.g. empty): if the caller
    finds the thread linked to a live conversation, it forwards `candidate` without parsing
    the event again."""

    reason: str
    conversation_key: str | None = None
    candidate: SlackMessage | None = None


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _SLACK_ID.fullmatch(value) is not None


def _is_ts(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _SLACK_TS.fullmatch(value) is not None


def _str(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def slack_scope_id(
    *, slack_team_id: str | None, slack_enterprise_id: str | None, is_enterprise_install: bool
) -> str | None:
    """The same rule as for events, for callers that build a reference from something else
    (a button click); see `SlackConversationRef`."""
    if is_enterprise_install and slack_enterprise_id:
        return slack_enterprise_id
    return slack_team_id or slack_enterprise_id


def parse_external_user_id(value: str) -> SlackConversationRef:
    """The inverse of `SlackConversationRef.external_user_id`; raises ValueError otherwise."""
    parts = value.split(":")
    if len(parts) == 2:
        return SlackConversationRef.dm(slack_scope_id=parts[0], slack_user_id=parts[1])
    if len(parts) == 3:
        return SlackConversationRef.thread(
            slack_scope_id=parts[0], slack_channel_id=parts[1], slack_thread_ts=parts[2]
        )
    raise ValueError("not an external user id of ours")


# The conversation kind of an agent's addressee that names no Slack thread or DM of the
# tenant (an email address, a foreign ID): its messages are answered with a Failed receipt.
UNRESOLVED_KIND = "unknown"


def unresolved_conversation_key(to_id: str) -> str:
    """A conversation key for such an addressee; it can never parse as one of ours."""
    if len(to_id) <= 200 and to_id.count(":") not in (1, 2):
        return to_id
    return "unresolved-" + hashlib.sha256(to_id.encode("utf-8", "replace")).hexdigest()


def external_user_id(msg: SlackMessage) -> str:
    return msg.conversation.external_user_id


def conversation_key(msg: SlackMessage) -> str:
    """The FIFO-lock and lookup key: the same string as `from.id`, because Genesys makes one
    conversation per `from.id`, so serialising on it serialises each conversation."""
    return msg.conversation.external_user_id


def external_message_id(msg: SlackMessage) -> str:
    """`channel.messageId` and the inbound dedupe key: retries of one event map to one id, and
    every edit (by its own ts) and the delete get ids of their own."""
    base = f"{msg.conversation.slack_scope_id}:{msg.slack_channel_id}:{msg.ts}"
    if msg.kind == "edit":
        return f"{base}:edit:{msg.occurred_ts}"
    return f"{base}:delete" if msg.kind == "delete" else base


def _files(raw: Any) -> tuple[SlackFile, ...]:
    files = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not _str(item.get("id")):
            continue
        size = item.get("size")
        files.append(
            SlackFile(
                slack_file_id=item["id"],
                name=_str(item.get("name")),
                mimetype=_str(item.get("mimetype")),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                url_private_download=_str(item.get("url_private_download"))
                or _str(item.get("url_private")),
                needs_file_info=item.get("file_access") == "check_file_info",
            )
        )
    return tuple(files)


def _strip_leading_mention(text: str, bot_user_id: str) -> str:
    return re.sub(rf"\A\s*<@{re.escape(bot_user_id)}(?:\|[^>]*)?>\s*", "", text, count=1)


def _scope(envelope: dict[str, Any]) -> str | None:
    """Bolt picks the installation from `authorizations[0]`, which matters in Slack Connect."""
    auths = envelope.get("authorizations")
    auth = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
    return slack_scope_id(
        slack_team_id=auth.get("team_id") or envelope.get("team_id"),
        slack_enterprise_id=auth.get("enterprise_id") or envelope.get("enterprise_id"),
        is_enterprise_install=bool(
            auth.get("is_enterprise_install") or envelope.get("is_enterprise_install")
        ),
    )


def parse_slack_event(
    envelope: dict[str, Any],
    *,
    bot_user_id: str,
    bot_id: str | None,
    forward_other_bots: bool = False,
    linked_thread: bool = False,
) -> SlackMessage | Ignored:
    """Forward mentions, DMs, and plain replies in a thread already linked to a conversation
    (`linked_thread`, which the caller knows from its store); ignore the rest with a reason."""
    event = envelope.get("event")
    if not isinstance(event, dict):
        return Ignored("malformed")
    event_type, subtype = event.get("type"), event.get("subtype")
    if event_type not in ("app_mention", "message"):
        return Ignored(f"event:{event_type}")
    kind: MessageKind = "message"
    body: Any = event
    if subtype == "message_changed":
        kind, body = "edit", event.get("message")
    elif subtype == "message_deleted":
        kind, body = "delete", event.get("previous_message")
    elif subtype not in _MESSAGE_SUBTYPES:
        return Ignored(f"subtype:{subtype}")
    if not isinstance(body, dict):
        return Ignored("malformed")
    if kind != "message" and body.get("subtype") not in _MESSAGE_SUBTYPES:
        return Ignored(f"subtype:{body.get('subtype')}")  # e.g. a thread root's tombstone
    if body.get("user") == bot_user_id or (bot_id is not None and body.get("bot_id") == bot_id):
        return Ignored("own_bot")
    from_bot = bool(body.get("bot_id")) or body.get("subtype") == "bot_message"
    if from_bot and not forward_other_bots:
        return Ignored("other_bot")
    previous = event.get("previous_message")
    if kind == "edit" and isinstance(previous, dict) and previous.get("text") == body.get("text"):
        return Ignored("edit_without_text_change")  # unfurls, reply counts, pins

    raw_text: str = body["text"] if isinstance(body.get("text"), str) else ""
    ts = body.get("ts") or event.get("deleted_ts")
    occurred_ts = ts
    if kind == "edit":
        edited = body.get("edited")
        occurred_ts = (edited.get("ts") if isinstance(edited, dict) else None) or event.get("ts")
    elif kind == "delete":
        occurred_ts = event.get("event_ts") or event.get("ts")
    slack_channel_id, thread_ts = event.get("channel"), body.get("thread_ts")
    slack_user_id = body.get("user") or body.get("bot_id")
    scope = _scope(envelope)
    if not (_is_id(scope) and _is_id(slack_channel_id) and _is_id(slack_user_id)):
        return Ignored("malformed")
    if not (_is_ts(ts) and _is_ts(occurred_ts) and (thread_ts is None or _is_ts(thread_ts))):
        return Ignored("malformed")

    conversation: SlackConversationRef
    if event_type == "message" and event.get("channel_type") == "im":
        conversation = SlackConversationRef.dm(slack_scope_id=scope, slack_user_id=slack_user_id)
    else:
        conversation = SlackConversationRef.thread(
            slack_scope_id=scope, slack_channel_id=slack_channel_id, slack_thread_ts=thread_ts or ts
        )
        if event_type == "message" and kind == "message":
            if f"<@{bot_user_id}>" in raw_text or f"<@{bot_user_id}|" in raw_text:
                return Ignored("mention_delivered_as_app_mention")
            if thread_ts is None or thread_ts == ts:
                return Ignored("channel_message_without_mention")
    # A plain reply in a thread is forwarded only if the caller knows the thread is linked.
    needs_link = event_type == "message" and conversation.kind == "thread" and not linked_thread

    text = _strip_leading_mention(raw_text, bot_user_id) if kind != "delete" else ""
    files = _files(body.get("files")) if kind == "message" else ()
    if kind != "delete" and not text.strip() and not files:
        if needs_link:
            return Ignored("not_linked", conversation_key=conversation.external_user_id)
        return Ignored("empty")
    event_time = envelope.get("event_time")
    event_id = envelope.get("event_id")
    message = SlackMessage(
        kind=kind,
        conversation=conversation,
        slack_team_id=_str(envelope.get("team_id")),
        slack_enterprise_id=_str(envelope.get("enterprise_id")),
        slack_channel_id=slack_channel_id,
        slack_user_id=slack_user_id,
        text=text,
        ts=ts,
        thread_ts=thread_ts,
        occurred_ts=occurred_ts,
        client_msg_id=_str(body.get("client_msg_id")),
        slack_event_id=event_id if isinstance(event_id, str) else None,
        event_time=event_time if isinstance(event_time, int) else None,
        files=files,
        is_ext_shared_channel=envelope.get("is_ext_shared_channel") is True,
        from_bot=from_bot,
    )
    if needs_link:
        return Ignored(
            "not_linked", conversation_key=conversation.external_user_id, candidate=message
        )
    return message
