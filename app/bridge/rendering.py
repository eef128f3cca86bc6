"""Genesys → Slack: how an agent's message is shown, and what its buttons carry.

Pure: no I/O. Whatever an agent or a bot flow writes is escaped before Slack sees it, so text
from the contact center can never ping a channel, mention someone or disguise a link. The
sender must post with Slack's defaults (`parse` unset, `link_names` false) for that to hold.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.bridge.inbound import SHORTENED_MARK
from app.bridge.outbound import (
    AgentMessage,
    AgentStructured,
    ButtonClick,
    ButtonKind,
    DatePicker,
    ListPicker,
    OutboundAttachment,
)

# Slack limits (Block Kit reference): text beyond 40k is refused (msg_too_long), a section holds
# 3000 characters, a message 50 blocks, an actions block 25 elements, a button label 75, its
# value 2000. Should Slack still find a text too long (it may count differently), the post is
# retried once cut to the 4,000 characters Slack recommends.
SLACK_TEXT_LIMIT = 40_000
SLACK_SAFE_TEXT_LIMIT = 4000
SECTION_LIMIT = 3000
MAX_BLOCKS = 50
MAX_ACTIONS_PER_BLOCK = 25
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
URL_LIMIT = 3000

# The interactivity listener routes clicks on these prefixes to Genesys. Link buttons also send
# a click to the app, which must be acknowledged and otherwise ignored.
QUICK_REPLY_ACTION = "sb_qr_"
CARD_BUTTON_ACTION = "sb_btn_"
LINK_ACTION = "sb_link_"
# Pickers carry no `value` of ours: their block_id names the agent's message
# (`sb_date_0:<genesys message id>`) and the choice is looked up in the stored message.
DATE_PICKER_ACTION = "sb_date_"
LIST_PICKER_ACTION = "sb_list_"
MAX_SELECT_OPTIONS = 100
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

GENESYS_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+\Z", re.IGNORECASE)


class InvalidButtonValue(ValueError):
    """A button value we did not write (tampered, truncated or from an older format)."""


@dataclass(frozen=True)
class SlackPost:
    """Arguments for `chat.postMessage`; `text` is the notification fallback under `blocks`."""

    text: str
    blocks: list[dict[str, Any]] | None = None


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; after this no `<…>` token (mention, link) can form."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_escaped(escaped: str, limit: int) -> int:
    """Where to cut `escaped` to at most `limit` characters without splitting an entity."""
    cut = limit
    tail = _ENTITY_TAIL.search(escaped[max(0, cut - 4) : cut])
    return cut - len(tail.group(0)) if tail else cut


def _fit(text: str, limit: int) -> str:
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    return escaped[: _cut_escaped(escaped, limit - 1)] + "…"


def shorten_escaped(mrkdwn: str, limit: int) -> str:
    """Escaped mrkdwn cut to `limit` characters with a mark that says so (never mid-entity)."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    return mrkdwn[: _cut_escaped(mrkdwn, limit - len(SHORTENED_MARK))] + SHORTENED_MARK


def _chunks(mrkdwn: str) -> list[str]:
    """Already-escaped mrkdwn split into section-sized pieces without breaking an entity."""
    out = []
    while len(mrkdwn) > SECTION_LIMIT:
        cut = _cut_escaped(mrkdwn, SECTION_LIMIT)
        out.append(mrkdwn[:cut])
        mrkdwn = mrkdwn[cut:]
    return [*out, mrkdwn] if mrkdwn else out


def _section(mrkdwn: str) -> dict[str, Any]:
    # verbatim: Slack would otherwise auto-link channel names and parse some mentions.
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn, "verbatim": True}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn, "verbatim": True}]}


def _safe_url(url: str | None) -> str | None:
    """Only plain web links, and never characters that end a `<url|label>` token early."""
    if not url or len(url) > URL_LIMIT or not _WEB_URL.match(url):
        return None
    return url


def _link(url: str, label: str) -> str:
    target = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{target}|{escape_mrkdwn(label)}>"


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return ""
    if size_bytes < 1024 * 1024:
        return f" ({max(1, round(size_bytes / 1024))} KB)"
    return f" ({size_bytes / (1024 * 1024):.1f} MB)"


def _attachment_block(attachment: OutboundAttachment) -> dict[str, Any]:
    label = (attachment.filename or "attachment")[:200]
    url = _safe_url(attachment.url)
    shown = _link(url, label) if url else f"{escape_mrkdwn(label)} (no usable link)"
    return _section(f"📎 {shown}{_size(attachment.size_bytes)}")


def encode_button_value(
    *, genesys_message_id: str, kind: ButtonKind, payload: str, text: str
) -> str | None:
    """Compact JSON for a button's `value`, or None when it cannot fit Slack's 2000 characters.
    The label is dropped first: Slack reports it with the click anyway."""
    value: dict[str, Any] = {"v": 1, "m": genesys_message_id, "k": kind, "p": payload}
    if text != payload:
        value["t"] = text
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(encoded) > BUTTON_VALUE_LIMIT and "t" in value:
        del value["t"]
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return encoded if len(encoded) <= BUTTON_VALUE_LIMIT else None


def parse_button_value(value: str) -> ButtonClick:
    """The inverse of `encode_button_value`; anything else raises `InvalidButtonValue`."""
    if not isinstance(value, str) or len(value) > BUTTON_VALUE_LIMIT:
        raise InvalidButtonValue("not a button value of ours")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidButtonValue("not JSON") from None
    if not isinstance(data, dict) or not {"v", "m", "k", "p"} <= data.keys():
        raise InvalidButtonValue("unknown button format")
    if type(data["v"]) is not int or data["v"] != 1:
        raise InvalidButtonValue("unknown button version")
    if not data.keys() <= {"v", "m", "k", "p", "t"}:
        raise InvalidButtonValue("unexpected fields")
    message_id, kind, payload = data["m"], data["k"], data["p"]
    text = data.get("t", payload)
    if not isinstance(message_id, str) or not GENESYS_MESSAGE_ID.fullmatch(message_id):
        raise InvalidButtonValue("bad message id")
    if kind not in ("QuickReply", "Button"):
        raise InvalidButtonValue("bad button kind")
    if not isinstance(payload, str) or not isinstance(text, str):
        raise InvalidButtonValue("bad payload")
    return ButtonClick(genesys_message_id=message_id, kind=kind, payload=payload, text=text)


def _label(text: str) -> dict[str, Any]:
    shown = text.strip() or "Choose"
    if len(shown) > BUTTON_TEXT_LIMIT:
        shown = shown[: BUTTON_TEXT_LIMIT - 1] + "…"
    return {"type": "plain_text", "text": shown, "emoji": True}


def _actions_blocks(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": "actions", "elements": elements[start : start + MAX_ACTIONS_PER_BLOCK]}
        for start in range(0, len(elements), MAX_ACTIONS_PER_BLOCK)
    ]


def _choice_buttons(
    message: AgentStructured, choices: list[tuple[ButtonKind, str, str]], prefix: str, start: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Buttons for (kind, label, payload) choices, and the labels too long to be buttons."""
    buttons: list[dict[str, Any]] = []
    typed_only: list[str] = []
    for offset, (kind, label, payload) in enumerate(choices):
        value = encode_button_value(
            genesys_message_id=message.genesys_message_id, kind=kind, payload=payload, text=label
        )
        if value is None:
            typed_only.append(label)
            continue
        buttons.append(
            {
                "type": "button",
                "action_id": f"{prefix}{start + offset}",
                "text": _label(label),
                "value": value,
            }
        )
    return buttons, typed_only


def _card_blocks(message: AgentStructured) -> tuple[list[dict[str, Any]], list[str]]:
    blocks: list[dict[str, Any]] = []
    typed_only: list[str] = []
    button_count = link_count = 0
    for card in message.cards:
        lines = [f"*{escape_mrkdwn(card.title)}*" if card.title.strip() else ""]
        lines.append(escape_mrkdwn(card.description))
        image = _safe_url(card.image_url)
        if image:
            lines.append(_link(image, "Image"))
        shown = "\n".join(line for line in lines if line.strip())
        blocks.extend(_section(chunk) for chunk in _chunks(shown))
        postbacks: list[tuple[ButtonKind, str, str]] = [
            ("Button", a.text, a.payload) for a in card.actions if a.payload is not None
        ]
        buttons, skipped = _choice_buttons(message, postbacks, CARD_BUTTON_ACTION, button_count)
        button_count += len(postbacks)
        typed_only += skipped
        for action in card.actions:
            url = _safe_url(action.url) if action.kind == "Link" else None
            if url:
                button = {"type": "button", "action_id": f"{LINK_ACTION}{link_count}", "url": url}
                buttons.append({**button, "text": _label(action.text or "Open")})
                link_count += 1
        blocks.extend(_actions_blocks(buttons))
    return blocks, typed_only


def _picker_heading(title: str, subtitle: str) -> list[dict[str, Any]]:
    lines = [f"*{escape_mrkdwn(title)}*" if title.strip() else "", escape_mrkdwn(subtitle)]
    shown = "\n".join(line for line in lines if line.strip())
    return [_section(chunk) for chunk in _chunks(shown)]


def _picker_block(
    action_id: str, genesys_message_id: str, element: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": f"{action_id}:{genesys_message_id}",
        "elements": [{**element, "action_id": action_id}],
    }


def _date_picker_blocks(
    message: AgentStructured, index: int, picker: DatePicker
) -> list[dict[str, Any]]:
    element: dict[str, Any] = {
        "type": "datepicker",
        "placeholder": {"type": "plain_text", "text": "Pick a date"},
    }
    first = next((at[:10] for at in picker.available if DATE.fullmatch(at[:10])), None)
    if first:
        element["initial_date"] = first
    blocks = _picker_heading(picker.title, picker.subtitle)
    action_id = f"{DATE_PICKER_ACTION}{index}"
    return [*blocks, _picker_block(action_id, message.genesys_message_id, element)]


def _list_picker_blocks(
    message: AgentStructured, index: int, picker: ListPicker
) -> list[dict[str, Any]]:
    options = [
        {"text": _label(item.title), "value": str(number)}
        for number, item in enumerate(picker.items[:MAX_SELECT_OPTIONS])
    ]
    element = {
        "type": "static_select",
        "placeholder": {"type": "plain_text", "text": "Choose"},
        "options": options,
    }
    blocks = _picker_heading(picker.title, picker.subtitle)
    action_id = f"{LIST_PICKER_ACTION}{index}"
    return [*blocks, _picker_block(action_id, message.genesys_message_id, element)]


def answered_post(
    message: AgentMessage | AgentStructured,
    *,
    agent_name: str | None,
    chosen: str,
    slack_user_id: str,
) -> SlackPost:
    """The agent's message once answered (`chat.update`): as posted, without its buttons and
    pickers (link buttons stay: they answer nothing), and with who chose what."""
    post = to_slack_post(message, agent_name=agent_name)
    kept: list[dict[str, Any]] = []
    for block in post.blocks or []:
        if block.get("type") != "actions":
            kept.append(block)
            continue
        links = [
            e for e in block.get("elements") or [] if e.get("type") == "button" and e.get("url")
        ]
        if links:
            kept.append({**block, "elements": links})
    who = f"<@{slack_user_id}>" if _SLACK_USER_ID.fullmatch(slack_user_id) else "Someone"
    note = _context(f"✅ {who} chose *{_fit(chosen, 200)}*")
    return SlackPost(text=post.text, blocks=[*kept[: MAX_BLOCKS - 1], note])


def _fallback_text(message: AgentMessage | AgentStructured, agent_name: str | None) -> str:
    if message.text.strip():
        return shorten_escaped(escape_mrkdwn(message.text), SLACK_TEXT_LIMIT)
    who = (agent_name or "").strip() or "Support"
    if message.attachments:
        names = ", ".join(a.filename or "a file" for a in message.attachments)
        return _fit(f"{who} sent {names}", SLACK_TEXT_LIMIT)
    if isinstance(message, AgentStructured) and message.cards and message.cards[0].title.strip():
        return _fit(f"{who} sent: {message.cards[0].title}", SLACK_TEXT_LIMIT)
    return _fit(f"{who} sent a message", SLACK_TEXT_LIMIT)


def to_slack_post(message: AgentMessage | AgentStructured, *, agent_name: str | None) -> SlackPost:
    """Plain text stays a plain post; attachments and choices become blocks, with `text` as the
    notification fallback. `agent_name` only phrases that fallback when the agent sent no words;
    the name shown on the post is the `username` the sender passes."""
    if isinstance(message, AgentMessage) and not message.attachments:
        return SlackPost(text=_fallback_text(message, agent_name))
    words = message.text if message.text.strip() else ""
    blocks = [_section(chunk) for chunk in _chunks(escape_mrkdwn(words))]
    blocks += [_attachment_block(a) for a in message.attachments]
    if isinstance(message, AgentStructured):
        replies: list[tuple[ButtonKind, str, str]] = [
            ("QuickReply", r.text, r.payload) for r in message.quick_replies
        ]
        buttons, typed_only = _choice_buttons(message, replies, QUICK_REPLY_ACTION, 0)
        blocks += _actions_blocks(buttons)
        card_blocks, card_typed_only = _card_blocks(message)
        blocks += card_blocks
        typed_only += card_typed_only
        for index, date_picker in enumerate(message.date_pickers):
            blocks += _date_picker_blocks(message, index, date_picker)
        for index, list_picker in enumerate(message.list_pickers):
            blocks += _list_picker_blocks(message, index, list_picker)
        if typed_only:
            choices = ", ".join(f"“{label}”" for label in typed_only)
            blocks.append(_context(_fit(f"Reply with one of: {choices}", SECTION_LIMIT)))
        if message.unsupported:
            blocks.append(_context("Part of this message cannot be shown in Slack."))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _context("Part of this message was too long to show.")]
    return SlackPost(text=_fallback_text(message, agent_name), blocks=blocks or None)
