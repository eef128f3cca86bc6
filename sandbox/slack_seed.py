"""The people and places every fresh simulated Slack starts with.

Two plain workspaces and one Enterprise Grid org, so a test can tell a workspace install from
an org-wide one. IDs are fixed so tests, the benchmark and a person on the sandbox page can
name them; Grid users get `W…` IDs as real Grid users do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.slack_records import (
    SlackChannel,
    SlackEnterprise,
    SlackTeam,
    SlackUser,
    SlackUsergroup,
)

ACME_TEAM_ID = "T0SANDBOX1"
GLOBEX_TEAM_ID = "T0SANDBOX2"
INITECH_TEAM_ID = "T0SANDBOX3"
INITECH_ENTERPRISE_ID = "E0SANDBOX1"
OTHER_BOT_USER_ID = "U0ACMEOTB1"
# A multi-channel guest of Acme, a member of #support only (Slack's `is_restricted`).
ACME_GUEST_USER_ID = "U0ACMEGST1"
ACME_HELPDESK_GROUP_ID = "S0ACMEHELP"
ACME_ENGINEERING_GROUP_ID = "S0ACMEENGR"


@dataclass
class SlackDirectory:
    enterprises: list[SlackEnterprise]
    teams: list[SlackTeam]
    users: list[SlackUser]
    channels: list[SlackChannel]
    # workspace -> the sandbox app's bot user there
    app_bots: dict[str, str]
    usergroups: list[SlackUsergroup] = field(default_factory=list)


def _person(
    slack_user_id: str,
    slack_team_id: str,
    first: str,
    last: str,
    domain: str,
    *,
    title: str = "",
    admin: bool = False,
    owner: bool = False,
) -> SlackUser:
    handle = first.lower()
    return SlackUser(
        slack_user_id=slack_user_id,
        slack_team_id=slack_team_id,
        name=handle,
        real_name=f"{first} {last}",
        display_name=handle,
        first_name=first,
        last_name=last,
        email=f"{handle}.{last.lower()}@{domain}",
        title=title,
        is_admin=admin or owner,
        is_owner=owner,
    )


def _guest(slack_user_id: str, slack_team_id: str, first: str, last: str, domain: str) -> SlackUser:
    guest = _person(slack_user_id, slack_team_id, first, last, domain, title="Guest")
    guest.is_restricted = True
    return guest


def _bot(slack_user_id: str, slack_team_id: str, slack_bot_id: str, name: str) -> SlackUser:
    return SlackUser(
        slack_user_id=slack_user_id,
        slack_team_id=slack_team_id,
        name=name.lower(),
        real_name=name,
        display_name=name,
        first_name=name,
        last_name="",
        email="",
        is_bot=True,
        slack_bot_id=slack_bot_id,
        color="3c989f",
    )


def _channels(slack_team_id: str, prefix: str, *, extras: bool) -> list[SlackChannel]:
    channels = [
        SlackChannel(f"C0{prefix}SUPP", slack_team_id, "support", purpose="Ask us anything"),
        SlackChannel(f"C0{prefix}GENL", slack_team_id, "general", is_general=True),
    ]
    if extras:
        channels += [
            SlackChannel(f"C0{prefix}RAND", slack_team_id, "random", bot_is_member=False),
            SlackChannel(
                f"C0{prefix}PRIV",
                slack_team_id,
                "escalations",
                is_private=True,
                bot_is_member=False,
            ),
            SlackChannel(f"C0{prefix}ARCH", slack_team_id, "old-helpdesk", is_archived=True),
            SlackChannel(
                f"C0{prefix}XTSH",
                slack_team_id,
                "ext-partners",
                is_ext_shared=True,
                connected_team_ids=[GLOBEX_TEAM_ID],
            ),
            SlackChannel(f"C0{prefix}BILL", slack_team_id, "billing", purpose="Invoices"),
        ]
    return channels


def build_directory() -> SlackDirectory:
    """A fresh copy each time, so `reset()` never shares mutable records with an older world."""
    acme, globex, initech = "acme.example", "globex.example", "initech.example"
    users = [
        _person("U0ACME0001", ACME_TEAM_ID, "Ada", "Lovelace", acme, title="CTO", owner=True),
        _person("U0ACME0002", ACME_TEAM_ID, "Grace", "Hopper", acme, title="Admiral", admin=True),
        _person("U0ACME0003", ACME_TEAM_ID, "Alan", "Turing", acme, title="Researcher"),
        _bot("U0ACMEBOT1", ACME_TEAM_ID, "B0ACMEBOT1", "Switchboard"),
        _guest(ACME_GUEST_USER_ID, ACME_TEAM_ID, "Gus", "Visitor", "partner.example"),
        _bot(OTHER_BOT_USER_ID, ACME_TEAM_ID, "B0ACMEOTB1", "Deploybot"),
        _person("U0GLBX0001", GLOBEX_TEAM_ID, "Hank", "Scorpio", globex, owner=True),
        _person("U0GLBX0002", GLOBEX_TEAM_ID, "Homer", "Simpson", globex, title="Safety"),
        _person("U0GLBX0003", GLOBEX_TEAM_ID, "Frank", "Grimes", globex),
        _bot("U0GLBXBOT1", GLOBEX_TEAM_ID, "B0GLBXBOT1", "Switchboard"),
        _person("W0INIT0001", INITECH_TEAM_ID, "Bill", "Lumbergh", initech, owner=True),
        _person("W0INIT0002", INITECH_TEAM_ID, "Peter", "Gibbons", initech, title="Engineer"),
        _person("W0INIT0003", INITECH_TEAM_ID, "Milton", "Waddams", initech, title="Collator"),
        _bot("W0INITBOT1", INITECH_TEAM_ID, "B0INITBOT1", "Switchboard"),
    ]
    channels = (
        _channels(ACME_TEAM_ID, "ACME", extras=True)
        + _channels(GLOBEX_TEAM_ID, "GLBX", extras=False)
        + _channels(INITECH_TEAM_ID, "INIT", extras=False)
    )
    for channel in channels:
        channel.members = {
            user.slack_user_id
            for user in users
            if user.slack_team_id == channel.slack_team_id
            and not user.is_bot
            and (not user.is_restricted or channel.name == "support")
        }
    return SlackDirectory(
        enterprises=[SlackEnterprise(INITECH_ENTERPRISE_ID, "Initech", "initech-sandbox")],
        teams=[
            SlackTeam(ACME_TEAM_ID, "Acme Corp", "acme-sandbox"),
            SlackTeam(GLOBEX_TEAM_ID, "Globex", "globex-sandbox"),
            SlackTeam(INITECH_TEAM_ID, "Initech HQ", "initech-hq", INITECH_ENTERPRISE_ID),
        ],
        users=users,
        channels=channels,
        app_bots={
            ACME_TEAM_ID: "U0ACMEBOT1",
            GLOBEX_TEAM_ID: "U0GLBXBOT1",
            INITECH_TEAM_ID: "W0INITBOT1",
        },
        usergroups=[
            SlackUsergroup(
                ACME_HELPDESK_GROUP_ID,
                ACME_TEAM_ID,
                "Helpdesk",
                "helpdesk",
                "First-line support staff",
                users=["U0ACME0002"],
            ),
            SlackUsergroup(
                ACME_ENGINEERING_GROUP_ID,
                ACME_TEAM_ID,
                "Engineering",
                "engineering",
                users=["U0ACME0001", "U0ACME0003"],
            ),
        ],
    )
