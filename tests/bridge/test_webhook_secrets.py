"""Verifying Genesys webhooks against an integration's current and previous secret, and the
cheap bookkeeping of when one was last verified or refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.ingest import Ingest
from app.bridge.messages import IngestOutcome, IngestOutcomeKind
from app.crypto import SecretBox
from app.db.models import BridgeMessage, GenesysIntegration
from app.signing import genesys_signature
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET
from sandbox.genesys_webhook import Addressing, build_typing
from tests.factories import make_settings, make_tenant

Sessions = async_sessionmaker[AsyncSession]
CURRENT = "current-secret-0123456789abcdef"
PREVIOUS = "previous-secret-0123456789abcdef"


@pytest.fixture
def box(database_url: str) -> SecretBox:
    return SecretBox(make_settings(database_url).keys)


@pytest.fixture
def ingest(sessions: Sessions, box: SecretBox) -> Ingest:
    return Ingest(sessions=sessions, box=box)


async def wired(
    sessions: Sessions,
    box: SecretBox,
    *,
    previous: str | None = None,
    previous_until: datetime | None = None,
    last_verified_at: datetime | None = None,
    last_refused_at: datetime | None = None,
) -> GenesysIntegration:
    async with sessions.begin() as session:
        tenant = await make_tenant(session)
        row = GenesysIntegration(
            genesys_integration_id=str(uuid.uuid4()),
            tenant_id=tenant.id,
            name="Slack mentions",
            for_mentions=True,
            for_dms=True,
            webhook_secret_enc=box.encrypt(
                CURRENT, tenant_id=tenant.id, purpose=GENESYS_WEBHOOK_SECRET
            ),
            previous_webhook_secret_enc=box.encrypt(
                previous, tenant_id=tenant.id, purpose=GENESYS_WEBHOOK_SECRET
            )
            if previous
            else None,
            previous_secret_expires_at=previous_until,
            webhook_wiring="auto",
            last_verified_at=last_verified_at,
            last_refused_at=last_refused_at,
        )
        session.add(row)
    return row


def typing_body(integration_id: str) -> bytes:
    addr = Addressing(
        integration_id=integration_id,
        integration_name="Slack mentions",
        to_id="T0ACME:U0ACME0003",
        to_id_type="Opaque",
        conversation_id=str(uuid.uuid4()),
    )
    payload = build_typing(addr, message_id=uuid.uuid4().hex, time="2026-12-03T10:00:00.000Z")
    return json.dumps(payload).encode()


RECORDED, UNSIGNED = IngestOutcomeKind.RECORDED, IngestOutcomeKind.UNSIGNED


async def webhook(ingest: Ingest, body: bytes, signature: str | None) -> IngestOutcome:
    """As the web layer calls it: the body parsed, the raw bytes for the signature."""
    return await ingest.genesys_webhook(body, signature)


async def reread(sessions: Sessions, integration_id: str) -> GenesysIntegration:
    async with sessions() as session:
        row = (
            await session.execute(
                select(GenesysIntegration)
                .where(GenesysIntegration.genesys_integration_id == integration_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
    return row


async def test_the_previous_secret_verifies_until_the_current_one_is_seen(
    sessions: Sessions, box: SecretBox, ingest: Ingest
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    row = await wired(sessions, box, previous=PREVIOUS, previous_until=later)
    body = typing_body(row.genesys_integration_id)

    old = await webhook(ingest, body, genesys_signature(PREVIOUS, body))
    assert old.kind == RECORDED
    assert (await reread(sessions, row.genesys_integration_id)).previous_webhook_secret_enc

    new = await webhook(ingest, body, genesys_signature(CURRENT, body))
    assert new.kind == RECORDED
    after = await reread(sessions, row.genesys_integration_id)
    assert after.previous_webhook_secret_enc is None
    assert after.previous_secret_expires_at is None
    assert after.last_verified_at is not None

    too_late = await webhook(ingest, body, genesys_signature(PREVIOUS, body))
    assert too_late.kind == UNSIGNED


async def test_the_previous_secret_expires_with_its_window(
    sessions: Sessions, box: SecretBox, ingest: Ingest
) -> None:
    ended = datetime.now(UTC) - timedelta(seconds=1)
    row = await wired(sessions, box, previous=PREVIOUS, previous_until=ended)
    body = typing_body(row.genesys_integration_id)
    answer = await webhook(ingest, body, genesys_signature(PREVIOUS, body))
    assert answer.kind == UNSIGNED
    assert (await reread(sessions, row.genesys_integration_id)).last_refused_at is not None


async def test_a_signature_of_neither_secret_is_refused_and_noted(
    sessions: Sessions, box: SecretBox, ingest: Ingest
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    row = await wired(sessions, box, previous=PREVIOUS, previous_until=later)
    body = typing_body(row.genesys_integration_id)
    for signature in (genesys_signature("someone-else-0123456789", body), None, "sha256=AAAA"):
        assert (await webhook(ingest, body, signature)).kind == UNSIGNED
    after = await reread(sessions, row.genesys_integration_id)
    assert after.last_refused_at is not None and after.last_verified_at is None
    assert after.previous_webhook_secret_enc is not None  # a forgery ends no rotation


async def test_timestamps_are_rewritten_at_most_once_a_minute(
    sessions: Sessions, box: SecretBox, ingest: Ingest
) -> None:
    recent = datetime.now(UTC) - timedelta(seconds=20)
    row = await wired(sessions, box, last_verified_at=recent, last_refused_at=recent)
    body = typing_body(row.genesys_integration_id)
    assert (await webhook(ingest, body, genesys_signature(CURRENT, body))).kind == RECORDED
    assert (await webhook(ingest, body, "sha256=forged")).kind == UNSIGNED
    after = await reread(sessions, row.genesys_integration_id)
    assert (after.last_verified_at, after.last_refused_at) == (recent, recent)

    stale = datetime.now(UTC) - timedelta(minutes=5)
    async with sessions.begin() as session:
        fresh = await session.get(GenesysIntegration, row.genesys_integration_id)
        assert fresh is not None
        fresh.last_verified_at = fresh.last_refused_at = stale
    # Turning the notes back bumps no version (they are bookkeeping), so only a process that
    # has not cached the integration sees it at once; ours would write within the minute.
    ingest = Ingest(sessions=sessions, box=box)
    assert (await webhook(ingest, body, genesys_signature(CURRENT, body))).kind == RECORDED
    assert (await webhook(ingest, body, "sha256=forged")).kind == UNSIGNED
    after = await reread(sessions, row.genesys_integration_id)
    assert after.last_verified_at is not None and after.last_verified_at > stale
    assert after.last_refused_at is not None and after.last_refused_at > stale


async def test_a_webhook_for_an_unknown_integration_writes_nothing(
    sessions: Sessions, box: SecretBox, ingest: Ingest
) -> None:
    row = await wired(sessions, box)
    body = typing_body(str(uuid.uuid4()))
    answer = await webhook(ingest, body, genesys_signature(CURRENT, body))
    assert answer.kind == UNSIGNED
    after = await reread(sessions, row.genesys_integration_id)
    assert (after.last_verified_at, after.last_refused_at) == (None, None)
    async with sessions() as session:
        assert (await session.execute(select(func.count(BridgeMessage.id)))).scalar_one() == 0
