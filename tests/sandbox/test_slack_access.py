"""The simulated Slack's directory for "who may open requests": guests in `users.info`,
user groups (`usergroups.list`, `usergroups.users.list`, both needing `usergroups:read`)."""

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
