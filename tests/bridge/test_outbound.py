from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from app.bridge.outbound import (
    AgentMessage,
    AgentReceipt,
    AgentStructured,
    AgentTyping,
    Card,
    CardAction,
    DatePicker,
    MalformedWebhook,
    OutboundAttachment,
    QuickReply,
    ReceiptReason,
    UnknownOutbound,
    parse_webhook,
)

INTEGRATION = "e6b352de-ecd0-49c7-94de-7787418869bc"
CONVERSATION = "5d0d331e-d2a8-4fb5-96f7-7021bef2a8ee"
MESSAGE_ID = "d7d58935af65a45e5234ac77de017a0a"
CUSTOMER = "T0ACME:C0SUPPORT:1718053401.000200"


def payload(type_: str = "Text", *, sender: str = "nickname", **fields: Any) -> dict[str, Any]:
    """The common envelope of external-contracts §G6, as captured from real traffic."""
    return {
        "id": MESSAGE_ID,
        "channel": {
            "id": INTEGRATION,
            "platform": "Open",
            "type": "Private",
            "to": {"id": CUSTOMER, "idType": "Opaque"},
            "from": {sender: "Slack Bridge", "id": INTEGRATION, "idType": "Opaque"},
            "time": "2025-06-10T21:03:05.427Z",
            "messageId": MESSAGE_ID,
        },
        "type": type_,
        "direction": "Outbound",
        "conversationId": CONVERSATION,
        **fields,
    }


ENVELOPE: dict[str, Any] = {
    "genesys_message_id": MESSAGE_ID,
    "genesys_integration_id": INTEGRATION,
    "genesys_conversation_id": CONVERSATION,
    "sent_at": "2025-06-10T21:03:05.427Z",
}


def test_agent_text() -> None:
    parsed = parse_webhook(payload(text="Hi\nhow can I help?", originatingEntity="Human"))

    assert parsed == AgentMessage(
        **ENVELOPE,
        external_user_id=CUSTOMER,
        sender_name="Slack Bridge",
        originating_entity="Human",
        text="Hi\nhow can I help?",
    )


def test_gcx_spelling_of_the_sender_nickname_is_read_too() -> None:
    parsed = parse_webhook(payload(sender="nickName", text="Hi", content=[], reasons=[]))

    assert isinstance(parsed, AgentMessage)
    assert parsed.sender_name == "Slack Bridge"


def test_attachment_only_message_arrives_as_text_without_text() -> None:
    attachment = {
        "id": "8b36304e-ad42-4e7d-ac35-978a019514eb",
        "mediaType": "File",
        "url": "https://api-downloads.usw2.pure.cloud/api/v2/downloads/pce1234456",
        "mime": "application/pdf",
        "filename": "file.pdf",
        "contentSizeBytes": 10240,
    }
    parsed = parse_webhook(
        payload(content=[{"contentType": "Attachment", "attachment": attachment}])
    )

    assert isinstance(parsed, AgentMessage)
    assert parsed.text == ""
    assert parsed.attachments == (
        OutboundAttachment(
            url="https://api-downloads.usw2.pure.cloud/api/v2/downloads/pce1234456",
            filename="file.pdf",
            mime="application/pdf",
            media_type="File",
            size_bytes=10240,
        ),
    )


def test_quick_replies() -> None:
    content = [
        {
            "contentType": "QuickReply",
            "quickReply": {"text": "Yes", "payload": "yes", "action": "Message"},
        },
        {"contentType": "QuickReply", "quickReply": {"text": "No", "action": "Message"}},
    ]

    parsed = parse_webhook(
        payload(
            "Structured", text="Do you want to proceed?", originatingEntity="Bot", content=content
        )
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.text == "Do you want to proceed?"
    assert parsed.originating_entity == "Bot"
    assert parsed.quick_replies == (QuickReply("Yes", "yes"), QuickReply("No", "No"))


def test_card_with_postback_and_link_actions() -> None:
    card = {
        "title": "Order 42",
        "description": "Shipped",
        "image": "https://cdn.example/42.png",
        "defaultAction": {"type": "Link", "url": "https://shop.example/42"},
        "actions": [
            {"type": "Postback", "text": "Track", "payload": "track-42"},
            {"type": "Link", "text": "Open", "url": "https://shop.example/42"},
            {"type": "Teleport", "text": "ignored"},
        ],
    }

    parsed = parse_webhook(payload("Structured", content=[{"contentType": "Card", "card": card}]))

    assert isinstance(parsed, AgentStructured)
    assert parsed.cards == (
        Card(
            title="Order 42",
            description="Shipped",
            image_url="https://cdn.example/42.png",
            actions=(
                CardAction("Postback", "Track", payload="track-42"),
                CardAction("Link", "Open", url="https://shop.example/42"),
            ),
        ),
    )


def test_carousel_cards_are_flattened() -> None:
    cards = [
        {"title": f"Card {n}", "actions": [{"type": "Postback", "text": f"Option{n}"}]}
        for n in (1, 2, 3)
    ]

    parsed = parse_webhook(
        payload("Structured", content=[{"contentType": "Carousel", "carousel": {"cards": cards}}])
    )

    assert isinstance(parsed, AgentStructured)
    assert [c.title for c in parsed.cards] == ["Card 1", "Card 2", "Card 3"]
    assert parsed.cards[0].actions == (CardAction("Postback", "Option1", payload="Option1"),)


def test_notification_template_is_folded_into_the_text() -> None:
    template = {
        "header": {"text": "Hello"},
        "body": {
            "text": "Hi Happy, How can I help you?",
            "parameters": [{"name": "n", "text": "Happy"}],
        },
        "footer": {"text": "Goodbye"},
    }

    parsed = parse_webhook(
        payload(
            "Structured",
            text="Hi Happy, How can I help you?",
            content=[{"contentType": "Notification", "template": template}],
        )
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.text == "Hello\nHi Happy, How can I help you?\nGoodbye"


def test_content_slack_cannot_show_is_named() -> None:
    parsed = parse_webhook(
        payload("Structured", content=[{"contentType": "QuickReplyV2", "quickReplyV2": {}}])
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.unsupported == ("QuickReplyV2",)


def test_the_words_of_content_slack_cannot_show_are_shown_as_text() -> None:
    location = {"name": "Head office", "address": "1 Main St", "latitude": 1.5}
    form = {"title": "Tell us more", "pages": [{"title": "deep, not shown"}]}

    parsed = parse_webhook(
        payload(
            "Structured",
            text="Find us here",
            content=[
                {"contentType": "Location", "location": location},
                {"contentType": "Form", "form": form},
                {"contentType": "RichLink", "richLink": {"title": "Find us here"}},
            ],
        )
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.unsupported == ("Location", "Form", "RichLink")
    assert parsed.text == "Find us here\nHead office\n1 Main St\nTell us more"


def test_date_and_list_pickers_are_parsed() -> None:
    date = {"title": "When?", "availableTimes": [{"dateTime": "2025-05-30T12:00:00.000Z"}]}
    listed = {
        "title": "Which plan?",
        "sections": [
            {"title": "A", "items": [{"id": "basic", "title": "Basic"}]},
            {"title": "B", "items": [{"id": "pro", "title": "Pro"}, {"title": "Team"}]},
        ],
    }
    empty = {"title": "Nothing to pick", "sections": []}

    parsed = parse_webhook(
        payload(
            "Structured",
            content=[
                {"contentType": "DatePicker", "datePicker": date},
                {"contentType": "ListPicker", "listPicker": listed},
                {"contentType": "ListPicker", "listPicker": empty},
            ],
        )
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.date_pickers == (DatePicker("When?", "", ("2025-05-30T12:00:00.000Z",)),)
    [picker] = parsed.list_pickers
    assert [(i.item_id, i.title) for i in picker.items] == [
        ("basic", "Basic"),
        ("pro", "Pro"),
        ("Team", "Team"),
    ]
    assert parsed.unsupported == ("ListPicker",)


def test_agent_typing() -> None:
    events = [{"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}]

    parsed = parse_webhook(payload("Event", events=events))

    assert parsed == AgentTyping(**ENVELOPE, external_user_id=CUSTOMER, duration_ms=5000)


def test_event_other_than_typing_is_unknown_but_acknowledged() -> None:
    parsed = parse_webhook(payload("Event", events=[{"eventType": "Presence"}]))

    assert parsed == UnknownOutbound(
        **ENVELOPE, type_name="Event:Presence", external_user_id=CUSTOMER
    )


def test_failed_receipt() -> None:
    reasons = [{"code": "GeneralError", "message": "Slack API error: channel_not_found"}]

    parsed = parse_webhook(
        payload("Receipt", status="Failed", reasons=reasons, isFinalReceipt=True)
    )

    assert parsed == AgentReceipt(
        **ENVELOPE,
        external_user_id=CUSTOMER,
        status="Failed",
        reasons=(ReceiptReason("GeneralError", "Slack API error: channel_not_found"),),
        is_final=True,
        direction="Outbound",
    )


def test_receipt_without_a_recipient_is_still_understood() -> None:
    body = payload("Receipt", status="Published", direction="Inbound")
    del body["channel"]["to"]

    parsed = parse_webhook(body)

    assert isinstance(parsed, AgentReceipt)
    assert parsed.external_user_id is None
    assert not parsed.is_final


@pytest.mark.parametrize("type_name", ["Message", "Unknown", "Hologram"])
def test_unknown_types_are_named(type_name: str) -> None:
    parsed = parse_webhook(payload(type_name))

    assert parsed == UnknownOutbound(**ENVELOPE, type_name=type_name, external_user_id=CUSTOMER)


def _without(path: str) -> dict[str, Any]:
    body = copy.deepcopy(payload(text="Hi"))
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    del target[last]
    return body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not a dict", "payload must be an object"),
        (_without("id"), "id is required"),
        (_without("channel"), "channel must be an object"),
        (_without("channel.id"), "channel.id is required"),
        (_without("type"), "type is required"),
        (_without("channel.to"), "channel.to.id is required"),
        (_without("channel.to.id"), "channel.to.id is required"),
        (_without("text"), "a Text message needs text or an attachment"),
        (payload(text="   "), "a Text message needs text or an attachment"),
        (payload(id=42, text="Hi"), "id must be a string"),
        (payload(text=["Hi"]), "text must be a string"),
        (payload(content={"contentType": "Attachment"}), "content must be an array"),
        (payload(content=["x"]), "content[0] must be an object"),
        (payload("Structured"), "a Structured message has nothing to show"),
        (payload("Event"), "events is required for an Event"),
        (payload("Receipt"), "status is required"),
    ],
)
def test_malformed_payloads_say_what_is_wrong(body: Any, problem: str) -> None:
    with pytest.raises(MalformedWebhook, match=re.escape(problem)):
        parse_webhook(body)


def test_message_fields_are_checked_only_on_messages() -> None:
    """A receipt, an event or an unknown type is acknowledged whatever fields it also has;
    only `Text` and `Structured` are held to `text`, `content` and `originatingEntity`."""
    receipt = parse_webhook(payload("Receipt", status="Delivered", text=5, content="x"))
    unknown = parse_webhook(payload("Hologram", text=["x"], originatingEntity=7))

    assert isinstance(receipt, AgentReceipt)
    assert unknown == UnknownOutbound(**ENVELOPE, type_name="Hologram", external_user_id=CUSTOMER)
    with pytest.raises(MalformedWebhook, match=re.escape("originatingEntity must be a string")):
        parse_webhook(payload(text="Hi", originatingEntity=7))


def test_attachments_and_card_links_without_a_url_are_accepted() -> None:
    parsed = parse_webhook(
        payload(
            "Structured",
            text="",
            content=[
                {"contentType": "Attachment", "attachment": {"filename": "a.png"}},
                {
                    "contentType": "Card",
                    "card": {"title": "T", "actions": [{"type": "Link", "text": "Open"}]},
                },
            ],
        )
    )

    assert isinstance(parsed, AgentStructured)
    assert parsed.attachments[0].url is None
    assert parsed.cards[0].actions[0] == CardAction("Link", "Open", url=None)
