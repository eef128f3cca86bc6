from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from app.bridge.inbound import (
    CONTINUATION_ATTRIBUTE,
    CONTINUATION_NOTE,
    DELETE_NOTE,
    MAX_TEXT_LENGTH,
    SHORTENED_MARK,
    SlackContext,
    format_genesys_time,
    media_type_for,
    message_parts,
    shorten,
    slack_error_to_reason,
    slack_mrkdwn_to_text,
    slack_ts_to_datetime,
    to_attachment_message,
    to_open_message,
    to_receipt,
    to_structured_response,
    utf16_length,
)
from app.bridge.outbound import ButtonClick
from app.bridge.routing import (
    SlackConversationRef,
    SlackFile,
    SlackMessage,
    external_message_id,
    parse_slack_event,
)
from app.slack.directory import SlackProfile

TEAM = "T0ACME"
JANE = "U0JANE"
TS = "1718053401.000200"
CONTEXT = SlackContext(
    team_name="Acme", channel_name="support", permalink="https://acme.slack.com/archives/C0/p1"
)
PROFILE = SlackProfile(
    first_name="Jane",
    last_name="Doe",
    nickname="jane",
    email="jane@example.com",
    image="https://avatars.slack-edge.com/jane_192.png",
)
AT = datetime(2025, 6, 10, 21, 3, 25, 100_000, tzinfo=UTC)

# Field enums from the SDK models (external-contracts §G1).
ID_TYPES = {"Email", "Phone", "Opaque"}
MEDIA_TYPES = {"Image", "Video", "Audio", "File", "Link"}
RECIPIENT_FIELDS = {"id", "idType", "nickname", "firstName", "lastName", "image", "email"}
ATTACHMENT_FIELDS = {"id", "mediaType", "url", "mime", "text", "sha256", "filename"}


def assert_valid_inbound_message(body: dict[str, Any]) -> None:
    """OpenInboundNormalizedMessage as Genesys validates it (external-contracts §G1)."""
    assert set(body) <= {"channel", "text", "content", "metadata"}
    channel = body["channel"]
    assert set(channel) <= {"messageId", "time", "from", "metadata"}
    assert isinstance(channel["messageId"], str)
    assert channel["messageId"]
    assert channel["time"].endswith("Z")
    datetime.fromisoformat(channel["time"])
    sender = channel["from"]
    assert set(sender) <= RECIPIENT_FIELDS
    assert isinstance(sender["id"], str)
    assert sender["id"]
    assert sender["idType"] in ID_TYPES
    assert all(isinstance(v, str) and v.strip() for v in sender.values())
    attributes = channel["metadata"]["customAttributes"]
    assert set(channel["metadata"]) == {"customAttributes"}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
    assert all(isinstance(v, str) for v in body.get("metadata", {}).values())
    assert "text" in body or body.get("content")
    if "text" in body:
        assert isinstance(body["text"], str)
        assert body["text"].strip()
        assert len(body["text"]) <= MAX_TEXT_LENGTH
    # SDK OpenMessageContent: one Attachment per message; OpenContentAttachment: mime required.
    assert len(body.get("content", [])) <= 1
    for item in body.get("content", []):
        assert item["contentType"] == "Attachment"
        assert item["attachment"]["mime"]
        assert item["attachment"]["url"]
        attachment = item["attachment"]
        assert set(attachment) <= ATTACHMENT_FIELDS
        assert attachment["mediaType"] in MEDIA_TYPES
        assert all(isinstance(v, str) for v in attachment.values())


def message(**fields: Any) -> SlackMessage:
    values: dict[str, Any] = {
        "kind": "message",
        "conversation": SlackConversationRef.dm(slack_scope_id=TEAM, slack_user_id=JANE),
        "slack_team_id": TEAM,
        "slack_enterprise_id": None,
        "slack_channel_id": "D0JANE",
        "slack_user_id": JANE,
        "text": "Hello, I need help with my order",
        "ts": TS,
        "thread_ts": None,
        "occurred_ts": TS,
    }
    return SlackMessage(**(values | fields))


def open_message(msg: SlackMessage, **options: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {"profile": PROFILE, "context": CONTEXT} | options
    body = to_open_message(msg, message_id=external_message_id(msg), **merged)
    assert_valid_inbound_message(body)
    return body


def test_dm_body_matches_the_documented_shape() -> None:
    body = open_message(message())

    assert body == {
        "channel": {
            "messageId": f"{TEAM}:D0JANE:{TS}",
            "time": "2024-06-10T21:03:21.000Z",
            "from": {
                "id": f"{TEAM}:{JANE}",
                "idType": "Opaque",
                "nickname": "jane",
                "firstName": "Jane",
                "lastName": "Doe",
                "email": "jane@example.com",
                "image": "https://avatars.slack-edge.com/jane_192.png",
            },
            "metadata": {
                "customAttributes": {
                    "slackWorkspaceId": TEAM,
                    "slackWorkspace": "Acme",
                    "slackChannelId": "D0JANE",
                    "slackChannel": "support",
                    "slackPermalink": "https://acme.slack.com/archives/C0/p1",
                    "slackUserId": JANE,
                    "slackSharedChannel": "false",
                    "slackConversationKind": "dm",
                }
            },
        },
        "text": "Hello, I need help with my order",
    }


def test_thread_message_is_from_the_thread_and_says_so() -> None:
    thread = SlackConversationRef.thread(
        slack_scope_id=TEAM, slack_channel_id="C0SUPPORT", slack_thread_ts=TS
    )
    body = open_message(message(conversation=thread, slack_channel_id="C0SUPPORT"))

    assert body["channel"]["from"]["id"] == f"{TEAM}:C0SUPPORT:{TS}"
    assert body["channel"]["metadata"]["customAttributes"]["slackConversationKind"] == "thread"


def test_absent_or_blank_profile_fields_are_omitted() -> None:
    profile = SlackProfile(first_name="  ", nickname="jane", email="not-an-email", image="avatar")

    sender = open_message(message(), profile=profile)["channel"]["from"]

    assert sender == {"id": f"{TEAM}:{JANE}", "idType": "Opaque", "nickname": "jane"}
    assert open_message(message(), profile=None)["channel"]["from"] == {
        "id": f"{TEAM}:{JANE}",
        "idType": "Opaque",
    }


@pytest.mark.parametrize(
    ("context", "envelope_shared", "expected"),
    [
        (SlackContext(is_shared=True), False, "true"),
        (SlackContext(is_shared=False), True, "false"),
        (SlackContext(), True, "true"),
        (SlackContext(), False, "false"),
    ],
)
def test_shared_channel_flag_is_a_string(
    context: SlackContext, envelope_shared: bool, expected: str
) -> None:
    body = open_message(message(is_ext_shared_channel=envelope_shared), context=context)

    assert body["channel"]["metadata"]["customAttributes"]["slackSharedChannel"] == expected


def test_custom_attributes_drop_empty_values_and_cap_long_ones() -> None:
    context = SlackContext(team_name="", channel_name="x" * 1000, permalink="javascript:alert(1)")

    attributes = open_message(message(), context=context)["channel"]["metadata"]["customAttributes"]

    assert "slackWorkspace" not in attributes
    assert "slackPermalink" not in attributes
    assert len(attributes["slackChannel"]) == 256


@pytest.mark.parametrize(
    ("mrkdwn", "expected"),
    [
        ("hi <@U0BOB>", "hi @Bob Smith"),
        ("hi <@U0EVE>", "hi @U0EVE"),
        ("hi <@U0EVE|eve>", "hi @eve"),
        ("see <#C0GEN|general>", "see #general"),
        ("see <#C0GEN>", "see #C0GEN"),
        ("<http://x.example|label>", "label (http://x.example)"),
        ("<https://x.example/a?b=1&amp;c=2>", "https://x.example/a?b=1&c=2"),
        ("<https://x.example|https://x.example>", "https://x.example"),
        ("<mailto:jane@example.com|jane@example.com>", "jane@example.com"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S0OPS|@ops>", "@ops"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("a &amp; b &lt;c&gt; &amp;lt;", "a & b <c> &lt;"),
        ("*bold* _it_ ~st~\nline two", "*bold* _it_ ~st~\nline two"),
    ],
)
def test_mrkdwn_becomes_readable_text(mrkdwn: str, expected: str) -> None:
    assert slack_mrkdwn_to_text(mrkdwn, user_names={"U0BOB": "Bob Smith"}) == expected


def test_text_mentions_use_the_name_map() -> None:
    body = open_message(message(text="ask <@U0BOB>"), user_names={"U0BOB": "Bob"})

    assert body["text"] == "ask @Bob"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("1718053401.000200", "2024-06-10T21:03:21.000Z"),
        ("1718053401.123456", "2024-06-10T21:03:21.123Z"),
        ("1718053401", "2024-06-10T21:03:21.000Z"),
        ("0.999", "1970-01-01T00:00:00.999Z"),
    ],
)
def test_slack_ts_becomes_genesys_time(ts: str, expected: str) -> None:
    assert format_genesys_time(slack_ts_to_datetime(ts)) == expected


def test_genesys_time_is_utc_and_refuses_naive_times() -> None:
    plus_two = datetime(2025, 6, 10, 23, 3, 25, 100_000, tzinfo=timezone(timedelta(hours=2)))

    assert format_genesys_time(plus_two) == "2025-06-10T21:03:25.100Z"
    with pytest.raises(ValueError):
        format_genesys_time(datetime(2025, 6, 10, 21, 3, 25))


@pytest.mark.parametrize(
    ("mime", "media_type"),
    [
        ("image/png", "Image"),
        ("IMAGE/JPEG", "Image"),
        ("video/mp4", "Video"),
        ("audio/mpeg", "Audio"),
        ("application/pdf", "File"),
        ("text/plain", "File"),
        (None, "File"),
    ],
)
def test_media_type_follows_the_mime_type(mime: str | None, media_type: str) -> None:
    assert media_type_for(mime) == media_type


URL = "https://sb.example/files/t/F0PNG?expires=1&sig=x"


def attachment_message(msg: SlackMessage, file: SlackFile, **options: Any) -> dict[str, Any]:
    body = to_attachment_message(
        msg, file, profile=PROFILE, context=CONTEXT, message_id="m:file:1", url=URL, **options
    )
    assert_valid_inbound_message(body)
    return body


def test_a_file_is_a_message_of_its_own_with_one_attachment() -> None:
    file = SlackFile("F0PNG", name="shot.png", mimetype="image/png")

    body = attachment_message(message(text="", files=(file,)), file)

    assert "text" not in body
    assert body["channel"]["messageId"] == "m:file:1"
    assert body["content"] == [
        {
            "contentType": "Attachment",
            "attachment": {
                "mediaType": "Image",
                "url": URL,
                "mime": "image/png",
                "filename": "shot.png",
            },
        }
    ]


def test_an_attachment_always_has_a_mime_type_and_a_name() -> None:
    file = SlackFile("F0STUB", needs_file_info=True)

    attachment = attachment_message(message(files=(file,)), file)["content"][0]["attachment"]

    assert attachment["mime"] == "application/octet-stream"
    assert attachment["mediaType"] == "File"
    assert attachment["filename"] == "a file"


def test_an_attachment_needs_a_web_url() -> None:
    file = SlackFile("F0C", name="c.png")
    with pytest.raises(ValueError):
        to_attachment_message(
            message(files=(file,)),
            file,
            profile=None,
            context=CONTEXT,
            message_id="m",
            url="file:///etc/passwd",
        )


def test_parts_are_the_text_then_each_file_in_order() -> None:
    files = (SlackFile("F0A", name="a.png"), SlackFile("F0B", name="b.pdf"))

    parts = message_parts(message(text="see attached", files=files))

    assert [(p.index, p.kind, p.file.slack_file_id if p.file else None) for p in parts] == [
        (0, "text", None),
        (1, "file", "F0A"),
        (2, "file", "F0B"),
    ]


def test_files_alone_send_no_text_part() -> None:
    parts = message_parts(message(text="", files=(SlackFile("F0A", name="a.png"),)))

    assert [p.kind for p in parts] == ["file"]


def test_a_refused_file_is_named_for_the_agent_and_the_customer_told() -> None:
    files = (
        SlackFile("F0A", name="a.pdf"),
        SlackFile("F0B", name="huge.mov", size=30_000_000),
        SlackFile("F0C", name="c.png"),
    )
    msg = message(text="see attached", files=files)
    refused = {"F0B": "too_large"}

    parts = message_parts(msg, refused)
    body = open_message(msg, refused=refused)

    assert [p.kind for p in parts] == ["text", "file", "file", "notice"]
    assert [p.file.name for p in parts if p.file] == ["a.pdf", "c.png"]
    assert "content" not in body
    assert body["text"] == (
        "see attached\n📎 The customer attached huge.mov (over the 25 MB limit), "
        "which could not be passed on."
    )


def test_only_refused_files_still_send_text() -> None:
    msg = message(text="", files=(SlackFile("F0A", name="a.pdf"),))
    body = open_message(msg, refused={"F0A": "too_large"})

    assert [p.kind for p in message_parts(msg, {"F0A": "too_large"})] == ["text", "notice"]
    assert body["text"].startswith("📎 The customer attached a.pdf")


def test_edit_and_delete_are_marked_for_the_agent() -> None:
    edited = open_message(message(kind="edit", text="order *42*", occurred_ts="1718053500.0"))
    deleted = open_message(message(kind="delete", text="", occurred_ts="1718053600.0"))

    assert edited["text"] == "✏️ Edited: order *42*"
    assert edited["channel"]["time"] == "2024-06-10T21:05:00.000Z"
    assert deleted["text"] == DELETE_NOTE == "🗑️ The customer deleted a message."


def test_long_text_is_capped_with_a_marker() -> None:
    body = open_message(message(text="x" * 10_000))

    assert len(body["text"]) == MAX_TEXT_LENGTH
    assert body["text"].endswith("x" + SHORTENED_MARK)


def test_long_text_is_measured_in_utf16_units_and_never_splits_a_pair() -> None:
    body = open_message(message(text="\U0001f600" * 3000))

    assert utf16_length(body["text"]) <= MAX_TEXT_LENGTH
    assert body["text"].endswith("\U0001f600" + SHORTENED_MARK)
    assert shorten("\U0001f600" * 20, len(SHORTENED_MARK) + 3) == "\U0001f600" + SHORTENED_MARK
    assert shorten("fits", 4) == "fits"


def test_cap_keeps_the_missing_file_note() -> None:
    body = open_message(
        message(text="y" * 10_000, files=(SlackFile("F0A", name="a.pdf"),)),
        refused={"F0A": "too_large"},
    )

    assert len(body["text"]) <= MAX_TEXT_LENGTH
    assert body["text"].endswith("a.pdf (over the 25 MB limit), which could not be passed on.")
    assert "y" + SHORTENED_MARK + "\n📎" in body["text"]


def test_a_moved_conversation_tells_the_agent_once_with_the_permalink() -> None:
    link = "https://acme.slack.com/archives/C0/p1"
    moved = SlackContext(team_name="Acme", permalink=link, continues=True)

    body = open_message(message(), context=moved)

    assert body["text"] == f"{CONTINUATION_NOTE} {link}\nHello, I need help with my order"
    assert body["channel"]["metadata"]["customAttributes"][CONTINUATION_ATTRIBUTE] == "true"
    plain = open_message(message())
    assert plain["text"] == "Hello, I need help with my order"
    assert CONTINUATION_ATTRIBUTE not in plain["channel"]["metadata"]["customAttributes"]


def test_the_continuation_note_skips_a_link_that_is_not_a_web_url_and_keeps_the_cap() -> None:
    moved = SlackContext(permalink="javascript:alert(1)", continues=True)

    body = open_message(message(text="z" * 10_000), context=moved)

    assert body["text"].startswith(f"{CONTINUATION_NOTE}\nzzz")
    assert len(body["text"]) == MAX_TEXT_LENGTH
    deleted = open_message(message(kind="delete", text=""), context=moved)
    assert deleted["text"] == f"{CONTINUATION_NOTE}\n{DELETE_NOTE}"


def test_structured_response_answers_the_originating_message() -> None:
    click = ButtonClick("d7d58935af65a45e5234ac77de017a0a", "QuickReply", payload="yes", text="Yes")

    body = to_structured_response(
        click, external_user_id=f"{TEAM}:{JANE}", message_id="m-3", time=AT
    )

    assert body == {
        "channel": {
            "messageId": "m-3",
            "time": "2025-06-10T21:03:25.100Z",
            "from": {"id": f"{TEAM}:{JANE}", "idType": "Opaque"},
        },
        "buttonResponse": {"type": "QuickReply", "text": "Yes", "payload": "yes"},
        "originatingMessageId": "d7d58935af65a45e5234ac77de017a0a",
    }


def test_delivered_receipt() -> None:
    body = to_receipt("d7d5", external_user_id=f"{TEAM}:{JANE}", delivered=True, time=AT)

    assert body == {
        "id": "d7d5",
        "channel": {
            "to": {"id": f"{TEAM}:{JANE}", "idType": "Opaque"},
            "time": "2025-06-10T21:03:25.100Z",
        },
        "status": "Delivered",
        "direction": "Outbound",
        "isFinalReceipt": True,
    }


def test_failed_receipt_carries_the_reason() -> None:
    code, text = slack_error_to_reason("channel_not_found")

    body = to_receipt(
        "d7d5",
        external_user_id=f"{TEAM}:{JANE}",
        delivered=False,
        reason_code=code,
        reason_message=text,
        time=AT,
    )

    assert body["status"] == "Failed"
    assert body["reasons"] == [
        {"code": "InvalidDestination", "message": "Slack API error: channel_not_found"}
    ]


def test_failed_receipt_defaults_to_general_error() -> None:
    body = to_receipt("d7d5", external_user_id="T0:U0", delivered=False, time=AT)

    assert body["reasons"] == [{"code": "GeneralError"}]


@pytest.mark.parametrize(
    "options",
    [
        {"delivered": False, "reason_code": "SlackSaidNo"},
        {"delivered": True, "reason_code": "GeneralError"},
        {"delivered": True, "reason_message": "but why"},
    ],
)
def test_receipt_refuses_what_genesys_would_reject(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        to_receipt("d7d5", external_user_id="T0:U0", time=AT, **options)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("channel_not_found", "InvalidDestination"),
        ("is_archived", "InvalidDestination"),
        ("not_in_channel", "InvalidDestination"),
        ("account_inactive", "RecipientOptedOut"),
        ("token_revoked", "RecipientOptedOut"),
        ("invalid_auth", "GeneralError"),
        ("ratelimited", "RateLimited"),
        ("msg_too_long", "InvalidMessageStructure"),
        ("restricted_action", "MessageNotAllowed"),
        ("internal_error", "ServerError"),
        ("something_new", "GeneralError"),
    ],
)
def test_slack_errors_map_to_reason_codes(error: str, code: str) -> None:
    assert slack_error_to_reason(error) == (code, f"Slack API error: {error}")


def test_slack_error_text_is_sanitised() -> None:
    assert slack_error_to_reason("<b>Bad</b> thing!") == (
        "GeneralError",
        "Slack API error: bbadbthing",
    )
    assert slack_error_to_reason("") == ("GeneralError", "Slack API error: unknown_error")


# Property: whatever a person types, a forwarded Slack event becomes a schema-valid body.

slack_ids = st.from_regex(r"[A-Z][A-Z0-9]{2,10}", fullmatch=True)
slack_ts = st.builds(
    lambda seconds, micros: f"{seconds}.{micros:06d}",
    st.integers(1_000_000_000, 2_000_000_000),
    st.integers(0, 999_999),
)
slack_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("<>&|@#!*_~\n ")),
    max_size=300,
)
slack_files = st.lists(
    st.fixed_dictionaries(
        {"id": slack_ids},
        optional={
            "name": st.text(max_size=40),
            "mimetype": st.sampled_from(["image/png", "video/mp4", "audio/ogg", "application/pdf"]),
            "size": st.integers(0, 10**9),
            "url_private_download": st.just("https://files.slack.com/x"),
            "file_access": st.sampled_from(["visible", "check_file_info"]),
        },
    ),
    max_size=3,
)


@st.composite
def slack_events(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    ts = draw(slack_ts)
    event: dict[str, Any] = {
        "user": draw(slack_ids),
        "text": draw(slack_text),
        "ts": ts,
        "channel": draw(slack_ids),
        "event_ts": ts,
    }
    if draw(st.booleans()):
        event["type"] = "app_mention"
        event["text"] = "<@U0BOT> " + event["text"]
    else:
        event |= {"type": "message", "channel_type": "im"}
    if draw(st.booleans()):
        event["thread_ts"] = draw(slack_ts)
    files: list[dict[str, Any]] = draw(slack_files)
    if files:
        event |= {"files": files, "subtype": draw(st.sampled_from([None, "file_share"]))}
    refused: dict[str, str] = {
        f["id"]: draw(st.sampled_from(["too_large", "not_hosted"]))
        for f in files
        if draw(st.booleans())
    }
    envelope: dict[str, Any] = {
        "team_id": draw(slack_ids),
        "event": event,
        "is_ext_shared_channel": draw(st.booleans()),
    }
    return envelope, refused


profiles = st.one_of(
    st.none(),
    st.builds(
        SlackProfile,
        first_name=st.one_of(st.none(), st.text(max_size=20)),
        last_name=st.one_of(st.none(), st.text(max_size=20)),
        nickname=st.one_of(st.none(), st.text(max_size=20)),
        email=st.one_of(st.none(), st.emails()),
        image=st.one_of(st.none(), st.just("https://a.example/i.png"), st.text(max_size=10)),
    ),
)
contexts = st.builds(
    SlackContext,
    team_name=st.one_of(st.none(), st.text(max_size=30)),
    channel_name=st.one_of(st.none(), st.text(max_size=30)),
    permalink=st.one_of(st.none(), st.text(max_size=30), st.just("https://acme.slack.com/p1")),
    is_shared=st.one_of(st.none(), st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(slack_events(), profiles, contexts)
def test_any_forwarded_slack_message_makes_a_schema_valid_body(
    generated: tuple[dict[str, Any], dict[str, str]],
    profile: SlackProfile | None,
    context: SlackContext,
) -> None:
    envelope, refused = generated
    msg = parse_slack_event(envelope, bot_user_id="U0BOT", bot_id="B0BOT")
    if not isinstance(msg, SlackMessage):
        assert msg.reason == "empty"
        return

    body = to_open_message(
        msg,
        profile=profile,
        context=context,
        message_id=external_message_id(msg),
        refused=refused,
    )

    assert_valid_inbound_message(body)
    for part in message_parts(msg, refused):
        if part.file is not None:
            assert_valid_inbound_message(
                to_attachment_message(
                    msg,
                    part.file,
                    profile=profile,
                    context=context,
                    message_id=f"m:file:{part.index}",
                    url="https://sb.example/files/t/F?expires=1&sig=s",
                )
            )
