from __future__ import annotations

import pytest

from sandbox.slack_events import build_envelope
from sandbox.slack_payloads import (
    EventInputError,
    add_user_file,
    build_app_uninstalled,
    build_bot_message,
    build_delete,
    build_dm,
    build_edit,
    build_mention,
    build_tokens_revoked,
    share_file,
)
from sandbox.slack_seed import ACME_TEAM_ID, INITECH_ENTERPRISE_ID, INITECH_TEAM_ID
from sandbox.slack_world import SANDBOX_APP_ID, SlackWorld
from tests.sandbox.simulators import FILE_FIELDS, SUPPORT, install

# An install needs only to exist here: these tests look at payloads, not at what tokens may do.
PAYLOAD_SCOPES = ("chat:write",)
USER_SCOPES = ("users:read",)
# Field names from the reference brief (section 3.5), checked against what the simulator emits.
ENVELOPE_FIELDS = {
    "token",
    "team_id",
    "enterprise_id",
    "api_app_id",
    "event",
    "type",
    "event_id",
    "event_time",
    "authorizations",
    "is_ext_shared_channel",
    "event_context",
}
AUTHORIZATION_FIELDS = {"enterprise_id", "team_id", "user_id", "is_bot", "is_enterprise_install"}
MENTION_FIELDS = {"type", "user", "text", "ts", "channel", "event_ts", "client_msg_id", "blocks"}
IM_FIELDS = {
    "client_msg_id",
    "type",
    "team",
    "channel",
    "user",
    "text",
    "blocks",
    "ts",
    "event_ts",
    "channel_type",
}


async def test_mention_envelope_has_every_documented_field(world: SlackWorld) -> None:
    install(world, user="U0ACME0001", scopes=PAYLOAD_SCOPES, user_scopes=USER_SCOPES)
    built = build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0002",
        text="help",
    )
    envelope = build_envelope(world, built)
    event = envelope["event"]
    assert set(envelope) >= ENVELOPE_FIELDS
    assert set(envelope["authorizations"][0]) >= AUTHORIZATION_FIELDS
    assert envelope["type"] == "event_callback"
    assert envelope["api_app_id"] == SANDBOX_APP_ID
    assert envelope["event_id"].startswith("Ev")
    assert envelope["event_id"] != build_envelope(world, built)["event_id"]
    assert envelope["authorizations"][0] == {
        "enterprise_id": None,
        "team_id": ACME_TEAM_ID,
        "user_id": "U0ACMEBOT1",
        "is_bot": True,
        "is_enterprise_install": False,
    }
    assert set(event) >= MENTION_FIELDS
    assert event["type"] == "app_mention"
    assert event["text"] == "<@U0ACMEBOT1> help"
    assert event["blocks"][0]["elements"][0]["elements"][0] == {
        "type": "user",
        "user_id": "U0ACMEBOT1",
    }
    assert "thread_ts" not in event
    assert world.find_message(SUPPORT, event["ts"]) is not None


async def test_mention_in_thread_carries_thread_ts(world: SlackWorld) -> None:
    first = build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0002",
        text="a",
    )
    assert first.message is not None
    reply = build_mention(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_channel_id=SUPPORT,
        slack_user_id="U0ACME0003",
        text="b",
        thread_ts=first.message.ts,
    )
    event = build_envelope(world, reply)["event"]
    assert event["thread_ts"] == first.message.ts
    assert event["parent_user_id"] == "U0ACME0002"


async def test_direct_message_and_its_edit_and_delete(world: SlackWorld) -> None:
    dm = build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="hi there")
    assert dm.channel is not None and dm.message is not None
    plain = build_envelope(world, dm)["event"]
    channel = dm.channel.slack_channel_id
    edit = build_edit(world, slack_channel_id=channel, ts=dm.message.ts, text="hi!")
    changed = build_envelope(world, edit)["event"]
    deleted = build_envelope(
        world, build_delete(world, slack_channel_id=channel, ts=dm.message.ts)
    )["event"]
    assert set(plain) >= IM_FIELDS
    assert plain["channel_type"] == "im"
    assert plain["channel"].startswith("D")
    assert "subtype" not in plain
    assert changed["subtype"] == "message_changed"
    assert "user" not in changed
    assert {"channel", "hidden", "message", "previous_message", "event_ts", "ts"} <= set(changed)
    assert changed["message"]["text"] == "hi!"
    assert changed["message"]["user"] == "U0ACME0002"
    assert changed["message"]["ts"] == plain["ts"]
    assert "edited" in changed["message"]
    assert changed["previous_message"]["text"] == "hi there"
    assert deleted["subtype"] == "message_deleted"
    assert deleted["deleted_ts"] == plain["ts"]
    assert {"channel", "hidden", "deleted_ts", "previous_message"} <= set(deleted)
    assert deleted["previous_message"]["text"] == "hi!"
    assert world.find_message(dm.channel.slack_channel_id, dm.message.ts) is None


async def test_direct_message_reply_in_thread(world: SlackWorld) -> None:
    first = build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0ACME0002", text="one")
    assert first.message is not None
    reply = build_dm(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0002",
        text="two",
        thread_ts=first.message.ts,
    )
    event = build_envelope(world, reply)["event"]
    assert set(event) >= IM_FIELDS | {"thread_ts", "parent_user_id"}
    assert event["thread_ts"] == first.message.ts
    assert event["parent_user_id"] == "U0ACME0002"


async def test_file_share_event_points_at_stored_file(world: SlackWorld) -> None:
    file = add_user_file(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0002",
        name="screenshot.png",
        content=b"png-bytes",
        mimetype="image/png",
        filetype="png",
    )
    built = build_dm(
        world,
        slack_team_id=ACME_TEAM_ID,
        slack_user_id="U0ACME0002",
        text="see",
        file_ids=[file.slack_file_id],
    )
    event = build_envelope(world, share_file(built, file, world))["event"]
    assert event["subtype"] == "file_share"
    assert {"files", "upload", "display_as_bot", "user", "channel_type"} <= set(event)
    assert set(event["files"][0]) >= FILE_FIELDS
    assert event["files"][0]["thumb_360"].startswith(world.public_url)
    assert event["files"][0]["id"] == file.slack_file_id
    assert event["files"][0]["url_private"].startswith(world.public_url)
    assert world.files[file.slack_file_id].shares == {event["channel"]: event["ts"]}


async def test_bot_message_from_another_integration(world: SlackWorld) -> None:
    built = build_bot_message(
        world, slack_team_id=ACME_TEAM_ID, slack_channel_id=SUPPORT, text="deployed"
    )
    event = build_envelope(world, built)["event"]
    assert event["subtype"] == "bot_message"
    assert event["bot_id"] == "B0ACMEOTB1"
    assert {"bot_id", "username", "icons", "text", "blocks"} <= set(event)
    assert "user" not in event


async def test_uninstall_and_tokens_revoked_revoke_tokens(world: SlackWorld) -> None:
    install(world, user="U0ACME0002", scopes=PAYLOAD_SCOPES, user_scopes=USER_SCOPES)
    revoked = build_envelope(
        world,
        build_tokens_revoked(world, slack_team_id=ACME_TEAM_ID, slack_user_ids={"U0ACME0002"}),
    )
    bot_token = next(t for t in world.tokens.values() if t.kind == "bot")
    assert not bot_token.revoked
    uninstalled = build_envelope(world, build_app_uninstalled(world, slack_team_id=ACME_TEAM_ID))
    assert revoked["event"]["tokens"] == {"oauth": ["U0ACME0002"], "bot": []}
    assert uninstalled["event"]["type"] == "app_uninstalled"
    assert uninstalled["team_id"] == ACME_TEAM_ID
    # The envelope still names the install that just went away.
    assert uninstalled["authorizations"][0]["user_id"] == "U0ACMEBOT1"
    assert all(t.revoked for t in world.tokens.values())
    assert world.active_installation(ACME_TEAM_ID) is None


async def test_org_install_authorizations_and_ext_shared(world: SlackWorld) -> None:
    install(
        world,
        team=None,
        enterprise=INITECH_ENTERPRISE_ID,
        user="W0INIT0001",
        scopes=PAYLOAD_SCOPES,
        user_scopes=USER_SCOPES,
    )
    grid = build_envelope(
        world,
        build_mention(
            world,
            slack_team_id=INITECH_TEAM_ID,
            slack_channel_id="C0INITSUPP",
            slack_user_id="W0INIT0002",
            text="hi",
        ),
    )
    shared = build_envelope(
        world,
        build_mention(
            world,
            slack_team_id=ACME_TEAM_ID,
            slack_channel_id="C0ACMEXTSH",
            slack_user_id="U0ACME0001",
            text="x",
        ),
    )
    assert grid["enterprise_id"] == INITECH_ENTERPRISE_ID
    assert grid["team_id"] == INITECH_TEAM_ID
    assert grid["authorizations"][0]["is_enterprise_install"] is True
    assert grid["authorizations"][0]["team_id"] is None
    assert grid["event"]["text"].startswith("<@W0INITBOT1>")
    assert grid["is_ext_shared_channel"] is False
    assert shared["is_ext_shared_channel"] is True


async def test_building_for_unknown_people_or_places_fails(world: SlackWorld) -> None:
    with pytest.raises(EventInputError):
        build_dm(world, slack_team_id=ACME_TEAM_ID, slack_user_id="U0GLBX0001", text="x")
    with pytest.raises(EventInputError):
        build_mention(
            world,
            slack_team_id=ACME_TEAM_ID,
            slack_channel_id="C0ACMERAND",
            slack_user_id="U0ACME0001",
            text="x",
        )
    with pytest.raises(EventInputError):
        build_edit(world, slack_channel_id=SUPPORT, ts="1.000000", text="x")
