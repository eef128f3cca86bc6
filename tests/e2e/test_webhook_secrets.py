"""Webhook secrets through the real web and worker processes: re-saving the settings never
breaks the signature Genesys uses, a rotation keeps the old secret until the new one is seen,
and an integration the admin switched away from keeps delivering until it is retired."""

from __future__ import annotations

from app.signing import genesys_signature
from sandbox.faults import FaultSpec
from sandbox.genesys_webhook import to_body
from sandbox.genesys_world import SANDBOX_ADMIN_USER_ID, SANDBOX_ORG_ID
from tests.e2e.admin import Admin
from tests.e2e.ledger import slack_texts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id


async def post_signed(system: System, body: bytes, secret: str) -> int:
    """One webhook delivery signed with `secret`, as Genesys would sign it."""
    response = await system.http.post(
        f"{system.app_url}/genesys/webhook",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": genesys_signature(secret, body),
        },
    )
    return response.status_code


async def test_resaving_with_a_failing_automatic_patch_keeps_agent_replies_flowing(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    admin = await Admin(bridge, acme).sign_in()
    root = await slack.mention(acme, "Resave: my parcel is late")
    before = bridge.webhook_secret(acme.mentions_integration_id)

    bridge.genesys.faults.arm(FaultSpec(route="integrations.patch", kind="status", status=503))
    saved = await admin.save_integrations(
        mentions=acme.mentions_integration_id, dms=acme.dms_integration_id, auto_wire=True
    )
    assert saved.status_code == 200, saved.text
    assert "Automatic set-up was not possible" in saved.text
    assert bridge.webhook_secret(acme.mentions_integration_id) == before

    thread = thread_id(acme, acme.support_channel, root.ts)
    [report] = await agents.reply(acme.mentions_integration_id, thread, "Resave: found it")
    assert report.outcome == "delivered", report.attempts
    await bridge.drain()
    assert slack_texts(bridge.slack, acme.support_channel, root.ts) == ["Resave: found it"]


async def test_resaving_with_manual_wiring_keeps_the_secret(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    admin = await Admin(bridge, acme).sign_in()
    dm = await slack.dm(acme, "Manual: where is my refund?")

    saved = await admin.save_integrations(
        mentions=acme.mentions_integration_id, dms=acme.dms_integration_id, auto_wire=False
    )
    assert saved.status_code in (200, 303), saved.text
    assert 'class="secret"' not in saved.text  # nothing new to paste

    [report] = await agents.reply(acme.dms_integration_id, dm_id(acme, acme.customer), "Manual: ok")
    assert report.outcome == "delivered", report.attempts
    await bridge.drain()
    assert slack_texts(bridge.slack, dm.slack_channel_id, None)[-1:] == ["Manual: ok"]


async def test_a_replaced_dm_integration_delivers_until_it_is_retired(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    old = acme.dms_integration_id
    new = bridge.genesys.add_integration(
        org_id=SANDBOX_ORG_ID, name="Slack DMs (new)", created_by=SANDBOX_ADMIN_USER_ID
    )
    new.create_status, new.completes_at = "Completed", None
    admin = await Admin(bridge, acme).sign_in()
    dm = await slack.dm(acme, "Switch: can I still reach you?")
    direct = dm_id(acme, acme.customer)

    saved = await admin.save_integrations(
        mentions=acme.mentions_integration_id, dms=new.id, auto_wire=True
    )
    assert saved.status_code == 303, saved.text

    via_old = await agents.reply(old, direct, "Switch: an answer through the old integration")
    via_new = await agents.reply(new.id, direct, "Switch: and one through the new one")
    assert [r.outcome for r in via_old + via_new] == ["delivered", "delivered"]
    await bridge.drain()
    assert slack_texts(bridge.slack, dm.slack_channel_id, None)[-2:] == [
        "Switch: an answer through the old integration",
        "Switch: and one through the new one",
    ]
    page = (await admin.page()).text
    assert f'action="/onboarding/integrations/{old}/retire"' in page

    retired = await admin.post(f"/onboarding/integrations/{old}/retire", {})
    assert retired.status_code == 303, retired.text
    assert f"/onboarding/integrations/{old}/retire" not in (await admin.page()).text
    [refused] = await agents.reply(old, direct, "Switch: after retirement")
    assert refused.outcome == "rejected"
    assert refused.attempts[-1].status == 401
    await bridge.drain()
    assert "Switch: after retirement" not in slack_texts(bridge.slack, dm.slack_channel_id, None)


async def test_a_rotated_secret_keeps_the_old_one_until_the_new_one_is_used(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    integration = acme.mentions_integration_id
    admin = await Admin(bridge, acme).sign_in()
    root = await slack.mention(acme, "Rotate: my screen is blank")
    thread = thread_id(acme, acme.support_channel, root.ts)
    old = bridge.webhook_secret(integration)

    rotated = await admin.post(f"/onboarding/integrations/{integration}/rotate", {})
    assert rotated.status_code == 303, rotated.text
    assert bridge.webhook_secret(integration) != old  # PATCHed onto the integration

    # A reply Genesys signed just before the PATCH took effect: still accepted.
    early = to_body(agents.prepare(integration, thread, "Rotate: signed with the old secret"))
    assert await post_signed(bridge, early, old) == 200
    [report] = await agents.reply(integration, thread, "Rotate: signed with the new secret")
    assert report.outcome == "delivered", report.attempts
    # The new secret has been seen, so the old one is finished.
    late = to_body(agents.prepare(integration, thread, "Rotate: the old secret, too late"))
    assert await post_signed(bridge, late, old) == 401
    await bridge.drain()
    assert slack_texts(bridge.slack, acme.support_channel, root.ts) == [
        "Rotate: signed with the old secret",
        "Rotate: signed with the new secret",
    ]
