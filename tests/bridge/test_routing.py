from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from app.bridge.routing import (
    Ignored,
    SlackConversationRef,
    SlackMessage,
    conversation_key,
    external_message_id,
    external_user_id,
    parse_external_user_id,
    parse_slack_event,
    unresolved_conversation_key,
)

BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TEAM = "T0ACME"
CHANNEL = "C0SUPPORT"
DM_CHANNEL = "D0JANE"
JANE = "U0JANE"
TS = "1718053401.000200"
LATER = "1718053466.000300"


def envelope(event: dict[str, Any], **outer: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event_id": "Ev0001",
        "event_time": 1718053401,
        "authorizations": [
            {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
        "event": event,
    }
    return {**base, **outer}


def mention(text: str = f"<@{BOT_USER}> my order is late", **fields: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": JANE,
        "text": text,
        "ts": TS,
        "channel": CHANNEL,
        "event_ts": TS,
        "client_msg_id": "c0ffee00-0000-4000-8000-000000000001",
        **fields,
    }


def dm(text: str | None = "hello, I need help", **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": JANE,
        "text": text,
        "ts": TS,
        "channel": DM_CHANNEL,
        "event_ts": TS,
        "client_msg_id": "c0ffee00-0000-4000-8000-000000000002",
        **fields,
    }


def thread_reply(text: str = "any news?", **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "channel",
        "user": JANE,
        "text": text,
        "ts": LATER,
        "thread_ts": TS,
        "channel": CHANNEL,
        "event_ts": LATER,
        **fields,
    }


def edit(new_text: str, *, old_text: str = "hello", channel_type: str = "im") -> dict[str, Any]:
    channel = DM_CHANNEL if channel_type == "im" else CHANNEL
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "channel_type": channel_type,
        "hidden": True,
        "ts": "1718053500.000400",
        "event_ts": "1718053500.000400",
        "message": {
            "type": "message",
            "user": JANE,
            "text": new_text,
            "ts": TS,
            "edited": {"user": JANE, "ts": "1718053500.000000"},
        },
        "previous_message": {"type": "message", "user": JANE, "text": old_text, "ts": TS},
    }


def delete(*, user: str = JANE, channel_type: str = "im", **previous: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": DM_CHANNEL if channel_type == "im" else CHANNEL,
        "channel_type": channel_type,
        "hidden": True,
        "deleted_ts": TS,
        "ts": "1718053600.000500",
        "event_ts": "1718053600.000500",
        "previous_message": {"type": "message", "user": user, "text": "oops", "ts": TS, **previous},
    }


def parse(env: dict[str, Any], **options: Any) -> SlackMessage | Ignored:
    return parse_slack_event(env, bot_user_id=BOT_USER, bot_id=BOT_ID, **options)


def forwarded(env: dict[str, Any], **options: Any) -> SlackMessage:
    result = parse(env, **options)
    assert isinstance(result, SlackMessage), result
    return result


def test_mention_in_channel_starts_a_thread_conversation() -> None:
    msg = forwarded(envelope(mention()))

    assert msg.kind == "message"
    assert msg.text == "my order is late"
    assert msg.conversation == SlackConversationRef.thread(
        slack_scope_id=TEAM, slack_channel_id=CHANNEL, slack_thread_ts=TS
    )
    assert external_user_id(msg) == f"{TEAM}:{CHANNEL}:{TS}"
    assert conversation_key(msg) == external_user_id(msg)


def test_mention_in_a_thread_belongs_to_the_thread_root() -> None:
    msg = forwarded(envelope(mention(ts=LATER, thread_ts=TS)))

    assert msg.conversation.slack_thread_ts == TS
    assert msg.ts == LATER
    assert msg.thread_ts == TS


def test_mention_keeps_slack_identifiers() -> None:
    msg = forwarded(envelope(mention(thread_ts=TS)))

    assert msg.client_msg_id == "c0ffee00-0000-4000-8000-000000000001"
    assert (msg.ts, msg.thread_ts, msg.occurred_ts) == (TS, TS, TS)
    assert (msg.slack_event_id, msg.event_time) == ("Ev0001", 1718053401)
    assert (msg.slack_team_id, msg.slack_channel_id, msg.slack_user_id) == (TEAM, CHANNEL, JANE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"<@{BOT_USER}> help", "help"),
        (f"  <@{BOT_USER}|switchboard>   help", "help"),
        (f"<@{BOT_USER}>help", "help"),
        (f"hey <@{BOT_USER}> help", f"hey <@{BOT_USER}> help"),
        ("<@U0OTHER> help", "<@U0OTHER> help"),
        (f"<@{BOT_USER}> <@{BOT_USER}> twice", f"<@{BOT_USER}> twice"),
    ],
)
def test_only_the_leading_bot_mention_is_stripped(text: str, expected: str) -> None:
    assert forwarded(envelope(mention(text))).text == expected


def test_dm_is_one_conversation_per_user() -> None:
    msg = forwarded(envelope(dm()))

    assert msg.conversation == SlackConversationRef.dm(slack_scope_id=TEAM, slack_user_id=JANE)
    assert external_user_id(msg) == f"{TEAM}:{JANE}"


def test_dm_thread_reply_stays_in_the_users_dm_conversation() -> None:
    top = forwarded(envelope(dm()))
    reply = forwarded(envelope(dm("and another thing", ts=LATER, thread_ts=TS)))

    assert conversation_key(reply) == conversation_key(top)
    assert reply.thread_ts == TS


def test_plain_reply_in_a_linked_thread_is_forwarded_to_the_threads_conversation() -> None:
    started = forwarded(envelope(mention()))
    reply = forwarded(envelope(thread_reply()), linked_thread=True)

    assert reply.text == "any news?"
    assert conversation_key(reply) == conversation_key(started)


def test_plain_reply_in_an_unlinked_thread_is_ignored_with_the_key_to_look_up() -> None:
    started = forwarded(envelope(mention()))

    result = parse(envelope(thread_reply()))

    assert isinstance(result, Ignored)
    assert (result.reason, result.conversation_key) == ("not_linked", conversation_key(started))
    # What a linked thread would forward comes with it, so the caller never parses twice.
    assert result.candidate == forwarded(envelope(thread_reply()), linked_thread=True)


def test_an_empty_reply_in_an_unlinked_thread_has_nothing_to_forward() -> None:
    result = parse(envelope(thread_reply(text="   ")))

    assert isinstance(result, Ignored)
    assert result.reason == "not_linked" and result.candidate is None
    assert parse(envelope(thread_reply(text="   ")), linked_thread=True) == Ignored("empty")


@pytest.mark.parametrize("linked_thread", [False, True])
def test_top_level_channel_message_without_mention_is_ignored(linked_thread: bool) -> None:
    event = thread_reply(ts=TS)
    del event["thread_ts"]

    result = parse(envelope(event), linked_thread=linked_thread)

    assert result == Ignored("channel_message_without_mention")


def test_channel_message_that_mentions_the_bot_waits_for_its_app_mention() -> None:
    result = parse(envelope(thread_reply(f"<@{BOT_USER}> again")), linked_thread=True)

    assert result == Ignored("mention_delivered_as_app_mention")


@pytest.mark.parametrize(
    "event",
    [
        dm(user=BOT_USER),
        dm(bot_id=BOT_ID, user=None, username="Agent Jane"),
        dm(bot_id=BOT_ID, subtype="bot_message", user=None),
        mention(user=BOT_USER),
        thread_reply(user=BOT_USER),
    ],
)
def test_our_own_messages_are_ignored(event: dict[str, Any]) -> None:
    assert parse(envelope(event), linked_thread=True, forward_other_bots=True) == Ignored("own_bot")


@pytest.mark.parametrize(
    "event",
    [
        dm(bot_id="B0OTHER"),
        dm(subtype="bot_message", bot_id="B0OTHER", user=None, username="CI"),
        mention(bot_id="B0OTHER"),
        thread_reply(subtype="bot_message", bot_id="B0OTHER", user=None),
    ],
)
def test_other_bots_are_ignored_by_default(event: dict[str, Any]) -> None:
    assert parse(envelope(event), linked_thread=True) == Ignored("other_bot")


def test_other_bots_are_forwarded_when_the_tenant_allows_it() -> None:
    event = dm("build failed", subtype="bot_message", bot_id="B0OTHER", user=None)

    msg = forwarded(envelope(event), forward_other_bots=True)

    assert msg.from_bot
    assert msg.slack_user_id == "B0OTHER"
    assert msg.text == "build failed"


@pytest.mark.parametrize(
    "subtype",
    [
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "channel_archive",
        "group_join",
        "pinned_item",
        "message_replied",
        "me_message",
        "ekm_access_denied",
        "huddle_thread",
    ],
)
def test_other_subtypes_are_deliberately_ignored(subtype: str) -> None:
    result = parse(envelope(dm(subtype=subtype)), linked_thread=True)

    assert result == Ignored(f"subtype:{subtype}")


def test_thread_broadcast_is_the_only_copy_so_it_is_forwarded_like_a_reply() -> None:
    broadcast = forwarded(envelope(thread_reply(subtype="thread_broadcast")), linked_thread=True)
    plain = forwarded(envelope(thread_reply()), linked_thread=True)

    assert broadcast.text == plain.text
    assert external_message_id(broadcast) == external_message_id(plain)


def test_broadcast_that_mentions_the_bot_arrives_as_app_mention_instead() -> None:
    event = thread_reply(f"<@{BOT_USER}> look", subtype="thread_broadcast")

    result = parse(envelope(event), linked_thread=True)

    assert result == Ignored("mention_delivered_as_app_mention")


def test_file_share_carries_file_references() -> None:
    files = [
        {
            "id": "F0PNG",
            "name": "screenshot.png",
            "mimetype": "image/png",
            "size": 10240,
            "url_private": "https://files.slack.com/files-pri/T0ACME-F0PNG/screenshot.png",
            "url_private_download": "https://files.slack.com/files-pri/T0ACME-F0PNG/download/s.png",
        },
        {"id": "F0STUB", "file_access": "check_file_info"},
        {"id": "F0OLD", "name": "a.txt", "url_private": "https://files.slack.com/a.txt"},
        {"name": "no id, so not a file we can fetch"},
    ]
    msg = forwarded(envelope(dm("", subtype="file_share", files=files)))

    png, stub, old = msg.files
    assert (png.slack_file_id, png.name, png.mimetype, png.size) == (
        "F0PNG",
        "screenshot.png",
        "image/png",
        10240,
    )
    assert png.url_private_download is not None
    assert png.url_private_download.endswith("/download/s.png")
    assert not png.needs_file_info
    assert stub.needs_file_info
    assert (stub.name, stub.url_private_download) == (None, None)
    assert old.url_private_download == "https://files.slack.com/a.txt"


def test_mention_with_files_but_no_words_is_forwarded() -> None:
    event = mention(f"<@{BOT_USER}>", files=[{"id": "F0PNG", "name": "x.png"}])

    assert forwarded(envelope(event)).files[0].slack_file_id == "F0PNG"


@pytest.mark.parametrize(
    "event", [dm(""), dm("   \n"), dm(text=None), mention(f"<@{BOT_USER}>"), dm(f"<@{BOT_USER}> ")]
)
def test_empty_messages_are_ignored(event: dict[str, Any]) -> None:
    assert parse(envelope(event)) == Ignored("empty")


def test_edit_in_dm_becomes_an_edit_follow_up() -> None:
    msg = forwarded(envelope(edit("hello, I need help with order 42")))

    assert msg.kind == "edit"
    assert msg.text == "hello, I need help with order 42"
    assert msg.slack_user_id == JANE
    assert msg.ts == TS
    assert msg.occurred_ts == "1718053500.000000"
    assert conversation_key(msg) == f"{TEAM}:{JANE}"


def test_edit_that_did_not_change_the_text_is_ignored() -> None:
    assert parse(envelope(edit("hello", old_text="hello"))) == Ignored("edit_without_text_change")


def test_edit_of_our_own_message_is_ignored() -> None:
    event = edit("agent reply, edited")
    event["message"] = {**event["message"], "user": BOT_USER, "bot_id": BOT_ID}

    assert parse(envelope(event)) == Ignored("own_bot")


def test_edit_of_a_thread_root_tombstone_is_ignored() -> None:
    event = edit("This message was deleted.")
    event["message"] = {**event["message"], "subtype": "tombstone"}

    assert parse(envelope(event)) == Ignored("subtype:tombstone")


def test_edit_in_a_channel_follows_the_thread_link() -> None:
    event = edit("typo fixed", channel_type="channel")
    event["message"] = {**event["message"], "thread_ts": TS}

    linked = forwarded(envelope(event), linked_thread=True)
    assert parse(envelope(event)) == Ignored(
        "not_linked", conversation_key=f"{TEAM}:{CHANNEL}:{TS}", candidate=linked
    )
    assert linked.kind == "edit"


def test_delete_in_dm_becomes_a_note_from_the_author() -> None:
    msg = forwarded(envelope(delete()))

    assert msg.kind == "delete"
    assert msg.text == ""
    assert msg.slack_user_id == JANE
    assert (msg.ts, msg.occurred_ts) == (TS, "1718053600.000500")


def test_delete_of_our_own_message_is_ignored() -> None:
    assert parse(envelope(delete(user=BOT_USER))) == Ignored("own_bot")


def test_message_ids_are_stable_across_retries_and_distinct_per_edit_and_delete() -> None:
    first = forwarded(envelope(dm()))
    retry = forwarded(envelope(dm(), event_id="Ev0001"))
    edited = forwarded(envelope(edit("v2")))
    edited_again_event = edit("v3", old_text="v2")
    edited_again_event["message"]["edited"]["ts"] = "1718053555.000000"
    edited_again = forwarded(envelope(edited_again_event))
    deleted = forwarded(envelope(delete()))

    ids = [external_message_id(m) for m in (first, edited, edited_again, deleted)]
    assert external_message_id(retry) == ids[0] == f"{TEAM}:{DM_CHANNEL}:{TS}"
    assert ids[1] == f"{TEAM}:{DM_CHANNEL}:{TS}:edit:1718053500.000000"
    assert ids[3] == f"{TEAM}:{DM_CHANNEL}:{TS}:delete"
    assert len(set(ids)) == 4


@pytest.mark.parametrize(
    "env",
    [
        {"type": "event_callback", "team_id": TEAM},
        envelope(mention(channel=None)),
        envelope(mention(user=None)),
        envelope(mention(ts="yesterday")),
        envelope(mention(thread_ts="1.2.3")),
        envelope(mention(channel="C0:EVIL")),
        envelope(edit("x") | {"message": "not an object"}),
        envelope(mention(), team_id=None, authorizations=[]),
    ],
)
def test_malformed_events_are_ignored_not_raised(env: dict[str, Any]) -> None:
    assert parse(env) == Ignored("malformed")


def test_events_other_than_messages_are_ignored() -> None:
    assert parse(envelope({"type": "reaction_added", "user": JANE})) == Ignored(
        "event:reaction_added"
    )


def test_same_thread_ids_in_two_workspaces_never_share_a_conversation() -> None:
    acme = forwarded(envelope(mention()))
    other = forwarded(
        envelope(
            mention(),
            team_id="T0GLOBEX",
            authorizations=[{"team_id": "T0GLOBEX", "is_enterprise_install": False}],
        )
    )

    assert external_user_id(acme) != external_user_id(other)
    assert external_message_id(acme) != external_message_id(other)


def test_slack_connect_event_is_keyed_on_the_installation_not_the_senders_team() -> None:
    event = mention(team="T0PARTNER", user="U0PARTNER")

    msg = forwarded(envelope(event, is_ext_shared_channel=True))

    assert msg.conversation.slack_scope_id == TEAM
    assert msg.is_ext_shared_channel


def test_org_wide_install_is_keyed_on_the_enterprise() -> None:
    env = envelope(
        dm(),
        enterprise_id="E0ORG",
        authorizations=[{"enterprise_id": "E0ORG", "team_id": None, "is_enterprise_install": True}],
    )

    msg = forwarded(env)

    assert external_user_id(msg) == f"E0ORG:{JANE}"
    assert (msg.slack_team_id, msg.slack_enterprise_id) == (TEAM, "E0ORG")


def test_enterprise_id_is_the_scope_when_no_team_is_given() -> None:
    env = envelope(dm(), team_id=None, enterprise_id="E0ORG", authorizations=[])

    assert external_user_id(forwarded(env)) == f"E0ORG:{JANE}"


@pytest.mark.parametrize(
    "value",
    ["", "T0ACME", "T0ACME:", ":U0JANE", "T0ACME:C0:1718053401.000200:extra", "T0ACME:C0:today"],
)
def test_external_user_ids_we_did_not_write_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_external_user_id(value)


slack_ids = st.from_regex(r"[A-Z][A-Z0-9]{2,12}", fullmatch=True)
slack_ts = st.builds(
    lambda seconds, micros: f"{seconds}.{micros:06d}",
    st.integers(1_000_000_000, 2_000_000_000),
    st.integers(0, 999_999),
)
refs = st.one_of(
    st.builds(
        lambda s, u: SlackConversationRef.dm(slack_scope_id=s, slack_user_id=u),
        slack_ids,
        slack_ids,
    ),
    st.builds(
        lambda s, c, t: SlackConversationRef.thread(
            slack_scope_id=s, slack_channel_id=c, slack_thread_ts=t
        ),
        slack_ids,
        slack_ids,
        slack_ts,
    ),
)


@settings(max_examples=200, deadline=None)
@given(refs)
def test_external_user_id_round_trips(ref: SlackConversationRef) -> None:
    assert parse_external_user_id(ref.external_user_id) == ref


@settings(max_examples=200, deadline=None)
@given(refs, refs)
def test_distinct_conversations_never_share_an_external_user_id(
    a: SlackConversationRef, b: SlackConversationRef
) -> None:
    assert (a == b) == (a.external_user_id == b.external_user_id)


def test_unresolved_keys_never_parse_as_ours() -> None:
    assert unresolved_conversation_key("customer@example.com") == "customer@example.com"
    for to_id in ("T0OTHER:U0X", "T0OTHER:C0X:1700000000.000100", "x" * 201):
        key = unresolved_conversation_key(to_id)
        assert key.startswith("unresolved-") and len(key) <= 200
        with pytest.raises(ValueError):
            parse_external_user_id(key)
    assert unresolved_conversation_key("a:b") == unresolved_conversation_key("a:b")
