"""Who may open requests, end to end: the admin's choice on `/settings/access` is applied by
the worker before anything reaches Genesys. Someone not allowed gets an ephemeral answer that
only they see in the simulated Slack, their message is kept as `refused`, and the simulated
Genesys receives nothing from them; someone allowed gets through as before."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import select, update

from app.bridge.access import REFUSED_TEXT
from app.db.models import BridgeMessage, Tenant
from sandbox.slack_records import SlackMessage
from sandbox.slack_seed import ACME_ENGINEERING_GROUP_ID, ACME_GUEST_USER_ID, ACME_HELPDESK_GROUP_ID
from tests.e2e.admin import Admin
from tests.e2e.ledger import accepted, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, build_thread_reply, thread_id

GENERAL = "C0ACMEGENL"
MEMBER = "U0ACME0002"  # Grace: a full member, in the Helpdesk group


@pytest.fixture
async def acme_admin(bridge: System) -> AsyncIterator[Admin]:
    """Acme's signed-in admin; the tenant's choice is back to "everyone" afterwards."""
    admin = await Admin(bridge, bridge.acme.spec).sign_in()
    try:
        yield admin
    finally:
        async with bridge.engine.begin() as connection:
            await connection.execute(
                update(Tenant)
                .where(Tenant.id == bridge.acme.tenant_id)
                .values(request_policy="everyone", request_channel_ids=[], request_usergroup_ids=[])
            )


async def choose(
    admin: Admin, policy: str, *, channels: Sequence[str] = (), usergroups: Sequence[str] = ()
) -> None:
    system = admin.system
    shown = await system.http.get(f"{system.app_url}/settings/access", headers=admin._headers)
    assert shown.status_code == 200, shown.text
    match = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert match
    form = [("csrf", match.group(1)), ("policy", policy)]
    form += [("channel", c) for c in channels] + [("usergroup", g) for g in usergroups]
    saved = await system.http.post(
        f"{system.app_url}/settings/access",
        content="&".join(f"{k}={v}" for k, v in form),
        headers={**admin._headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert saved.status_code == 303, saved.text


def genesys_saw(system: System, text: str) -> bool:
    return any(text in str(r.body.get("text")) for r in accepted(system.genesys))


def ephemerals_to(system: System, channel: str, user: str) -> list[tuple[str, str | None]]:
    return [
        (m.text, m.thread_ts)
        for m in system.slack.channel_messages(channel)
        if m.ephemeral_to == user
    ]


async def status_of(system: System, channel: str, ts: str) -> str:
    async with system.engine.connect() as connection:
        found = await connection.execute(
            select(BridgeMessage.status, BridgeMessage.last_error).where(
                BridgeMessage.dedupe_key == f"{system.acme.spec.slack_team_id}:{channel}:{ts}"
            )
        )
        status, error = found.one()
        return f"{status}:{error}" if error else str(status)


async def test_members_only_refuses_a_guest_and_lets_a_member_through(
    bridge: System, acme_admin: Admin
) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    await choose(acme_admin, "members")

    guest = await slack.mention(acme, "Guest: may I ask?", user=ACME_GUEST_USER_ID)
    member = await slack.mention(acme, "Member: may I ask?", user=MEMBER)
    await bridge.drain()

    assert genesys_saw(bridge, "Member: may I ask?")
    assert not genesys_saw(bridge, "Guest: may I ask?")
    assert ephemerals_to(bridge, acme.support_channel, ACME_GUEST_USER_ID) == [
        (REFUSED_TEXT, guest.ts)
    ]
    assert ephemerals_to(bridge, acme.support_channel, MEMBER) == []

    assert await status_of(bridge, acme.support_channel, guest.ts) == "refused:refused:guest"
    assert await status_of(bridge, acme.support_channel, member.ts) == "delivered"

    # A guest replying in the member's open thread meets the same rule, and is not answered
    # again for each message (only a new message gets the ephemeral answer).
    reply = build_thread_reply(
        bridge,
        acme,
        channel=acme.support_channel,
        thread_ts=member.ts,
        user=ACME_GUEST_USER_ID,
        text="Guest: joining in",
    )
    await slack.send(reply)
    await bridge.drain()
    assert not genesys_saw(bridge, "Guest: joining in")
    assert reply.message is not None
    assert (await status_of(bridge, acme.support_channel, reply.message.ts)).startswith("refused")


async def test_only_listed_channels(bridge: System, acme_admin: Admin) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    await choose(acme_admin, "channels", channels=[acme.support_channel])

    allowed = await slack.mention(acme, "Channels: from #support")
    refused = await slack.mention(acme, "Channels: from #general", channel=GENERAL)
    await slack.dm(acme, "Channels: by DM")
    await bridge.drain()

    assert genesys_saw(bridge, "Channels: from #support")
    assert not genesys_saw(bridge, "Channels: from #general")
    assert not genesys_saw(bridge, "Channels: by DM")
    assert ephemerals_to(bridge, GENERAL, acme.customer) == [(REFUSED_TEXT, refused.ts)]
    assert ephemerals_to(bridge, acme.support_channel, acme.customer) == []
    assert await status_of(bridge, acme.support_channel, allowed.ts) == "delivered"

    # Direct messages are a choice of their own in the channel picker.
    await choose(acme_admin, "channels", channels=[acme.support_channel, "dm"])
    await slack.dm(acme, "Channels: DMs allowed now")
    await bridge.drain()
    assert genesys_saw(bridge, "Channels: DMs allowed now")


async def test_only_listed_user_groups(bridge: System, acme_admin: Admin) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    await choose(acme_admin, "usergroups", usergroups=[ACME_HELPDESK_GROUP_ID])

    await slack.mention(acme, "Groups: Grace is in Helpdesk", user=MEMBER)
    outsider = await slack.mention(acme, "Groups: Alan is not")
    await bridge.drain()

    assert genesys_saw(bridge, "Groups: Grace is in Helpdesk")
    assert not genesys_saw(bridge, "Groups: Alan is not")
    assert ephemerals_to(bridge, acme.support_channel, acme.customer) == [
        (REFUSED_TEXT, outsider.ts)
    ]
    assert any(call.method == "usergroups.users.list" for call in bridge.slack.calls)

    await choose(
        acme_admin, "usergroups", usergroups=[ACME_HELPDESK_GROUP_ID, ACME_ENGINEERING_GROUP_ID]
    )
    await slack.mention(acme, "Groups: Alan is in Engineering")
    await bridge.drain()
    assert genesys_saw(bridge, "Groups: Alan is in Engineering")


async def test_the_page_refuses_an_empty_list_with_a_400(bridge: System, acme_admin: Admin) -> None:
    system = acme_admin.system
    shown = await system.http.get(f"{system.app_url}/settings/access", headers=acme_admin._headers)
    assert re.search(r'value="C0ACMESUPP"\s*(checked)?\s*>\s*support</label>', shown.text), (
        "names, not IDs"
    )
    assert "Helpdesk (@helpdesk)" in shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert csrf
    refused = await system.http.post(
        f"{system.app_url}/settings/access",
        data={"csrf": csrf.group(1), "policy": "channels"},
        headers=acme_admin._headers,
    )
    assert refused.status_code == 400
    assert "Pick at least one channel" in refused.text
    forged = await system.http.post(
        f"{system.app_url}/settings/access",
        data={"csrf": "forged", "policy": "members"},
        headers=acme_admin._headers,
    )
    assert forged.status_code == 403
    async with system.engine.connect() as connection:
        policy = await connection.scalar(
            select(Tenant.request_policy).where(Tenant.id == system.acme.tenant_id)
        )
    assert policy == "everyone"


async def offer_buttons(bridge: System, user: str, text: str) -> tuple[str, SlackMessage]:
    """`user` asks in #support (while everyone may); an agent answers with quick replies."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, text, user=user)
    thread = thread_id(acme, acme.support_channel, root.ts)
    await agents.reply(
        acme.mentions_integration_id,
        thread,
        f"{text}: solved?",
        kind="quick_replies",
        quick_replies=["Yes", "No"],
    )
    await bridge.drain()
    [posted] = slack_posts(bridge.slack, acme.support_channel, root.ts)
    return thread, posted


def structured_answers(bridge: System, thread: str) -> list[str]:
    return [
        str(r.body["buttonResponse"]["text"])
        for r in accepted(bridge.genesys, "structured")
        if r.body["channel"]["from"]["id"] == thread
    ]


async def test_a_guests_button_click_is_refused_and_a_members_goes_through(
    bridge: System, acme_admin: Admin
) -> None:
    """Clicks follow the same rule: a guest answering the quick reply in their own thread,
    opened before the workspace chose members only, gets the ephemeral answer and Genesys
    gets no structured response; a member's click in their own thread goes through."""
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    guest_thread, guest_offer = await offer_buttons(bridge, ACME_GUEST_USER_ID, "Clicks guest")
    member_thread, member_offer = await offer_buttons(bridge, MEMBER, "Clicks member")
    await choose(acme_admin, "members")

    for user, posted in ((ACME_GUEST_USER_ID, guest_offer), (MEMBER, member_offer)):
        assert posted.blocks is not None
        [button, *_] = [e for b in posted.blocks if b["type"] == "actions" for e in b["elements"]]
        clicked = await slack.click(acme, posted, button, user=user)
        assert clicked.status_code == 200, clicked.text
    await bridge.drain()

    assert structured_answers(bridge, guest_thread) == []
    assert structured_answers(bridge, member_thread) == ["Yes"]
    assert ephemerals_to(bridge, acme.support_channel, ACME_GUEST_USER_ID)[-1][0] == REFUSED_TEXT
    assert ephemerals_to(bridge, acme.support_channel, MEMBER) == []

    # The guest's offer keeps its buttons (no "answered" rewrite); the member's is rewritten.
    def has_buttons(posted: SlackMessage) -> bool:
        shown = bridge.slack.find_message(acme.support_channel, posted.ts)
        assert shown is not None
        return any(b["type"] == "actions" for b in shown.blocks or [])

    assert has_buttons(guest_offer)
    assert not has_buttons(member_offer)
