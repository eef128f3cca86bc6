"""What the "Who may open requests" form may save (`app.tenants.access.validate`)."""

from __future__ import annotations

import pytest

from app.tenants.access import InvalidAccess, validate

SCOPES = ["users:read", "usergroups:read"]


def test_everyone_and_members_need_no_list() -> None:
    assert validate("everyone", [], [], bot_scopes=SCOPES).policy == "everyone"
    assert validate("members", [], [], bot_scopes=[]).policy == "members"


def test_listed_channels_keep_ids_once_and_accept_direct_messages() -> None:
    choice = validate("channels", ["C0A", " C0A", "dm", "G0B"], [], bot_scopes=SCOPES)
    assert choice.channel_ids == ["C0A", "dm", "G0B"]


@pytest.mark.parametrize(
    ("policy", "channels", "groups", "scopes", "message"),
    [
        ("nobody", [], [], SCOPES, "Choose who may open requests"),
        ("channels", [], [], SCOPES, "Pick at least one channel"),
        ("channels", ["<script>"], [], SCOPES, "not a Slack channel ID"),
        ("channels", ["U0PERSON"], [], SCOPES, "not a Slack channel ID"),
        ("usergroups", [], [], SCOPES, "Pick at least one user group"),
        ("usergroups", [], ["C0NOTGROUP"], SCOPES, "not a Slack user group ID"),
        ("usergroups", [], ["S0HELP"], ["users:read"], "usergroups:read"),
    ],
)
def test_refused_choices_say_why(
    policy: str, channels: list[str], groups: list[str], scopes: list[str], message: str
) -> None:
    with pytest.raises(InvalidAccess, match=message):
        validate(policy, channels, groups, bot_scopes=scopes)
