"""The app removed in Slack while an agent is still answering: real web and worker processes
against the simulated Slack, which revokes the tokens as Slack does and sends `app_uninstalled`
and `tokens_revoked` in no guaranteed order and at no guaranteed time (slack-platform §3.8).

An agent reply that meets the revoked bot token before the events arrive must not be retried
for ever nor lost silently: it is dead-lettered and Genesys gets a Failed receipt saying the
recipient opted out. What a bot token answers after an uninstall is UNCONFIRMED
(`account_inactive` is what developers report; `token_revoked` is the documented answer for a
user token), so both answers are tried, one per workspace. The late events are then acked.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db.models import BridgeMessage, Tenant
from sandbox.slack_payloads import build_uninstall
from sandbox.slack_world import RevokedBotTokenError
from tests.e2e.ledger import receipts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, thread_id


@pytest.mark.parametrize(
    ("workspace", "answer"), [("acme", "account_inactive"), ("globex", "token_revoked")]
)
async def test_an_agent_reply_after_the_app_was_removed_gets_a_failed_receipt(
    bridge: System, workspace: str, answer: RevokedBotTokenError
) -> None:
    tenant = getattr(bridge, workspace)
    spec = tenant.spec
    slack, agents = SlackPeople(bridge), Agents(bridge)
    root = await slack.mention(spec, "Removed: before the uninstall")
    thread = thread_id(spec, spec.support_channel, root.ts)
    await bridge.drain()

    bridge.slack.uninstalled_bot_token_error = answer
    try:
        # Removed in Slack: the tokens are revoked now, the two events are still on their way.
        late_events = build_uninstall(bridge.slack, slack_team_id=spec.slack_team_id)
        [report] = await agents.reply(spec.mentions_integration_id, thread, "Removed: too late")
        await bridge.drain()
    finally:
        bridge.slack.uninstalled_bot_token_error = "account_inactive"

    [receipt] = receipts(bridge.genesys, report.message_id)
    assert receipt["status"] == "Failed"
    assert receipt["reasons"] == [
        {"code": "RecipientOptedOut", "message": f"Slack API error: {answer}"}
    ]
    posted = [m.text for m in bridge.slack.replies(spec.support_channel, root.ts)]
    assert not [text for text in posted if "too late" in text]
    async with bridge.engine.connect() as connection:
        status = await connection.scalar(
            select(BridgeMessage.status).where(BridgeMessage.dedupe_key == report.message_id)
        )
    assert status == "dead"

    for built in late_events:
        delivered = await slack.send(built)
        assert [a.status for a in delivered.attempts] == [200], delivered
    async with bridge.engine.connect() as connection:
        state = await connection.scalar(select(Tenant.status).where(Tenant.id == tenant.tenant_id))
    assert state == "uninstalled"
