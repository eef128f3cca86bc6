from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from app.bridge.answers import date_choice, list_choice, parse_picker_block
from app.bridge.outbound import (
    AgentMessage,
    AgentStructured,
    ButtonClick,
    Card,
    CardAction,
    DatePicker,
    ListItem,
    ListPicker,
    OutboundAttachment,
    QuickReply,
    parse_webhook,
)
from app.bridge.rendering import (
    BUTTON_VALUE_LIMIT,
    MAX_BLOCKS,
    InvalidButtonValue,
    SlackPost,
    answered_post,
    encode_button_value,
    parse_button_value,
    to_slack_post,
)

MESSAGE_ID = "d7d58935af65a45e5234ac77de017a0a"
CUSTOMER = "T0ACME:U0JANE"
ENVELOPE: dict[str, Any] = {
    "genesys_message_id": MESSAGE_ID,
    "genesys_integration_id": "e6b352de-ecd0-49c7-94de-7787418869bc",
    "external_user_id": CUSTOMER,
}


def text_payload(text: str) -> dict[str, Any]:
    return {
        "id": MESSAGE_ID,
        "channel": {
            "id": "e6b352de-ecd0-49c7-94de-7787418869bc",
            "to": {"id": CUSTOMER, "idType": "Opaque"},
            "from": {"nickname": "Slack Bridge", "id": "e6b3", "idType": "Opaque"},
            "time": "2025-06-10T21:03:05.427Z",
        },
        "type": "Text",
        "text": text,
        "originatingEntity": "Human",
        "direction": "Outbound",
    }


def slack_unescape(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], text)


def all_mrkdwn(post: SlackPost) -> list[str]:
    """Every string Slack would parse as mrkdwn in the post."""
    texts = [post.text]
    for block in post.blocks or []:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        if block["type"] == "context":
            texts += [element["text"] for element in block["elements"]]
    return texts


def buttons(post: SlackPost) -> list[dict[str, Any]]:
    return [e for b in post.blocks or [] if b["type"] == "actions" for e in b["elements"]]


def test_plain_agent_text_is_a_plain_post_with_line_breaks() -> None:
    message = parse_webhook(text_payload("Hi Jane,\nyour order ships *today* & arrives soon"))
    assert isinstance(message, AgentMessage)

    post = to_slack_post(message, agent_name="Alex")

    assert post == SlackPost(text="Hi Jane,\nyour order ships *today* &amp; arrives soon")


@pytest.mark.parametrize(
    "attack",
    [
        "<!channel>",
        "<!here|here>",
        "<!everyone>",
        "<@U123>",
        "<@U123|admin>",
        "<#C123|general>",
        "<!subteam^S123|@oncall>",
        "<https://evil.example|click here for your refund>",
        "&lt;!channel&gt;",
        "<<!channel>>",
    ],
)
def test_agent_text_cannot_ping_mention_or_disguise_links(attack: str) -> None:
    message = parse_webhook(text_payload(f"hello {attack} bye"))
    assert isinstance(message, AgentMessage)

    post = to_slack_post(message, agent_name=None)

    assert "<" not in post.text
    assert ">" not in post.text
    assert slack_unescape(post.text) == f"hello {attack} bye"


def test_attachment_becomes_a_linked_filename() -> None:
    message = AgentMessage(
        **ENVELOPE,
        attachments=(
            OutboundAttachment(
                url="https://api-downloads.usw2.pure.cloud/api/v2/downloads/pce1234456",
                filename="file.pdf",
                size_bytes=10240,
            ),
        ),
    )

    post = to_slack_post(message, agent_name="Alex")

    assert post.text == "Alex sent file.pdf"
    assert post.blocks == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "📎 <https://api-downloads.usw2.pure.cloud/api/v2/downloads/pce1234456"
                "|file.pdf> (10 KB)",
                "verbatim": True,
            },
        }
    ]


def test_attachment_urls_and_names_cannot_break_out_of_the_link() -> None:
    message = AgentMessage(
        **ENVELOPE,
        text="see <!here>",
        attachments=(
            OutboundAttachment(url="https://x.example/a?b=1&c=<2>|3", filename="<@U1>|x>.png"),
            OutboundAttachment(url="javascript:alert(1)", filename="evil.js"),
        ),
    )

    post = to_slack_post(message, agent_name=None)
    texts = [block["text"]["text"] for block in post.blocks or []]

    assert texts == [
        "see &lt;!here&gt;",
        "📎 <https://x.example/a?b=1&amp;c=%3C2%3E%7C3|&lt;@U1&gt;|x&gt;.png>",
        "📎 evil.js (no usable link)",
    ]


def test_fallback_text_is_never_empty_and_escapes_the_agent_name() -> None:
    attachment = OutboundAttachment(url="https://x.example/f")

    nameless = to_slack_post(AgentMessage(**ENVELOPE, attachments=(attachment,)), agent_name=None)
    sneaky = to_slack_post(
        AgentMessage(**ENVELOPE, attachments=(attachment,)), agent_name="<!channel>"
    )

    assert nameless.text == "Support sent a file"
    assert sneaky.text == "&lt;!channel&gt; sent a file"


def structured(**fields: Any) -> AgentStructured:
    return AgentStructured(**ENVELOPE, **fields)


def test_quick_replies_become_buttons_that_round_trip() -> None:
    message = structured(
        text="Do you want to proceed?",
        quick_replies=(QuickReply("Yes", "yes"), QuickReply("No <!here>", "No")),
    )

    post = to_slack_post(message, agent_name=None)
    yes, no = buttons(post)

    assert post.text == "Do you want to proceed?"
    assert [yes["action_id"], no["action_id"]] == ["sb_qr_0", "sb_qr_1"]
    assert yes["text"] == {"type": "plain_text", "text": "Yes", "emoji": True}
    assert parse_button_value(yes["value"]) == ButtonClick(MESSAGE_ID, "QuickReply", "yes", "Yes")
    assert parse_button_value(no["value"]) == ButtonClick(
        MESSAGE_ID, "QuickReply", "No", "No <!here>"
    )


def test_many_quick_replies_fill_several_action_blocks_with_short_labels() -> None:
    replies = tuple(QuickReply(f"Option {n} " + "x" * 100, str(n)) for n in range(30))

    post = to_slack_post(structured(quick_replies=replies), agent_name=None)

    assert [len(b["elements"]) for b in post.blocks or [] if b["type"] == "actions"] == [25, 5]
    assert all(len(b["text"]["text"]) <= 75 for b in buttons(post))
    assert len({b["action_id"] for b in buttons(post)}) == 30


def test_cards_render_postback_and_link_buttons_with_unique_ids() -> None:
    cards = tuple(
        Card(
            title=f"Card {n} <@U1>",
            description="*great* deal",
            image_url="https://cdn.example/c.png",
            actions=(
                CardAction("Postback", f"Option{n}", payload=f"opt-{n}"),
                CardAction("Link", "Open", url=f"https://shop.example/{n}"),
                CardAction("Link", "Bad", url="slack://open"),
            ),
        )
        for n in (1, 2)
    )

    post = to_slack_post(structured(cards=cards), agent_name="Bot")
    sections = [b["text"]["text"] for b in post.blocks or [] if b["type"] == "section"]
    found = buttons(post)

    assert sections[0] == "*Card 1 &lt;@U1&gt;*\n*great* deal\n<https://cdn.example/c.png|Image>"
    assert [b["action_id"] for b in found] == ["sb_btn_0", "sb_link_0", "sb_btn_1", "sb_link_1"]
    assert found[1]["url"] == "https://shop.example/1"
    assert "value" not in found[1]
    assert parse_button_value(found[2]["value"]) == ButtonClick(
        MESSAGE_ID, "Button", "opt-2", "Option2"
    )
    assert post.text == "Bot sent: Card 1 &lt;@U1&gt;"


def test_choice_too_long_for_a_button_is_offered_as_text() -> None:
    long_payload = "p" * 3000

    post = to_slack_post(
        structured(text="Pick", quick_replies=(QuickReply("Long one", long_payload),)),
        agent_name=None,
    )

    assert buttons(post) == []
    assert post.blocks is not None
    assert post.blocks[-1]["elements"][0]["text"] == "Reply with one of: “Long one”"


def test_unsupported_content_is_mentioned() -> None:
    post = to_slack_post(structured(unsupported=("DatePicker",)), agent_name=None)

    assert post.text == "Support sent a message"
    assert post.blocks is not None
    assert "cannot be shown" in post.blocks[-1]["elements"][0]["text"]


def test_blocks_never_exceed_slacks_limit() -> None:
    cards = tuple(
        Card(title=f"Card {n}", actions=(CardAction("Postback", "Go", "go"),)) for n in range(40)
    )

    post = to_slack_post(structured(cards=cards), agent_name=None)

    assert post.blocks is not None
    assert len(post.blocks) == MAX_BLOCKS
    assert post.blocks[-1]["type"] == "context"


def test_long_text_is_split_into_sections_without_breaking_entities() -> None:
    text = ("a" * 2998 + "&") * 3

    post = to_slack_post(
        structured(text=text, quick_replies=(QuickReply("ok", "ok"),)), agent_name=None
    )
    sections = [b["text"]["text"] for b in post.blocks or [] if b["type"] == "section"]

    assert all(len(s) <= 3000 for s in sections)
    assert slack_unescape("".join(sections)) == text


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yes",
        "[]",
        "null",
        '{"v":1,"m":"abc","k":"QuickReply"}',
        '{"v":2,"m":"abc","k":"QuickReply","p":"x"}',
        '{"v":true,"m":"abc","k":"QuickReply","p":"x"}',
        '{"v":1.0,"m":"abc","k":"QuickReply","p":"x"}',
        '{"v":1,"m":"abc","k":"DatePicker","p":"x"}',
        '{"v":1,"m":"abc def","k":"QuickReply","p":"x"}',
        '{"v":1,"m":"","k":"QuickReply","p":"x"}',
        '{"v":1,"m":["abc"],"k":"QuickReply","p":"x"}',
        '{"v":1,"m":"abc","k":"QuickReply","p":{"x":1}}',
        '{"v":1,"m":"abc","k":"QuickReply","p":"x","t":5}',
        '{"v":1,"m":"abc","k":"QuickReply","p":"x","admin":true}',
        '{"v":1,"m":"abc","k":"QuickReply","p":"' + "x" * 2000 + '"}',
        "[" * 1500 + "]" * 1500,
    ],
)
def test_tampered_button_values_are_rejected(value: str) -> None:
    with pytest.raises(InvalidButtonValue):
        parse_button_value(value)


# Properties: agent text is always inert and lossless; button values always round-trip.

agent_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("<>&|!@#;\n")), max_size=2000
).filter(lambda text: text.strip() != "")


@settings(max_examples=300, deadline=None)
@given(agent_text)
def test_any_agent_text_is_rendered_inert_and_lossless(text: str) -> None:
    message = parse_webhook(text_payload(text))
    assert isinstance(message, AgentMessage)

    post = to_slack_post(message, agent_name=None)

    assert "<" not in post.text
    assert ">" not in post.text
    assert slack_unescape(post.text) == text


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=300),
    replies=st.lists(st.tuples(st.text(max_size=100), st.text(max_size=600)), max_size=8),
)
def test_any_structured_message_is_inert_and_its_buttons_round_trip(
    text: str, replies: list[tuple[str, str]]
) -> None:
    quick_replies = tuple(
        QuickReply(label or payload or "x", payload or "x") for label, payload in replies
    )
    message = structured(text=text, quick_replies=quick_replies)

    post = to_slack_post(message, agent_name=None)

    assert post.text.strip()
    for mrkdwn in all_mrkdwn(post):
        assert "<" not in mrkdwn
        assert ">" not in mrkdwn
    clicks = [parse_button_value(b["value"]) for b in buttons(post)]
    assert clicks == [
        ButtonClick(MESSAGE_ID, "QuickReply", reply.payload, reply.text) for reply in quick_replies
    ]
    assert all(len(b["value"]) <= BUTTON_VALUE_LIMIT for b in buttons(post))


@settings(max_examples=200, deadline=None)
@given(
    payload=st.text(max_size=2500),
    label=st.text(max_size=2500),
    kind=st.sampled_from(["QuickReply", "Button"]),
)
def test_encoded_button_values_fit_or_are_refused(payload: str, label: str, kind: Any) -> None:
    value = encode_button_value(
        genesys_message_id=MESSAGE_ID, kind=kind, payload=payload, text=label
    )

    if value is None:
        shortest = {"v": 1, "m": MESSAGE_ID, "k": kind, "p": payload}
        assert len(json.dumps(shortest, separators=(",", ":"), ensure_ascii=False)) > 2000
        return
    click = parse_button_value(value)
    assert len(value) <= BUTTON_VALUE_LIMIT
    assert (click.genesys_message_id, click.kind, click.payload) == (MESSAGE_ID, kind, payload)
    assert click.text in (label, payload)


def picker_elements(post: SlackPost) -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(block["block_id"]), element)
        for block in post.blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_pickers_become_a_datepicker_and_a_select_whose_choices_round_trip() -> None:
    message = structured(
        text="Let us book a call",
        date_pickers=(
            DatePicker("When?", "UTC", ("2026-12-04T10:00:00Z", "2026-12-04T12:00:00Z")),
        ),
        list_pickers=(
            ListPicker("Which plan?", "", (ListItem("basic", "Basic"), ListItem("pro", "Pro"))),
        ),
    )

    post = to_slack_post(message, agent_name=None)

    (date_block, date), (list_block, select) = picker_elements(post)
    assert date["type"] == "datepicker" and date["initial_date"] == "2026-12-04"
    assert select["type"] == "static_select"
    assert [(o["text"]["text"], o["value"]) for o in select["options"]] == [
        ("Basic", "0"),
        ("Pro", "1"),
    ]
    assert parse_picker_block(date_block, date["action_id"]) == (MESSAGE_ID, 0)
    assert parse_picker_block(list_block, select["action_id"]) == (MESSAGE_ID, 0)
    picked = date_choice(message, 0, "2026-12-04")
    assert (picked.kind, picked.payload) == ("DatePicker", "2026-12-04T10:00:00Z")
    assert picked.text == "2026-12-04 10:00 UTC"
    assert date_choice(message, 0, "2026-12-09").payload == "2026-12-09"
    chosen = list_choice(message, 0, "1")
    assert (chosen.kind, chosen.text, chosen.payload) == ("Button", "Pro", "pro")
    for index, value in ((0, "2"), (1, "0"), (0, "-1")):
        with pytest.raises(InvalidButtonValue):
            list_choice(message, index, value)
    with pytest.raises(InvalidButtonValue):
        date_choice(message, 0, "tomorrow")
    with pytest.raises(InvalidButtonValue):
        parse_picker_block(f"sb_list_0:{MESSAGE_ID}", "sb_date_0")


def test_an_answered_message_keeps_its_words_loses_its_buttons_and_says_who_chose_what() -> None:
    message = structured(
        text="Did that help?",
        quick_replies=(QuickReply("Yes <!channel>", "yes"), QuickReply("No", "no")),
    )

    post = answered_post(message, agent_name=None, chosen="Yes <!channel>", slack_user_id="U0JANE")

    assert post.blocks is not None
    assert "actions" not in [block["type"] for block in post.blocks]
    shown = all_mrkdwn(post)
    assert "Did that help?" in shown[0]
    assert shown[-1] == "✅ <@U0JANE> chose *Yes &lt;!channel&gt;*"
    forged = answered_post(message, agent_name=None, chosen="x", slack_user_id="<!here>")
    assert all_mrkdwn(forged)[-1] == "✅ Someone chose *x*"


def test_an_answered_card_keeps_its_link_buttons_only() -> None:
    card = Card(
        "Plan",
        actions=(
            CardAction("Postback", "Buy", payload="buy"),
            CardAction("Link", "Read more", url="https://example.com/plan"),
        ),
    )

    post = answered_post(
        structured(cards=(card,)), agent_name=None, chosen="Buy", slack_user_id="U0JANE"
    )

    kept = buttons(post)
    assert [(b["text"]["text"], b.get("url")) for b in kept] == [
        ("Read more", "https://example.com/plan")
    ]
