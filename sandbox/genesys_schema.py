"""Request-schema checks of the Open Messaging inbound endpoints, as strict as Genesys'.

Genesys validates bodies against a JSON schema and answers 400 ErrorBody; these checks reject
what the reference says it rejects (missing `text`/`content`, nested top-level `metadata`,
values outside an enum, a missing `channel.from.id`) so the bridge meets those errors in tests
rather than in production. Field names and enums are taken from the SDK models
(external-contracts §G1).
Pure functions: no state, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.genesys_errors import ANY_OF_TEXT_CONTENT, MALFORMED, GenesysApiError, bad_request

ID_TYPES = ("Email", "Phone", "Opaque")
# Lower-case "email" is accepted in practice (external-contracts §G1), so the sim accepts it too.
ACCEPTED_ID_TYPES = (*ID_TYPES, "email")
MEDIA_TYPES = ("Image", "Video", "Audio", "File", "Link")
EVENT_TYPES = ("Typing",)
TYPING_TYPES = ("On",)
RECEIPT_STATUSES = ("Sent", "Delivered", "Read", "Failed", "Published", "Removed")
INBOUND_RECEIPT_STATUSES = ("Delivered", "Failed")
REASON_CODES = (
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
)
BUTTON_RESPONSE_TYPES = ("Button", "QuickReply", "DatePicker")
DIRECTIONS = ("Inbound", "Outbound")
LEGACY_TYPES = ("Text", "Receipt")
RECIPIENT_FIELDS = ("nickname", "id", "idType", "firstName", "lastName", "image", "email")
ATTACHMENT_FIELDS = ("id", "mediaType", "url", "mime", "text", "sha256", "filename")


def _required(field_name: str) -> GenesysApiError:
    name = field_name.rsplit(".", 1)[-1]
    return bad_request(f"should have required property '{name}'", field_name=field_name)


def _object(value: Any, field_name: str, *, required: bool = True) -> dict[str, Any] | None:
    if value is None:
        if required:
            raise _required(field_name)
        return None
    if not isinstance(value, dict):
        raise bad_request(f"{field_name} should be object", field_name=field_name)
    return value


def _string(value: Any, field_name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _required(field_name)
        return None
    if not isinstance(value, str):
        raise bad_request(f"{field_name} should be string", field_name=field_name)
    if required and not value:
        raise bad_request(
            f"{field_name} should NOT be shorter than 1 characters", field_name=field_name
        )
    return value


def _enum(value: Any, field_name: str, allowed: tuple[str, ...], *, required: bool = False) -> None:
    if value is None and not required:
        return
    if value not in allowed:
        raise bad_request(
            f"{field_name} should be equal to one of the allowed values: {', '.join(allowed)}",
            field_name=field_name,
        )


def _time(value: Any, field_name: str) -> None:
    text = _string(value, field_name)
    if text is None:
        return
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(
            f'{field_name} should match format "date-time"', field_name=field_name
        ) from None


def _string_map(value: Any, field_name: str) -> None:
    """A `dict(string -> string)`; a nested object is what makes Genesys say "malformed"."""
    mapping = _object(value, field_name, required=False)
    for key, item in (mapping or {}).items():
        if not isinstance(item, str):
            raise bad_request(MALFORMED, field_name=f"{field_name}.{key}")


def _recipient(value: Any, field_name: str) -> dict[str, Any]:
    recipient = _object(value, field_name)
    assert recipient is not None
    _string(recipient.get("id"), f"{field_name}.id", required=True)
    _enum(recipient.get("idType"), f"{field_name}.idType", ACCEPTED_ID_TYPES)
    for name in ("nickname", "firstName", "lastName", "image", "email"):
        _string(recipient.get(name), f"{field_name}.{name}")
    return recipient


def _channel(body: dict[str, Any], *, side: str) -> dict[str, Any]:
    channel = _object(body.get("channel"), "channel")
    assert channel is not None
    _recipient(channel.get(side), f"channel.{side}")
    _string(channel.get("messageId"), "channel.messageId")
    _time(channel.get("time"), "channel.time")
    metadata = _object(channel.get("metadata"), "channel.metadata", required=False)
    if metadata is not None:
        _string_map(metadata.get("customAttributes"), "channel.metadata.customAttributes")
    return channel


def _content(value: Any) -> None:
    """SDK `OpenMessageContent`: "If contentType = Attachment only one item is allowed", and
    `OpenContentAttachment` requires `mediaType`, `url` and `mime`."""
    if not isinstance(value, list):
        raise bad_request("content should be array", field_name="content")
    if len(value) > 1:
        raise bad_request(
            "content should NOT have more than 1 items: only one Attachment per message",
            field_name="content",
        )
    for index, item in enumerate(value):
        where = f"content[{index}]"
        entry = _object(item, where)
        assert entry is not None
        _enum(entry.get("contentType"), f"{where}.contentType", ("Attachment",))
        attachment = _object(entry.get("attachment"), f"{where}.attachment")
        assert attachment is not None
        _enum(
            attachment.get("mediaType"), f"{where}.attachment.mediaType", MEDIA_TYPES, required=True
        )
        for name in ("url", "mime"):
            _string(attachment.get(name), f"{where}.attachment.{name}", required=True)
        for name in ("id", "text", "sha256", "filename"):
            _string(attachment.get(name), f"{where}.attachment.{name}")


def _body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(MALFORMED)
    return body


def _text_or_content(body: dict[str, Any]) -> None:
    if "text" not in body and "content" not in body:
        raise bad_request(ANY_OF_TEXT_CONTENT)
    _string(body.get("text"), "text")
    if "content" in body:
        _content(body["content"])


def check_message(raw: Any) -> dict[str, Any]:
    """OpenInboundNormalizedMessage: `channel.from`, then `text` and/or `content`."""
    body = _body(raw)
    _channel(body, side="from")
    _text_or_content(body)
    _string_map(body.get("metadata"), "metadata")
    return body


def check_event(raw: Any) -> dict[str, Any]:
    """OpenInboundNormalizedEvent: `events[].eventType` is `Typing`, nothing else."""
    body = _body(raw)
    _channel(body, side="from")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise _required("events")
    for index, item in enumerate(events):
        event = _object(item, f"events[{index}]")
        assert event is not None
        _enum(event.get("eventType"), f"events[{index}].eventType", EVENT_TYPES, required=True)
        typing = _object(event.get("typing"), f"events[{index}].typing", required=False)
        if typing is not None:
            _enum(typing.get("type"), f"events[{index}].typing.type", TYPING_TYPES)
    return body


def check_receipt(raw: Any) -> dict[str, Any]:
    """OpenInboundNormalizedReceipt; the endpoint takes only Delivered and Failed."""
    body = _body(raw)
    _string(body.get("id"), "id", required=True)
    _channel(body, side="to")
    _enum(body.get("status"), "status", INBOUND_RECEIPT_STATUSES, required=True)
    _enum(body.get("direction"), "direction", DIRECTIONS)
    if "isFinalReceipt" in body and not isinstance(body["isFinalReceipt"], bool):
        raise bad_request("isFinalReceipt should be boolean", field_name="isFinalReceipt")
    reasons = body.get("reasons", [])
    if not isinstance(reasons, list):
        raise bad_request("reasons should be array", field_name="reasons")
    for index, item in enumerate(reasons):
        reason = _object(item, f"reasons[{index}]")
        assert reason is not None
        _enum(reason.get("code"), f"reasons[{index}].code", REASON_CODES)
        _string(reason.get("message"), f"reasons[{index}].message")
    return body


def check_structured(raw: Any) -> dict[str, Any]:
    """OpenInboundStructuredResponseMessage: the answer to a quick reply, button or date picker."""
    body = _body(raw)
    _channel(body, side="from")
    response = _object(body.get("buttonResponse"), "buttonResponse")
    assert response is not None
    _enum(response.get("type"), "buttonResponse.type", BUTTON_RESPONSE_TYPES, required=True)
    for name in ("id", "text", "payload"):
        _string(response.get(name), f"buttonResponse.{name}")
    _string(body.get("originatingMessageId"), "originatingMessageId")
    _string_map(body.get("metadata"), "metadata")
    return body


def check_legacy(raw: Any) -> dict[str, Any]:
    """OpenNormalizedMessage on the deprecated endpoint: the integration is `channel.to.id`."""
    body = _body(raw)
    channel = _channel(body, side="from")
    _recipient(channel.get("to"), "channel.to")
    _enum(body.get("type"), "type", LEGACY_TYPES, required=True)
    _enum(body.get("direction"), "direction", DIRECTIONS)
    if body["type"] == "Text":
        _text_or_content(body)
    _string_map(body.get("metadata"), "metadata")
    return body
