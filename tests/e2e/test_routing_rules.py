"""Routing rules end to end: Slack Connect attributes, the order rules are tried in, an open
conversation moved by a changed rule, and the page refusing what it must.

Real web and worker processes against both simulators. The seeded #ext-partners of Acme is a
Slack Connect channel shared with Globex's workspace.
"""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import RoutingRule
from sandbox.genesys_records import InboundRecord
from sandbox.slack_seed import GLOBEX_TEAM_ID
from tests.e2e.admin import Admin
from tests.e2e.ledger import accepted
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople, dm_id, thread_id

EXT = "C0ACMEXTSH"


def records_of(system: System, from_id: str) -> list[InboundRecord]:
    return [r for r in accepted(system.genesys) if r.body["channel"]["from"]["id"] == from_id]


def attributes(record: InboundRecord) -> dict[str, str]:
    found: dict[str, str] = record.body["channel"]["metadata"]["customAttributes"]
    return found


async def rule_ids(system: System, kind: str) -> list[str]:
    async with system.engine.connect() as connection:
        rows = await connection.execute(
            select(RoutingRule.id).where(
                RoutingRule.tenant_id == system.acme.tenant_id, RoutingRule.match_kind == kind
            )
        )
        return [str(rule_id) for (rule_id,) in rows]


async def test_a_slack_connect_channel_names_the_external_organisation(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    shared = await slack.mention(acme, "Connect: hello from the shared channel", channel=EXT)
    plain = await slack.mention(acme, "Connect: hello from support")
    await bridge.drain()

    [from_shared] = records_of(bridge, thread_id(acme, EXT, shared.ts))
    assert attributes(from_shared)["slackSharedChannel"] == "true"
    assert attributes(from_shared)["slackConnectOrgId"] == GLOBEX_TEAM_ID
    assert attributes(from_shared)["slackConnectOrgName"] == "Globex"
    [from_support] = records_of(bridge, thread_id(acme, acme.support_channel, plain.ts))
    assert attributes(from_support)["slackSharedChannel"] == "false"
    assert "slackConnectOrgId" not in attributes(from_support)
    # team.info is asked once for the organisation, not once per message.
    assert len([c for c in bridge.slack.calls if c.method == "team.info" and c.ok]) == 1


async def test_rules_apply_in_order_and_a_changed_rule_moves_an_open_conversation(
    bridge: System,
) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    admin = await Admin(bridge, acme).sign_in()
    for form in (
        {"match": f"connect_org:{GLOBEX_TEAM_ID}", "queue": "Partners"},
        {"match": "default", "queue": "General"},
    ):
        saved = await admin.post("/settings/routing/rules", form)
        assert saved.status_code == 303, saved.text

    root = await slack.mention(acme, "Order: from the shared channel", channel=EXT)
    direct = await slack.dm(acme, "Order: a DM")
    await bridge.drain()
    [first] = records_of(bridge, thread_id(acme, EXT, root.ts))
    assert (attributes(first)["routingRule"], attributes(first)["routingQueue"]) == (
        "connect_org",
        "Partners",
    )
    assert first.integration_id == acme.mentions_integration_id
    [dm] = records_of(bridge, dm_id(acme, acme.customer))
    assert (attributes(dm)["routingRule"], attributes(dm)["routingQueue"]) == ("default", "General")
    assert dm.body["text"] == direct.text

    # The channel's own rule comes first; it moves the open thread to the DM integration.
    saved = await admin.post(
        "/settings/routing/rules",
        {"match": f"channel:{EXT}", "integration": acme.dms_integration_id, "queue": "Ext"},
    )
    assert saved.status_code == 303, saved.text
    await slack.reply(acme, thread_ts=root.ts, text="Order: a reply after the change", channel=EXT)
    await bridge.drain()
    _, moved = records_of(bridge, thread_id(acme, EXT, root.ts))
    assert moved.integration_id == acme.dms_integration_id
    assert attributes(moved)["routingRule"] == "channel"
    assert attributes(moved)["routingQueue"] == "Ext"
    assert attributes(moved)["slackContinuesConversation"] == "true"
    assert str(moved.body["text"]).startswith("↪️ This continues an earlier Slack conversation")

    # The integration a rule uses cannot be retired while the rule stands.
    switched = await admin.save_integrations(
        mentions=acme.mentions_integration_id, dms=acme.mentions_integration_id, auto_wire=True
    )
    assert switched.status_code in (200, 303), switched.text
    refused = await admin.post(f"/onboarding/integrations/{acme.dms_integration_id}/retire", {})
    assert refused.status_code == 404 and "routing rule" in refused.text
    restored = await admin.save_integrations(
        mentions=acme.mentions_integration_id, dms=acme.dms_integration_id, auto_wire=True
    )
    assert restored.status_code in (200, 303), restored.text


async def test_the_page_refuses_bad_input_forged_forms_and_other_workspaces(
    bridge: System,
) -> None:
    acme = bridge.acme.spec
    admin = await Admin(bridge, acme).sign_in()
    page = await admin.page_at("/settings/routing")
    # Channels by name, from Slack's list; archived ones are not offered.
    assert ">#billing<" in page.text and ">#old-helpdesk<" not in page.text
    assert "Globex (Slack Connect)" in page.text

    bad = await admin.post(
        "/settings/routing/rules",
        {"match": "default", "priority": "urgent", "hours_from": "9am", "days": "1"},
    )
    assert bad.status_code == 400
    assert "A priority is a whole number" in bad.text
    assert "HH:MM" in bad.text
    unknown = await admin.post("/settings/routing/rules", {"match": "channel:C0NOSUCH"})
    assert unknown.status_code == 400 and "Choose a channel" in unknown.text
    long_away = await admin.post("/settings/routing/away", {"away_message": "x" * 1001})
    assert long_away.status_code == 400 and "at most 1000" in long_away.text

    forged = await bridge.http.post(
        f"{bridge.app_url}/settings/routing/rules",
        data={"csrf": "forged", "match": "dms"},
        headers=admin._headers,
    )
    assert forged.status_code == 403
    signed_out = await bridge.http.get(f"{bridge.app_url}/settings/routing")
    assert signed_out.status_code == 401

    saved = await admin.post("/settings/routing/rules", {"match": "dms", "queue": "Direct"})
    assert saved.status_code == 303
    [rule_id] = await rule_ids(bridge, "dms")
    assert f'id="rule-{rule_id}"' in (await admin.page_at("/settings/routing")).text
    globex = await Admin(bridge, bridge.globex.spec).sign_in()
    theirs = await globex.post(f"/settings/routing/rules/{rule_id}/delete", {})
    assert theirs.status_code == 404 and "No such rule" in theirs.text
    not_an_id = await admin.post("/settings/routing/rules/not-a-uuid/delete", {})
    assert not_an_id.status_code == 404
    for edit in (rule_id, "not-a-uuid"):
        url = f"{bridge.app_url}/settings/routing?edit={edit}"
        shown = await bridge.http.get(url, headers=globex._headers)
        assert shown.status_code == 404 and "No such rule" in shown.text
    mine_shown = await admin.page_at(f"/settings/routing?edit={rule_id}")
    assert 'value="Direct"' in mine_shown.text
    mine = await admin.post(f"/settings/routing/rules/{rule_id}/delete", {})
    assert mine.status_code == 303
    assert await rule_ids(bridge, "dms") == []
