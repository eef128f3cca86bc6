from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID, INITECH_ENTERPRISE_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import SUPPORT, client, error_of, install

pytestmark = pytest.mark.usefixtures("base")

# users.info fields named by the reference brief (section 4.3).
USER_FIELDS = {"id", "team_id", "name", "real_name", "tz", "locale", "is_bot", "deleted"}
PROFILE_FIELDS = {
    "real_name",
    "display_name",
    "email",
    "title",
    "phone",
    "image_original",
    *(f"image_{size}" for size in (24, 32, 48, 72, 192, 512, 1024)),
}


async def test_auth_test_describes_workspace_bot_token(world: SlackWorld, base: str) -> None:
    response = await client(base, install(world)).auth_test()
    assert response["team_id"] == ACME_TEAM_ID
    assert response["user_id"] == "U0ACMEBOT1"
    assert response["bot_id"] == "B0ACMEBOT1"
    assert response["team"] == "Acme Corp"
    assert response["url"] == "https://acme-sandbox.slack.com/"
    assert response["is_enterprise_install"] is False
    assert "enterprise_id" not in response


async def test_auth_test_for_org_token_has_enterprise_and_no_team(
    world: SlackWorld, base: str
) -> None:
    token = install(world, team=None, enterprise=INITECH_ENTERPRISE_ID, user="W0INIT0001")
    response = await client(base, token).auth_test()
    assert response["enterprise_id"] == INITECH_ENTERPRISE_ID
    assert response["is_enterprise_install"] is True
    assert "team_id" not in response
    assert response["user_id"] == "W0INITBOT1"


async def test_missing_and_unknown_tokens(world: SlackWorld, base: str) -> None:
    missing = await error_of(client(base, None).auth_test())
    unknown = await error_of(client(base, "xoxb-not-a-token").auth_test())
    assert missing.response.status_code == 200
    assert missing.response["error"] == "not_authed"
    assert unknown.response["error"] == "invalid_auth"


async def test_token_param_in_form_body_is_accepted(world: SlackWorld, base: str) -> None:
    token = install(world)
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/api/auth.test", data={"token": token})
    assert response.json()["ok"] is True
    assert world.calls[-1].params == {}


async def test_revoked_token_is_token_revoked_and_an_unknown_one_invalid_auth(
    world: SlackWorld, base: str
) -> None:
    token = install(world)
    await client(base, token).auth_revoke()
    error = await error_of(client(base, token).auth_test())
    assert error.response.status_code == 200
    assert error.response["error"] == "token_revoked"


async def test_post_message_in_channel_and_thread(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    parent = await slack.chat_postMessage(channel=SUPPORT, text="hello")
    reply = await slack.chat_postMessage(
        channel=SUPPORT,
        text="agent reply",
        thread_ts=parent["ts"],
        username="Agent Smith",
        icon_url="https://example.test/smith.png",
        unfurl_links=False,
    )
    assert parent["channel"] == SUPPORT
    assert parent["message"]["bot_id"] == "B0ACMEBOT1"
    assert parent["message"]["text"] == "hello"
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert reply["message"]["username"] == "Agent Smith"
    assert reply["message"]["icons"] == {"image_48": "https://example.test/smith.png"}
    assert [m.text for m in world.bot_messages(SUPPORT)] == ["hello", "agent reply"]
    assert world.bot_messages(SUPPORT)[1].thread_ts == parent["ts"]


async def test_custom_identity_needs_customize_scope(world: SlackWorld, base: str) -> None:
    token = install(world, scopes=("chat:write",))
    response = await client(base, token).chat_postMessage(
        channel=SUPPORT, text="hi", username="Agent Smith"
    )
    assert "username" not in response["message"]


async def test_post_message_with_blocks_keeps_blocks(world: SlackWorld, base: str) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    response = await client(base, install(world)).chat_postMessage(
        channel=SUPPORT, text="fallback", blocks=blocks
    )
    [block] = response["message"]["blocks"]
    assert block["block_id"], "Slack gives every block a block_id"
    assert {k: v for k, v in block.items() if k != "block_id"} == blocks[0]


async def test_channel_errors(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    unknown = await error_of(slack.chat_postMessage(channel="C0NOPE", text="x"))
    other_team = await error_of(slack.chat_postMessage(channel="C0GLBXSUPP", text="x"))
    private = await error_of(slack.chat_postMessage(channel="C0ACMEPRIV", text="x"))
    archived = await error_of(slack.chat_postMessage(channel="C0ACMEARCH", text="x"))
    assert unknown.response["error"] == "channel_not_found"
    assert other_team.response["error"] == "channel_not_found"
    assert private.response["error"] == "not_in_channel"
    assert archived.response["error"] == "is_archived"


async def test_post_without_text_or_blocks_is_no_text(world: SlackWorld, base: str) -> None:
    headers = {"Authorization": f"Bearer {install(world)}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        response = await http.post("/api/chat.postMessage", json={"channel": SUPPORT})
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": "no_text"}


async def test_bot_removed_from_channel_gets_not_in_channel(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    await slack.chat_postMessage(channel=SUPPORT, text="before")
    world.channels[SUPPORT].bot_is_member = False
    error = await error_of(slack.chat_postMessage(channel=SUPPORT, text="after"))
    assert error.response["error"] == "not_in_channel"


async def test_missing_scope_names_needed_scope(world: SlackWorld, base: str) -> None:
    error = await error_of(
        client(base, install(world, scopes=("users:read",))).chat_postMessage(
            channel=SUPPORT, text="x"
        )
    )
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "chat:write"
    assert error.response["provided"] == "users:read"


async def test_chat_update_and_permalink(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    posted = await slack.chat_postMessage(channel=SUPPORT, text="draft")
    updated = await slack.chat_update(channel=SUPPORT, ts=posted["ts"], text="final")
    link = await slack.chat_getPermalink(channel=SUPPORT, message_ts=posted["ts"])
    assert updated["ts"] == posted["ts"]
    assert updated["message"]["text"] == "final"
    assert "edited" in updated["message"]
    assert world.bot_messages(SUPPORT)[0].text == "final"
    assert link["permalink"] == f"{base}/archives/{SUPPORT}/p{posted['ts'].replace('.', '')}"
    missing = await error_of(slack.chat_update(channel=SUPPORT, ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"
    async with httpx.AsyncClient() as http:
        followed = await http.get(link["permalink"])
    assert followed.status_code == 303
    assert f"channel={SUPPORT}" in followed.headers["location"]


async def test_chat_update_refuses_someone_elses_message(world: SlackWorld, base: str) -> None:
    acme = client(base, install(world))
    posted = await acme.chat_postMessage(channel=SUPPORT, text="mine")
    world.find_message(SUPPORT, posted["ts"]).user = "U0ACME0002"  # type: ignore[union-attr]
    error = await error_of(acme.chat_update(channel=SUPPORT, ts=posted["ts"], text="x"))
    assert error.response["error"] == "cant_update_message"


async def test_post_ephemeral_returns_message_ts(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    response = await slack.chat_postEphemeral(channel=SUPPORT, user="U0ACME0002", text="psst")
    stranger = await error_of(
        slack.chat_postEphemeral(channel=SUPPORT, user="U0GLBX0001", text="psst")
    )
    assert response["message_ts"]
    assert world.channel_messages(SUPPORT)[0].ephemeral_to == "U0ACME0002"
    assert stranger.response["error"] == "user_not_found"


async def test_users_info_includes_email_only_with_email_scope(
    world: SlackWorld, base: str
) -> None:
    with_email = await client(base, install(world)).users_info(
        user="U0ACME0002", include_locale=True
    )
    without = await client(base, install(world, scopes=("users:read",))).users_info(
        user="U0ACME0002"
    )
    profile = with_email["user"]["profile"]
    assert set(with_email["user"]) >= USER_FIELDS | {"is_restricted", "is_admin", "is_owner"}
    assert set(profile) >= PROFILE_FIELDS
    assert profile["email"] == "grace.hopper@acme.example"
    assert "email" not in without["user"]["profile"]
    for name in ("real_name", "display_name", "first_name", "last_name", "image_24", "image_512"):
        assert profile[name], name
    assert with_email["user"]["is_admin"] is True
    assert with_email["user"]["is_owner"] is False
    assert with_email["user"]["is_bot"] is False
    async with httpx.AsyncClient() as http:
        avatar = await http.get(profile["image_48"])
    assert avatar.headers["content-type"].startswith("image/svg+xml")


async def test_users_info_errors_and_bot_users(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    bot = await slack.users_info(user="U0ACMEBOT1")
    missing = await error_of(slack.users_info(user="U0GLBX0001"))
    assert bot["user"]["is_bot"] is True
    assert bot["user"]["profile"]["bot_id"] == "B0ACMEBOT1"
    assert missing.response["error"] == "user_not_found"


async def test_org_token_reaches_grid_users_and_channels(world: SlackWorld, base: str) -> None:
    token = install(world, team=None, enterprise=INITECH_ENTERPRISE_ID, user="W0INIT0001")
    slack = client(base, token)
    user = await slack.users_info(user="W0INIT0002")
    posted = await slack.chat_postMessage(channel="C0INITSUPP", text="hi from the org")
    elsewhere = await error_of(slack.chat_postMessage(channel=SUPPORT, text="x"))
    assert user["user"]["enterprise_user"]["enterprise_id"] == INITECH_ENTERPRISE_ID
    assert posted["message"]["bot_id"] == "B0INITBOT1"
    assert elsewhere.response["error"] == "channel_not_found"


async def test_conversations_info_and_open(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    info = await slack.conversations_info(channel="C0ACMEXTSH")
    opened = await slack.conversations_open(users="U0ACME0003")
    again = await slack.conversations_open(users="U0ACME0003")
    dm = await slack.conversations_info(channel=opened["channel"]["id"])
    private = await error_of(slack.conversations_info(channel="C0ACMEPRIV"))
    channel = info["channel"]
    assert channel["name"] == "ext-partners"
    assert channel["is_ext_shared"] is True
    for name in ("id", "is_channel", "is_im", "is_private", "is_archived", "is_member"):
        assert name in channel, name
    assert opened["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == opened["channel"]["id"]
    assert again["already_open"] is True
    assert dm["channel"]["is_im"] is True
    assert dm["channel"]["user"] == "U0ACME0003"
    assert private.response["error"] == "channel_not_found"


async def test_post_to_user_id_lands_in_dm(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    posted = await slack.chat_postMessage(channel="U0ACME0002", text="hi")
    assert posted["channel"].startswith("D")
    assert world.channels[posted["channel"]].im_user == "U0ACME0002"


async def test_reactions_add_twice_is_already_reacted(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    posted = await slack.chat_postMessage(channel=SUPPORT, text="x")
    await slack.reactions_add(channel=SUPPORT, timestamp=posted["ts"], name="white_check_mark")
    again = await error_of(
        slack.reactions_add(channel=SUPPORT, timestamp=posted["ts"], name=":white_check_mark:")
    )
    missing = await error_of(slack.reactions_add(channel=SUPPORT, timestamp="1.0", name="eyes"))
    assert again.response["error"] == "already_reacted"
    assert missing.response["error"] == "message_not_found"
    assert world.bot_messages(SUPPORT)[0].reactions == {"white_check_mark": ["U0ACMEBOT1"]}
    await slack.reactions_remove(channel=SUPPORT, timestamp=posted["ts"], name="white_check_mark")
    assert world.bot_messages(SUPPORT)[0].reactions == {}


async def test_workspaces_do_not_see_each_other(world: SlackWorld, base: str) -> None:
    globex = client(base, install(world, team=GLOBEX_TEAM_ID, user="U0GLBX0001"))
    error = await error_of(globex.users_info(user="U0ACME0001"))
    own = await globex.chat_postMessage(channel="#support", text="hi")
    assert error.response["error"] == "user_not_found"
    assert own["channel"] == "C0GLBXSUPP"


async def test_post_over_the_text_limit_is_msg_too_long(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    fits = await slack.chat_postMessage(channel=SUPPORT, text="a" * 40_000)
    too_long = await error_of(slack.chat_postMessage(channel=SUPPORT, text="a" * 40_001))
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "b" * 3001}}
    big_block = await error_of(slack.chat_postMessage(channel=SUPPORT, text="x", blocks=[section]))
    assert fits["ok"]
    assert too_long.response["error"] == "msg_too_long"
    assert big_block.response["error"] == "invalid_blocks"


async def test_pickers_are_checked_as_block_kit_checks_them(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    option: dict[str, Any] = {"text": {"type": "plain_text", "text": "Pro"}, "value": "1"}

    def actions(element: dict[str, Any], block_id: str = "b1") -> list[dict[str, Any]]:
        return [{"type": "actions", "block_id": block_id, "elements": [element]}]

    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": "sb_list_0",
        "options": [option],
    }
    date: dict[str, Any] = {
        "type": "datepicker",
        "action_id": "sb_date_0",
        "initial_date": "2026-12-04",
    }
    fine = [
        await slack.chat_postMessage(channel=SUPPORT, text="x", blocks=actions(select)),
        await slack.chat_postMessage(channel=SUPPORT, text="x", blocks=actions(date)),
    ]
    refused = [
        actions({**select, "options": []}),
        actions({**select, "options": [option] * 101}),
        actions({**select, "options": [{**option, "value": "v" * 151}]}),
        actions({**select, "options": [{**option, "text": {"type": "mrkdwn", "text": "Pro"}}]}),
        actions({**date, "initial_date": "04/12/2026"}),
        actions({**date, "action_id": "a" * 256}),
        actions(date, block_id="b" * 256),
        actions(date) + actions(select),  # the same block_id twice
    ]

    assert all(answer["ok"] for answer in fine)
    for blocks in refused:
        error = await error_of(slack.chat_postMessage(channel=SUPPORT, text="x", blocks=blocks))
        assert error.response["error"] == "invalid_blocks", blocks


async def test_users_list_pages_by_cursor_within_the_workspace(
    world: SlackWorld, base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox import slack_methods

    monkeypatch.setattr(slack_methods, "USERS_LIST_PAGE_CAP", 2)
    acme = client(base, install(world))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await acme.users_list(limit=200, cursor=cursor)
        pages += 1
        assert len(page["members"]) <= 2, "never more than the cap, whatever limit asks"
        seen += [member["id"] for member in page["members"]]
        cursor = page["response_metadata"]["next_cursor"] or None
        if cursor is None:
            break
    assert pages >= 3
    assert seen == sorted(
        u.slack_user_id for u in world.users.values() if u.slack_team_id == ACME_TEAM_ID
    )
    assert not any(user_id.startswith("U0GLBX") for user_id in seen)
    bad = await error_of(acme.users_list(cursor="not-ours"))
    assert bad.response["error"] == "invalid_cursor"
    unscoped = client(base, install(world, scopes=("chat:write",)))
    missing = await error_of(unscoped.users_list())
    assert missing.response["error"] == "missing_scope"


async def test_conversations_list_pages_by_cursor_and_needs_each_types_scope(
    world: SlackWorld, base: str
) -> None:
    slack = client(base, install(world))
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await slack.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=2, cursor=cursor
        )
        names += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages > 2
    # Public channels, not archived; a private channel only where the app is a member.
    assert sorted(names) == ["billing", "ext-partners", "general", "random", "support"]
    bad_cursor = await error_of(slack.conversations_list(cursor="nonsense"))
    assert bad_cursor.response["error"] == "invalid_cursor"
    public_only = client(base, install(world, scopes=("channels:read",)))
    refused = await error_of(public_only.conversations_list(types="private_channel"))
    assert refused.response["error"] == "missing_scope"
    shared = next(
        c for c in (await public_only.conversations_list())["channels"] if c["is_ext_shared"]
    )
    assert shared["shared_team_ids"] == [ACME_TEAM_ID, GLOBEX_TEAM_ID]
    assert shared["connected_team_ids"] == [ACME_TEAM_ID, GLOBEX_TEAM_ID]


async def test_connect_team_lists_can_be_shared_team_ids_only(world: SlackWorld, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        patched = await http.patch("/_sandbox/config", json={"connect_team_lists": "shared_only"})
        refused = await http.patch("/_sandbox/config", json={"connect_team_lists": "sometimes"})
    assert patched.json()["connect_team_lists"] == "shared_only"
    assert refused.status_code == 422
    info = await client(base, install(world)).conversations_info(channel="C0ACMEXTSH")
    assert info["channel"]["shared_team_ids"] == [ACME_TEAM_ID, GLOBEX_TEAM_ID]
    assert "connected_team_ids" not in info["channel"]


async def test_team_info_reaches_only_workspaces_shared_with(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    own = await slack.team_info()
    partner = await slack.team_info(team=GLOBEX_TEAM_ID)
    stranger = await error_of(slack.team_info(team="T0NOBODY"))
    assert own["team"]["id"] == ACME_TEAM_ID
    assert partner["team"]["name"] == "Globex"
    assert stranger.response["error"] == "team_not_found"
    world.channels["C0ACMEXTSH"].connected_team_ids = []
    unshared = await error_of(slack.team_info(team=GLOBEX_TEAM_ID))
    assert unshared.response["error"] == "team_not_found"
    unscoped = client(base, install(world, scopes=("channels:read",)))
    missing = await error_of(unscoped.team_info())
    assert missing.response["error"] == "missing_scope"
