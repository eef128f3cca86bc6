"""Genesys outbound messages: what a webhook payload means, and the bodies that answer one.

Pure: no I/O. Every payload type is recognised so the webhook can acknowledge all of them
(external-contracts §G6); only a payload missing the envelope every delivery has is refused.
The answers (a receipt, a button press) go back to Genesys keyed on the outbound message's `id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from app.genesys.messages import OutboundMessageFields, OutboundWebhook, first_problem

# What an answer tells Genesys it answered (SDK ContentButtonResponse.type). A ListPicker choice
# goes back as a `Button`: the SDK has no ListPicker response type (external-contracts).
ButtonKind = Literal["QuickReply", "Button", "DatePicker"]


_Model = TypeVar("_Model", bound=BaseModel)


class MalformedWebhook(ValueError):
    """The payload lacks what every outbound delivery has; the webhook answers 400."""


@dataclass(frozen=True)
class OutboundAttachment:
    """`url` may be missing: the attachment is still shown, by name, without a link."""

    url: str | None
    filename: str | None = None
    mime: str | None = None
    media_type: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class QuickReply:
    text: str
    payload: str


@dataclass(frozen=True)
class CardAction:
    kind: Literal["Link", "Postback"]
    text: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Card:
    title: str
    description: str = ""
    image_url: str | None = None
    actions: tuple[CardAction, ...] = ()


@dataclass(frozen=True)
class DatePicker:
    """A DatePicker (SDK ConversationContentDatePicker): `available` are ISO date-times."""

    title: str
    subtitle: str = ""
    available: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListItem:
    item_id: str
    title: str


@dataclass(frozen=True)
class ListPicker:
    """A ListPicker (SDK ConversationContentListPicker), its sections' items flattened."""

    title: str
    subtitle: str = ""
    items: tuple[ListItem, ...] = ()


@dataclass(frozen=True)
class ReceiptReason:
    code: str
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class GenesysOutbound:
    """What every payload carries; `genesys_message_id` is the dedupe and receipt key."""

    genesys_message_id: str
    genesys_integration_id: str
    genesys_conversation_id: str | None = None
    sent_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentMessage(GenesysOutbound):
    """`type: Text`. Agent media arrives this way with empty `text` (external-contracts §G6)."""

    external_user_id: str
    sender_name: str | None = None
    originating_entity: str | None = None
    text: str = ""
    attachments: tuple[OutboundAttachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AgentStructured(GenesysOutbound):
    """Quick replies and cards (a carousel's cards are flattened into `cards`); a notification
    template is folded into `text`; `unsupported` names content Slack cannot show."""

    external_user_id: str
    sender_name: str | None = None
    originating_entity: str | None = None
    text: str = ""
    attachments: tuple[OutboundAttachment, ...] = ()
    quick_replies: tuple[QuickReply, ...] = ()
    cards: tuple[Card, ...] = ()
    unsupported: tuple[str, ...] = ()
    date_pickers: tuple[DatePicker, ...] = ()
    list_pickers: tuple[ListPicker, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AgentTyping(GenesysOutbound):
    external_user_id: str
    duration_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class AgentReceipt(GenesysOutbound):
    """Genesys' own receipts: acknowledged, never shown. `external_user_id` may be absent."""

    status: str
    external_user_id: str | None = None
    reasons: tuple[ReceiptReason, ...] = ()
    is_final: bool = False
    direction: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnknownOutbound(GenesysOutbound):
    """A type or event this bridge does not handle, e.g. a Presence event
    (external-contracts §G6)."""

    type_name: str
    external_user_id: str | None = None


@dataclass(frozen=True)
class ButtonClick:
    """A Slack button press, as the answer to the Genesys message that offered the button."""

    genesys_message_id: str
    kind: ButtonKind
    payload: str
    text: str


def _opt_str(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise MalformedWebhook(f"{where} must be a string")
    return value


def _req_str(value: Any, where: str) -> str:
    text = _opt_str(value, where)
    if not text:
        raise MalformedWebhook(f"{where} is required")
    return text


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where} must be an array")
    return value


def _attachment(raw: Any, where: str) -> OutboundAttachment:
    item = _obj(raw, where)
    size = item.get("contentSizeBytes")
    return OutboundAttachment(
        url=_opt_str(item.get("url"), f"{where}.url") or None,
        filename=_opt_str(item.get("filename"), f"{where}.filename"),
        mime=_opt_str(item.get("mime"), f"{where}.mime"),
        media_type=_opt_str(item.get("mediaType"), f"{where}.mediaType"),
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def _card(raw: Any, where: str) -> Card:
    item = _obj(raw, where)
    actions: list[CardAction] = []
    for index, raw_action in enumerate(_list(item.get("actions"), f"{where}.actions")):
        at = f"{where}.actions[{index}]"
        action = _obj(raw_action, at)
        label = _opt_str(action.get("text"), f"{at}.text") or ""
        if action.get("type") == "Link":
            # A link without a URL is kept (the card still shows); rendering drops the button.
            url = _opt_str(action.get("url"), f"{at}.url") or None
            actions.append(CardAction("Link", label, url=url))
        elif action.get("type") == "Postback":
            payload = _opt_str(action.get("payload"), f"{at}.payload") or label
            actions.append(CardAction("Postback", label or payload, payload=payload))
    return Card(
        title=_opt_str(item.get("title"), f"{where}.title") or "",
        description=_opt_str(item.get("description"), f"{where}.description") or "",
        image_url=_opt_str(item.get("image"), f"{where}.image"),
        actions=tuple(actions),
    )


def _date_picker(raw: Any, where: str) -> DatePicker:
    item = _obj(raw, where)
    available: list[str] = []
    for index, slot in enumerate(_list(item.get("availableTimes"), f"{where}.availableTimes")):
        slot_at = f"{where}.availableTimes[{index}]"
        at = _opt_str(_obj(slot, slot_at).get("dateTime"), f"{slot_at}.dateTime")
        if at:
            available.append(at)
    return DatePicker(
        title=_opt_str(item.get("title"), f"{where}.title") or "",
        subtitle=_opt_str(item.get("subtitle"), f"{where}.subtitle") or "",
        available=tuple(available),
    )


def _list_picker(raw: Any, where: str) -> ListPicker:
    item = _obj(raw, where)
    items: list[ListItem] = []
    for s_index, raw_section in enumerate(_list(item.get("sections"), f"{where}.sections")):
        at = f"{where}.sections[{s_index}]"
        for i_index, raw_item in enumerate(_list(_obj(raw_section, at).get("items"), at)):
            entry = _obj(raw_item, f"{at}.items[{i_index}]")
            title = _opt_str(entry.get("title"), f"{at}.items[{i_index}].title") or ""
            item_id = _opt_str(entry.get("id"), f"{at}.items[{i_index}].id") or title
            if item_id:
                items.append(ListItem(item_id=item_id, title=title or item_id))
    return ListPicker(
        title=_opt_str(item.get("title"), f"{where}.title") or "",
        subtitle=_opt_str(item.get("subtitle"), f"{where}.subtitle") or "",
        items=tuple(items),
    )


_WORDS = ("title", "subtitle", "text", "description", "name", "address")


def _shown_words(item: dict[str, Any], text: str) -> str:
    """The words of content Slack cannot show (its title, text, description…, one level down),
    so they are shown as text; nothing already in `text` twice."""
    inner = [value for value in item.values() if isinstance(value, dict)]
    words: list[str] = []
    for part in inner[:1]:
        for key in _WORDS:
            value = part.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in text:
                words.append(value.strip()[:500])
    return "\n".join(dict.fromkeys(words))


def _template_text(template: dict[str, Any], part: str) -> str:
    section = template.get(part)
    text = section.get("text") if isinstance(section, dict) else None
    return text if isinstance(text, str) else ""


def _content_fields(content: list[dict[str, Any]], text: str) -> dict[str, Any]:
    attachments: list[OutboundAttachment] = []
    replies: list[QuickReply] = []
    cards: list[Card] = []
    date_pickers: list[DatePicker] = []
    list_pickers: list[ListPicker] = []
    unsupported: list[str] = []
    for index, item in enumerate(content):
        where = f"content[{index}]"
        content_type = item.get("contentType")
        if content_type == "Attachment":
            attachments.append(_attachment(item.get("attachment"), f"{where}.attachment"))
        elif content_type == "QuickReply":
            reply = _obj(item.get("quickReply"), f"{where}.quickReply")
            label = _opt_str(reply.get("text"), f"{where}.quickReply.text") or ""
            value = _opt_str(reply.get("payload"), f"{where}.quickReply.payload") or label
            if not value:
                raise MalformedWebhook(f"{where}.quickReply needs text or payload")
            replies.append(QuickReply(text=label or value, payload=value))
        elif content_type == "Card":
            cards.append(_card(item.get("card"), f"{where}.card"))
        elif content_type == "Carousel":
            carousel = _obj(item.get("carousel"), f"{where}.carousel")
            raw_cards = _list(carousel.get("cards"), f"{where}.carousel.cards")
            cards.extend(_card(c, f"{where}.carousel.cards[{i}]") for i, c in enumerate(raw_cards))
        elif content_type == "DatePicker":
            date_pickers.append(_date_picker(item.get("datePicker"), f"{where}.datePicker"))
        elif content_type == "ListPicker":
            picker = _list_picker(item.get("listPicker"), f"{where}.listPicker")
            if picker.items:
                list_pickers.append(picker)
            else:
                unsupported.append("ListPicker")
        elif content_type == "Notification":
            # `text` already holds the rendered body; header and footer only live here.
            template = _obj(item.get("template"), f"{where}.template")
            body_text = text or _template_text(template, "body")
            parts = (
                _template_text(template, "header"),
                body_text,
                _template_text(template, "footer"),
            )
            text = "\n".join(part for part in parts if part.strip())
        else:
            unsupported.append(str(content_type))
            shown = _shown_words(item, text)
            text = f"{text}\n{shown}" if text and shown else text or shown
    return {
        "text": text,
        "attachments": tuple(attachments),
        "quick_replies": tuple(replies),
        "cards": tuple(cards),
        "unsupported": tuple(unsupported),
        "date_pickers": tuple(date_pickers),
        "list_pickers": tuple(list_pickers),
    }


def _receipt(body: dict[str, Any], envelope: dict[str, Any], to_id: str | None) -> AgentReceipt:
    reasons = []
    for index, raw_reason in enumerate(_list(body.get("reasons"), "reasons")):
        reason = _obj(raw_reason, f"reasons[{index}]")
        code = _req_str(reason.get("code"), f"reasons[{index}].code")
        message = _opt_str(reason.get("message"), f"reasons[{index}].message")
        reasons.append(ReceiptReason(code=code, message=message))
    return AgentReceipt(
        **envelope,
        external_user_id=to_id,
        status=_req_str(body.get("status"), "status"),
        reasons=tuple(reasons),
        is_final=body.get("isFinalReceipt") is True,
        direction=_opt_str(body.get("direction"), "direction"),
    )


def _event(
    body: dict[str, Any], envelope: dict[str, Any], to_id: str
) -> AgentTyping | UnknownOutbound:
    events = _list(body.get("events"), "events")
    if not events:
        raise MalformedWebhook("events is required for an Event")
    for index, raw_event in enumerate(events):
        event = _obj(raw_event, f"events[{index}]")
        if event.get("eventType") == "Typing":
            typing = event.get("typing")
            duration = typing.get("duration") if isinstance(typing, dict) else None
            duration_ms = duration if type(duration) is int else None
            return AgentTyping(**envelope, external_user_id=to_id, duration_ms=duration_ms)
    first = _obj(events[0], "events[0]").get("eventType")
    return UnknownOutbound(**envelope, type_name=f"Event:{first}", external_user_id=to_id)


def _validated(model: type[_Model], payload: object) -> _Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise MalformedWebhook(first_problem(exc)) from None


def parse_webhook(
    payload: dict[str, Any],
) -> AgentMessage | AgentStructured | AgentTyping | AgentReceipt | UnknownOutbound:
    """Call only after the signature check; raises `MalformedWebhook` with the first problem."""
    webhook = _validated(OutboundWebhook, payload)
    channel = webhook.channel
    if channel is None:
        raise MalformedWebhook("channel must be an object")
    body: dict[str, Any] = payload
    envelope: dict[str, Any] = {
        "genesys_message_id": webhook.genesys_message_id,
        "genesys_integration_id": channel.genesys_integration_id,
        "genesys_conversation_id": webhook.genesys_conversation_id,
        "sent_at": channel.time,
    }
    type_name = webhook.type
    to = channel.to
    to_id = (_opt_str(to.get("id"), "channel.to.id") or None) if isinstance(to, dict) else None
    if type_name == "Receipt":
        return _receipt(body, envelope, to_id)
    if type_name not in ("Text", "Structured", "Event"):
        return UnknownOutbound(**envelope, type_name=type_name, external_user_id=to_id)
    external_user_id = _req_str(to_id, "channel.to.id")
    if type_name == "Event":
        return _event(body, envelope, external_user_id)
    sender = channel.sender
    # GCX samples spell it `nickName`, a real capture `nickname` (external-contracts §G6).
    name = (sender.get("nickname") or sender.get("nickName")) if isinstance(sender, dict) else None
    message = _validated(OutboundMessageFields, payload)
    text = message.text or ""
    fields = _content_fields(message.content or [], text if text.strip() else "")
    common = {
        **envelope,
        "external_user_id": external_user_id,
        "sender_name": name if isinstance(name, str) and name.strip() else None,
        "originating_entity": message.originating_entity,
    }
    structured = any(
        fields[name]
        for name in ("quick_replies", "cards", "unsupported", "date_pickers", "list_pickers")
    )
    if type_name == "Text" and not structured:
        if not (fields["text"] or fields["attachments"]):
            raise MalformedWebhook("a Text message needs text or an attachment")
        return AgentMessage(**common, text=fields["text"], attachments=fields["attachments"])
    if not any(fields.values()):
        raise MalformedWebhook("a Structured message has nothing to show")
    return AgentStructured(**common, **fields)
