"""Bodies for Genesys' inbound endpoints (message, event, receipt, structured response),
built from what happened in Slack.

Pure: no I/O, and no clock: times come from Slack timestamps or are passed in. Every body
meets the request schema Genesys enforces (external-contracts §G1): `text` or a non-empty
`content`, custom attributes as flat strings, no nested top-level `metadata`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from app.bridge.outbound import ButtonClick
from app.bridge.routing import SlackFile, SlackMessage
from app.slack.directory import ConnectOrg, SlackProfile

# Genesys publishes no maximum for inbound `text` (external-contracts §G4: UNCONFIRMED); 4000 is the
# limit it documents for agent text on this channel, so a customer gets no more than an agent.
# Counted in UTF-16 code units, as Genesys' Java services count (an emoji counts twice).
MAX_TEXT_LENGTH = 4000
# Ends a text cut to fit, so the agent knows the customer wrote more.
SHORTENED_MARK = "… [message shortened]"
# customAttributes size is undocumented (one middleware keeps the total under ~1.9 KB).
MAX_ATTRIBUTE_LENGTH = 256
EDIT_PREFIX = "✏️ Edited: "
# The first message a conversation sends on a newly chosen integration starts with this, so
# the agent knows it continues an earlier Slack conversation (external-contracts §G7: a
# conversation is keyed on integration + `from.id`, so the new integration starts a new one).
CONTINUATION_NOTE = "↪️ This continues an earlier Slack conversation with support."
CONTINUATION_ATTRIBUTE = "slackContinuesConversation"
DELETE_NOTE = "🗑️ The customer deleted a message."
REASON_CODES = frozenset(
    {
        "MessageExpired",
        "RateLimited",
        "MessageNotAllowed",
        "GeneralError",
        "UnsupportedMessage",
        "UnknownMessage",
        "InvalidMessageStructure",
        "InvalidDestination",
        "ServerError",
        "MediaTypeNotAllowed",
        "InvalidMediaContentLength",
        "RecipientOptedOut",
        "DataFiltered",
    }
)
_ANGLE_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


@dataclass(frozen=True)
class SlackContext:
    """Where the message was written, from `team.info`, `conversations.info` and
    `chat.getPermalink`; `is_shared` falls back to the envelope's `is_ext_shared_channel`."""

    team_name: str | None = None
    channel_name: str | None = None
    permalink: str | None = None
    is_shared: bool | None = None
    # The conversation moved to another integration after earlier traffic: say so once.
    continues: bool = False
    # Slack Connect: the external organisations the channel is shared with.
    connect_orgs: tuple[ConnectOrg, ...] = ()
    # What the routing rule adds (`app.bridge.rules.route`): hints, `afterHours`.
    routing: Mapping[str, str] = field(default_factory=dict)


# What an agent reads for a file that did not cross, per reason (`customer_files.refusal`).
FILE_REFUSALS = {
    "too_large": "over the 25 MB limit",
    "no_access": "not readable until Switchboard is reinstalled with files:read",
}
# Genesys requires `mime` on an attachment (SDK OpenContentAttachment); Slack may not say.
UNKNOWN_MIME = "application/octet-stream"


@dataclass(frozen=True)
class Part:
    """One Open Messaging message of a Slack message: the text, one file, or the customer's
    notice about refused files (sent to Slack, not Genesys). `index` is its place in
    `message_parts`, the order they are sent in."""

    index: int
    kind: Literal["text", "file", "notice"]
    file: SlackFile | None = None


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _token(inner: str, user_names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    label = _unescape(label)
    if target.startswith("@"):
        return f"@{user_names.get(target[1:]) or label or target[1:]}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        command = target[1:]
        if command in ("here", "channel", "everyone"):
            return f"@{command}"
        return label or command.split("^")[0]
    url = _unescape(target)
    if not label or label == url or url.removeprefix("mailto:") == label:
        return label or url
    return f"{label} ({url})"


def slack_mrkdwn_to_text(text: str, *, user_names: Mapping[str, str] | None = None) -> str:
    """Slack's `<…>` tokens and entities made readable for an agent; `*bold*` is left alone."""
    names = user_names or {}
    out, position = [], 0
    for match in _ANGLE_TOKEN.finditer(text):
        out.append(_unescape(text[position : match.start()]))
        out.append(_token(match.group(1), names))
        position = match.end()
    out.append(_unescape(text[position:]))
    return "".join(out)


def slack_ts_to_datetime(ts: str) -> datetime:
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6])
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def format_genesys_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as Genesys writes it; naive times are refused."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def media_type_for(mime: str | None) -> str:
    major = (mime or "").split("/")[0].lower()
    return {"image": "Image", "video": "Video", "audio": "Audio"}.get(major, "File")


def _is_web_url(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://\S+\Z", url or "", re.IGNORECASE) is not None


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 code units, else its start and `SHORTENED_MARK`;
    a cut never splits a surrogate pair."""
    if utf16_length(text) <= limit:
        return text
    room = max(0, limit - utf16_length(SHORTENED_MARK))
    head = text.encode("utf-16-le", "surrogatepass")[: 2 * room].decode("utf-16-le", "ignore")
    return head + SHORTENED_MARK


def _recipient(external_id: str, profile: SlackProfile | None) -> dict[str, str]:
    recipient = {"id": external_id, "idType": "Opaque"}
    if profile is not None:
        fields = {
            "nickname": profile.nickname,
            "firstName": profile.first_name,
            "lastName": profile.last_name,
            "email": profile.email if profile.email and "@" in profile.email else None,
            "image": profile.image if _is_web_url(profile.image) else None,
        }
        recipient.update({k: _capped(v, 256) for k, v in fields.items() if v and v.strip()})
    return recipient


def _custom_attributes(msg: SlackMessage, context: SlackContext) -> dict[str, str]:
    """Participant data for Architect: string values only (external-contracts §G1)."""
    shared = context.is_shared if context.is_shared is not None else msg.is_ext_shared_channel
    attributes = {
        "slackWorkspaceId": msg.slack_team_id or msg.conversation.slack_scope_id,
        "slackEnterpriseId": msg.slack_enterprise_id,
        "slackWorkspace": context.team_name,
        "slackChannelId": msg.slack_channel_id,
        "slackChannel": context.channel_name,
        "slackPermalink": context.permalink if _is_web_url(context.permalink) else None,
        "slackUserId": msg.slack_user_id,
        "slackSharedChannel": "true" if shared else "false",
        "slackConversationKind": msg.conversation.kind,
        CONTINUATION_ATTRIBUTE: "true" if context.continues else None,
        "slackConnectOrgId": ",".join(o.slack_team_id for o in context.connect_orgs),
        "slackConnectOrgName": ", ".join(o.name for o in context.connect_orgs if o.name),
        **context.routing,
    }
    return {
        key: _capped(value.strip(), MAX_ATTRIBUTE_LENGTH)
        for key, value in attributes.items()
        if value and value.strip()
    }


def message_parts(msg: SlackMessage, refused: Mapping[str, str] | None = None) -> list[Part]:
    """What a Slack message becomes, in sending order: its text first, then one message per
    file Genesys can take (one Attachment per message, as the SDK model requires), then a
    notice to the customer if any file was refused. A message of files alone sends no text,
    unless a file was refused (the agent is told in the text)."""
    refused = refused or {}
    passed = [f for f in msg.files if f.slack_file_id not in refused]
    parts: list[Part] = []
    if msg.text.strip() or msg.kind != "message" or refused or not passed:
        parts.append(Part(0, "text"))
    for file in passed:
        parts.append(Part(len(parts), "file", file))
    if refused and msg.kind == "message":
        parts.append(Part(len(parts), "notice"))
    return parts


def _channel(
    msg: SlackMessage, *, profile: SlackProfile | None, context: SlackContext, message_id: str
) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "time": format_genesys_time(slack_ts_to_datetime(msg.occurred_ts)),
        "from": _recipient(msg.conversation.external_user_id, profile),
        "metadata": {"customAttributes": _custom_attributes(msg, context)},
    }


def _file_name(file: SlackFile) -> str:
    return _capped(file.name or "a file", 80)


def refused_file_label(file: SlackFile, reason: str) -> str:
    """`name (why)`, as the agent and the customer read it."""
    return f"{_file_name(file)} ({FILE_REFUSALS.get(reason, 'refused')})"


def to_open_message(
    msg: SlackMessage,
    *,
    profile: SlackProfile | None,
    context: SlackContext,
    message_id: str,
    refused: Mapping[str, str] | None = None,
    user_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The text of a Slack message as the body of `POST …/inbound/open/message`. Always
    schema-valid: `text`, flat string custom attributes, no top-level `metadata`. Files go in
    messages of their own (`to_attachment_message`); those in `refused` (file ID -> reason)
    are named in the text, so the agent knows they exist."""
    missing = [
        refused_file_label(f, refused[f.slack_file_id])
        for f in msg.files
        if refused and f.slack_file_id in refused
    ]
    note = ""
    if missing:
        listed = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        note = f"📎 The customer attached {listed}, which could not be passed on."
    head = {"edit": EDIT_PREFIX, "delete": DELETE_NOTE, "message": ""}[msg.kind]
    if context.continues:
        permalink = context.permalink or ""
        link = permalink if _is_web_url(permalink) and len(permalink) <= 500 else None
        head = f"{CONTINUATION_NOTE} {link}\n{head}" if link else f"{CONTINUATION_NOTE}\n{head}"
    words = slack_mrkdwn_to_text(msg.text, user_names=user_names) if msg.kind != "delete" else ""
    room = MAX_TEXT_LENGTH - utf16_length(head) - (utf16_length(note) + 1 if note else 0)
    text = "\n".join(part for part in (head + shorten(words, room), note) if part.strip())
    return {
        "channel": _channel(msg, profile=profile, context=context, message_id=message_id),
        "text": text if text.strip() else "(The customer sent an empty message.)",
    }


def to_attachment_message(
    msg: SlackMessage,
    file: SlackFile,
    *,
    profile: SlackProfile | None,
    context: SlackContext,
    message_id: str,
    url: str,
) -> dict[str, Any]:
    """One file of a Slack message as its own inbound message: one Attachment, `mime` always
    set (Slack's type, or `application/octet-stream`), at a URL Genesys can fetch."""
    if not _is_web_url(url):
        raise ValueError("an attachment needs an http(s) URL")
    mime = file.mimetype or UNKNOWN_MIME
    attachment = {
        "mediaType": media_type_for(mime),
        "url": url,
        "mime": mime,
        "filename": _file_name(file),
    }
    return {
        "channel": _channel(msg, profile=profile, context=context, message_id=message_id),
        "content": [{"contentType": "Attachment", "attachment": attachment}],
    }


def to_structured_response(
    click: ButtonClick, *, external_user_id: str, message_id: str, time: datetime
) -> dict[str, Any]:
    """The body of `…/inbound/open/structured/response` (external-contracts §G3)."""
    return {
        "channel": {
            "messageId": message_id,
            "time": format_genesys_time(time),
            "from": {"id": external_user_id, "idType": "Opaque"},
        },
        "buttonResponse": {
            "type": click.kind,
            "text": click.text or click.payload or "(no label)",
            "payload": click.payload,
        },
        "originatingMessageId": click.genesys_message_id,
    }


def to_receipt(
    genesys_message_id: str,
    *,
    external_user_id: str,
    delivered: bool,
    reason_code: str | None = None,
    reason_message: str | None = None,
    time: datetime,
) -> dict[str, Any]:
    """`…/inbound/open/receipt`: the endpoint takes only Delivered and Failed, and a failure's
    reason is what the agent sees (external-contracts §G3)."""
    if delivered and (reason_code or reason_message):
        raise ValueError("a Delivered receipt carries no reason")
    code = reason_code or "GeneralError"
    if code not in REASON_CODES:
        raise ValueError(f"{code!r} is not a Genesys ConversationReason code")
    body: dict[str, Any] = {
        "id": genesys_message_id,
        "channel": {
            "to": {"id": external_user_id, "idType": "Opaque"},
            "time": format_genesys_time(time),
        },
        "status": "Delivered" if delivered else "Failed",
        "direction": "Outbound",
        "isFinalReceipt": True,
    }
    if not delivered:
        reason = {"code": code}
        if reason_message and reason_message.strip():
            reason["message"] = reason_message.strip()[:500]
        body["reasons"] = [reason]
    return body


_SLACK_ERRORS_BY_REASON = {
    "InvalidDestination": "channel_not_found is_archived not_in_channel user_not_found"
    " cannot_dm_bot messages_tab_disabled thread_not_found user_disabled",
    "RecipientOptedOut": "account_inactive token_revoked team_access_not_granted",
    "RateLimited": "ratelimited rate_limited message_limit_exceeded",
    "InvalidMessageStructure": "msg_too_long no_text invalid_blocks invalid_blocks_format"
    " too_many_attachments",
    "MessageNotAllowed": "restricted_action restricted_action_read_only_channel"
    " restricted_action_thread_only_channel restricted_action_non_threadable_channel"
    " posting_to_general_channel_denied ekm_access_denied",
    "ServerError": "fatal_error internal_error service_unavailable request_timeout",
}
_REASON_BY_SLACK_ERROR = {
    error: code for code, errors in _SLACK_ERRORS_BY_REASON.items() for error in errors.split()
}


def slack_error_to_reason(error: str) -> tuple[str, str]:
    """A Slack Web API `error` as a Failed receipt's (code, message). Our own auth failures
    (`invalid_auth`, `missing_scope`) stay GeneralError: the recipient did nothing wrong, and
    an uninstall (`account_inactive`, `token_revoked`) is the workspace opting out."""
    name = re.sub(r"[^a-z0-9_]", "", error.lower())[:80] or "unknown_error"
    return _REASON_BY_SLACK_ERROR.get(name, "GeneralError"), f"Slack API error: {name}"
