"""The simulated Slack's directory for "who may open requests": guests in `users.info`,
user groups (`usergroups.list`, `usergroups.users.list`, both needing `usergroups:read`),
`users.list` and `conversations.list` with cursor paging and their scopes."""

from __future__ import annotations

import pytest

from sandbox.slack_seed import ACME_GUEST_USER_ID, ACME_HELPDESK_GROUP_ID, GLOBEX_TEAM_ID
from sandbox.slack_world import SlackWorld
from tests.sandbox.simulators import SUPPORT, client, error_of, install

pytestmark = pytest.mark.usefixtures("base")


async def test_a_guest_is_restricted_and_a_member_is_not(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    guest = (await slack.users_info(user=ACME_GUEST_USER_ID))["user"]
    member = (await slack.users_info(user="U0ACME0002"))["user"]
    assert (guest["is_restricted"], guest["is_ultra_restricted"]) == (True, False)
    assert (member["is_restricted"], member["is_ultra_restricted"]) == (False, False)
    world.users[ACME_GUEST_USER_ID].is_ultra_restricted = True
    single = (await slack.users_info(user=ACME_GUEST_USER_ID))["user"]
    assert (single["is_restricted"], single["is_ultra_restricted"]) == (True, True)
    # A guest is in the channels they were invited to only.
    assert ACME_GUEST_USER_ID in world.channels[SUPPORT].members
    assert ACME_GUEST_USER_ID not in world.channels["C0ACMEGENL"].members


async def test_usergroups_need_their_scope(world: SlackWorld, base: str) -> None:
    without = client(base, install(world, scopes=("chat:write", "users:read")))
    for call in (without.usergroups_list(), without.usergroups_users_list(usergroup="S1")):
        error = await error_of(call)
        assert error.response["error"] == "missing_scope"
        assert error.response["needed"] == "usergroups:read"


async def test_usergroups_and_their_members(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    groups = (await slack.usergroups_list())["usergroups"]
    assert {(g["name"], g["handle"]) for g in groups} == {
        ("Helpdesk", "helpdesk"),
        ("Engineering", "engineering"),
    }
    assert "users" not in groups[0]
    members = await slack.usergroups_users_list(usergroup=ACME_HELPDESK_GROUP_ID)
    assert members["users"] == ["U0ACME0002"]
    unknown = await error_of(slack.usergroups_users_list(usergroup="S0NOSUCH"))
    assert unknown.response["error"] == "no_such_subteam"
    # Another workspace's token does not see Acme's groups.
    globex = client(base, install(world, team=GLOBEX_TEAM_ID, user="U0GLBX0001"))
    assert (await globex.usergroups_list())["usergroups"] == []
    other = await error_of(globex.usergroups_users_list(usergroup=ACME_HELPDESK_GROUP_ID))
    assert other.response["error"] == "no_such_subteam"


async def test_users_list_pages_with_a_cursor(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    first = await slack.users_list(limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    assert len(first["members"]) == 2 and cursor
    seen = [m["id"] for m in first["members"]]
    while cursor:
        page = await slack.users_list(limit=2, cursor=cursor)
        seen += [m["id"] for m in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
    assert sorted(seen) == sorted(u.slack_user_id for u in world.team_users("T0SANDBOX1"))
    bad = await error_of(slack.users_list(cursor="not base64!"))
    assert bad.response["error"] == "invalid_cursor"


async def test_conversations_list_by_type_and_scope(world: SlackWorld, base: str) -> None:
    slack = client(base, install(world))
    public = (await slack.conversations_list(exclude_archived=True))["channels"]
    names = {c["name"] for c in public}
    assert {"support", "general", "random"} <= names
    assert "old-helpdesk" not in names and "escalations" not in names
    # Private channels are listed only where the app is a member.
    both = await slack.conversations_list(types="public_channel,private_channel")
    assert "escalations" not in {c.get("name") for c in both["channels"]}
    world.channels["C0ACMEPRIV"].bot_is_member = True
    world.channels["C0ACMEPRIV"].members.add("U0ACMEBOT1")
    both = await slack.conversations_list(types="public_channel,private_channel")
    assert "escalations" in {c.get("name") for c in both["channels"]}
    no_groups = client(base, install(world, scopes=("channels:read",)))
    error = await error_of(no_groups.conversations_list(types="private_channel"))
    assert error.response["error"] == "missing_scope"
    invalid = await error_of(slack.conversations_list(types="rooms"))
    assert invalid.response["error"] == "invalid_types"
