"""Ingest through a warm tenant cache: a change made behind its back (another process, an
admin command) takes effect for the very next event, and nothing is stored under a stale
entry. Real Postgres; the writes go straight to the tables, as another process's would."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.ingest import Ingest
from app.bridge.messages import IngestOutcomeKind
from app.crypto import SecretBox
from app.db.models import BridgeMessage, GenesysIntegration, SlackInstallation, Tenant
from app.signing import genesys_signature
from app.tenants.offboarding import purge_tenant
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET
from tests.bridge.conftest import WEBHOOK_SECRET, Onboarded
from tests.bridge.test_ingest import agent_text, envelope, mention

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def ingest(sessions: Sessions, box: SecretBox) -> Ingest:
    return Ingest(sessions=sessions, box=box)


def dm(text: str, ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": "D0JANE",
        "user": "U0JANE",
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }


async def stored(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(BridgeMessage)) or 0)


async def webhook(ingest: Ingest, payload: dict[str, Any], secret: str) -> IngestOutcomeKind:
    raw = json.dumps(payload).encode()
    return (await ingest.genesys_webhook(raw, genesys_signature(secret, raw))).kind


async def test_an_uninstall_stops_the_next_event_of_a_cached_tenant(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    first = await ingest.slack_event(envelope(dm("hello", "1718053401.000100")))
    assert first.kind == IngestOutcomeKind.ACCEPTED
    async with sessions.begin() as session:
        await purge_tenant(session, tenant_id=onboarded.tenant.id, reason="app_uninstalled")

    late = await ingest.slack_event(envelope(dm("still there?", "1718053402.000100")))
    assert late.kind == IngestOutcomeKind.UNKNOWN_TENANT
    assert await stored(sessions) == 0  # the purge took the first; the second never came in


async def test_an_ignored_event_is_judged_by_the_current_settings(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    """Another bot's message is ignored while the tenant does not forward bots; once the
    admin switches that on, the next one is stored, though the cache read the old setting."""
    bot_dm = {**dm("from a bot", "1718053401.000100"), "bot_id": "B0OTHER"}
    ignored = await ingest.slack_event(envelope(bot_dm))
    assert ignored.kind == IngestOutcomeKind.IGNORED
    async with sessions.begin() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == onboarded.tenant.id).values(forward_other_bots=True)
        )
    again = await ingest.slack_event(envelope({**bot_dm, "ts": "1718053402.000100"}))
    assert again.kind == IngestOutcomeKind.ACCEPTED


async def test_a_reinstalled_bot_identity_is_used_at_once(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    assert (await ingest.slack_event(envelope(mention()))).kind == IngestOutcomeKind.ACCEPTED
    async with sessions.begin() as session:
        await session.execute(
            update(SlackInstallation)
            .where(SlackInstallation.tenant_id == onboarded.tenant.id)
            .values(slack_bot_user_id="U0NEWBOT")
        )
    # A message addressed to the new bot user in a channel: a mention only under the new id.
    event = envelope(
        {
            **mention("<@U0NEWBOT> hello again"),
            "ts": "1718053499.000100",
            "event_ts": "1718053499.000100",
        }
    )
    outcome = await ingest.slack_event(event)
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    async with sessions() as session:
        row = await session.scalar(
            select(BridgeMessage).where(BridgeMessage.slack_event_id == event["event_id"])
        )
    assert row is not None and row.normalized is not None
    assert row.normalized["text"] == "hello again"


async def test_a_replaced_secret_stops_verifying_in_a_warm_process(
    sessions: Sessions, ingest: Ingest, box: SecretBox, onboarded: Onboarded
) -> None:
    integration = onboarded.integration.genesys_integration_id
    to_id = "T0ACME:D0JANE:U0JANE"
    assert await webhook(ingest, agent_text(integration, to_id), WEBHOOK_SECRET) == (
        IngestOutcomeKind.ACCEPTED
    )
    async with sessions.begin() as session:
        await session.execute(
            update(GenesysIntegration)
            .where(GenesysIntegration.genesys_integration_id == integration)
            .values(
                webhook_secret_enc=box.encrypt(
                    "the-new-secret-0123456789abcdef",
                    tenant_id=onboarded.tenant.id,
                    purpose=GENESYS_WEBHOOK_SECRET,
                )
            )
        )
    old = await webhook(ingest, agent_text(integration, to_id, id="gm-0002"), WEBHOOK_SECRET)
    new = await webhook(
        ingest, agent_text(integration, to_id, id="gm-0003"), "the-new-secret-0123456789abcdef"
    )
    assert (old, new) == (IngestOutcomeKind.UNSIGNED, IngestOutcomeKind.ACCEPTED)
    assert await stored(sessions) == 2


async def test_a_retired_integration_is_unknown_in_a_warm_process(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration = onboarded.integration.genesys_integration_id
    to_id = "T0ACME:D0JANE:U0JANE"
    assert await webhook(ingest, agent_text(integration, to_id), WEBHOOK_SECRET) == (
        IngestOutcomeKind.ACCEPTED
    )
    async with sessions.begin() as session:
        await session.delete(await session.get(GenesysIntegration, integration))
    late = await webhook(ingest, agent_text(integration, to_id, id="gm-0002"), WEBHOOK_SECRET)
    assert late == IngestOutcomeKind.UNSIGNED
    assert await stored(sessions) == 1


async def statements_of(sessions: Sessions, send: Any) -> list[str]:
    """The statements `send()` runs on the test's connection, without the fixture's
    savepoints (production runs none: each ingest statement is its own transaction)."""
    async with sessions() as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    seen: list[str] = []

    def record(query: LoggedQuery) -> None:
        if "SAVEPOINT" not in query.query:
            seen.append(" ".join(query.query.split())[:40])

    raw.add_query_logger(record)
    try:
        await send()
    finally:
        raw.remove_query_logger(record)
    return seen


async def test_an_event_of_a_cached_tenant_is_one_statement(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    cold = await statements_of(
        sessions, lambda: ingest.slack_event(envelope(dm("one", "1718053401.000100")))
    )
    warm = await statements_of(
        sessions, lambda: ingest.slack_event(envelope(dm("two", "1718053402.000100")))
    )
    assert len(cold) == 2, cold  # the tenant's read, then the statement that stores
    assert len(warm) == 1, warm
    assert warm[0].startswith("WITH ok AS")


async def test_an_agent_reply_of_a_cached_integration_is_one_statement(
    sessions: Sessions, ingest: Ingest, onboarded: Onboarded
) -> None:
    integration = onboarded.integration.genesys_integration_id
    to_id = "T0ACME:D0JANE:U0JANE"
    # The first reply notes the integration as verified (once a minute), which drops the
    # entry; the second reads it again, and from then on it is served from the cache.
    for n in (1, 2):
        await webhook(ingest, agent_text(integration, to_id, id=f"gm-000{n}"), WEBHOOK_SECRET)
    warm = await statements_of(
        sessions,
        lambda: webhook(ingest, agent_text(integration, to_id, id="gm-0003"), WEBHOOK_SECRET),
    )
    assert len(warm) == 1, warm
