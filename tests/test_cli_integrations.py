"""`python -m app integrations rotate|retire`, run as real processes against the test database."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import parse_encryption_keys
from app.crypto import SecretBox
from app.db.models import AuditEvent, GenesysIntegration, Tenant
from app.tenants.purposes import GENESYS_WEBHOOK_SECRET
from tests.factories import TEST_KEY
from tests.test_cli import run

BOX = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))
PASTED = "pasted-by-hand-0123456789abcdef"


async def manually_wired(engine: AsyncEngine) -> tuple[uuid.UUID, str]:
    tenant_id, integration_id = uuid.uuid4(), str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            insert(Tenant).values(
                id=tenant_id,
                slack_team_id="T0CLIINT",
                is_enterprise_install=False,
                name="Cli Integrations",
                status="active",
            )
        )
        await connection.execute(
            insert(GenesysIntegration).values(
                genesys_integration_id=integration_id,
                tenant_id=tenant_id,
                name="Slack DMs",
                for_mentions=True,
                for_dms=True,
                webhook_secret_enc=BOX.encrypt(
                    PASTED, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
                ),
                webhook_wiring="manual",
            )
        )
    return tenant_id, integration_id


async def stored(engine: AsyncEngine, integration_id: str) -> GenesysIntegration | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(GenesysIntegration).where(
                    GenesysIntegration.genesys_integration_id == integration_id
                )
            )
        ).first()
    return None if row is None else GenesysIntegration(**row._mapping)


async def test_rotate_prints_the_secret_to_paste_and_keeps_the_old_one(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    tenant_id, integration_id = await manually_wired(engine)
    rotated = run(database_url, "integrations", "rotate", str(tenant_id), integration_id)
    assert rotated.returncode == 0, rotated.stderr
    printed = rotated.stdout.strip().splitlines()[-1]
    row = await stored(engine, integration_id)
    assert row is not None and row.previous_webhook_secret_enc is not None
    current = BOX.decrypt(
        row.webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
    )
    previous = BOX.decrypt(
        row.previous_webhook_secret_enc, tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
    )
    assert (current, previous) == (printed, PASTED)

    again = run(database_url, "integrations", "rotate", str(tenant_id), integration_id)
    assert again.returncode == 1 and "not finished" in again.stderr
    unknown = run(database_url, "integrations", "rotate", str(tenant_id), "no-such-integration")
    assert unknown.returncode == 1 and "has no integration" in unknown.stderr
    async with engine.connect() as connection:
        actions = (await connection.execute(select(AuditEvent.action))).scalars().all()
    assert actions == ["genesys.webhook_secret_rotated"]


async def test_retire_only_an_integration_no_longer_chosen(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    tenant_id, integration_id = await manually_wired(engine)
    in_use = run(database_url, "integrations", "retire", str(tenant_id), integration_id)
    assert in_use.returncode == 1 and "no previous integration" in in_use.stderr
    async with engine.begin() as connection:
        await connection.execute(
            update(GenesysIntegration).values(for_mentions=False, for_dms=False)
        )
    shown = run(database_url, "tenants", "show", str(tenant_id))
    assert "(previous: retire when unused)" in shown.stdout
    assert PASTED not in shown.stdout
    retired = run(database_url, "integrations", "retire", str(tenant_id), integration_id)
    assert retired.returncode == 0, retired.stderr
    assert await stored(engine, integration_id) is None
    bad = run(database_url, "integrations", "retire", "not-a-uuid", integration_id)
    assert bad.returncode == 2
