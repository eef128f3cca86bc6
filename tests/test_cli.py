"""`python -m app …` admin commands, run as real processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import AuditEvent, BridgeMessage, Conversation, Tenant
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import GenesysWorld
from sandbox.runner import ServerThread
from tests.factories import TEST_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(
    database_url: str, *args: str, env: dict[str, str] | None = None, cwd: str = ROOT
) -> subprocess.CompletedProcess[str]:
    merged = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": f"k1:{TEST_KEY}",
        "SESSION_SECRET": "s" * 40,
        "SLACK_CLIENT_ID": "111.222",
        "SLACK_CLIENT_SECRET": "x",
        "SLACK_SIGNING_SECRET": "y",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=merged,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def seed_dead_letter(engine: AsyncEngine) -> tuple[uuid.UUID, int]:
    tenant_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            insert(Tenant).values(
                id=tenant_id,
                slack_team_id="T0CLI",
                is_enterprise_install=False,
                name="Cli Co",
                status="active",
            )
        )
        await connection.execute(
            insert(Conversation).values(
                id=conversation_id,
                tenant_id=tenant_id,
                conversation_key="T0CLI:U1",
                kind="dm",
                slack_user_id="U1",
            )
        )
        message_id = (
            await connection.execute(
                insert(BridgeMessage)
                .values(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    direction="to_genesys",
                    kind="message",
                    dedupe_key="T0CLI:D1:1.1",
                    status="dead",
                    payload={},
                    source_ts=datetime.now(UTC),
                    attempts=12,
                    last_error="GenesysRejected:400",
                )
                .returning(BridgeMessage.id)
            )
        ).scalar_one()
    return tenant_id, message_id


async def test_deadletters_list_replay_and_purge(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    tenant_id, message_id = await seed_dead_letter(engine)
    listed = run(database_url, "deadletters", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(message_id) in listed.stdout and "GenesysRejected:400" in listed.stdout

    refused = run(database_url, "deadletters", "replay")
    assert refused.returncode == 2 and "--all" in refused.stderr

    replayed = run(database_url, "deadletters", "replay", "--id", str(message_id))
    assert replayed.returncode == 0, replayed.stderr
    assert "1 conversations" in replayed.stdout
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(BridgeMessage).where(BridgeMessage.id == message_id))
        ).one()
    assert row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at is None  # due now: a worker claims it at its next look

    async with engine.begin() as connection:
        await connection.execute(text("UPDATE bridge_message SET status = 'dead'"))
    purged = run(database_url, "deadletters", "purge", "--tenant", str(tenant_id))
    assert purged.returncode == 0 and "purged 1" in purged.stdout
    async with engine.connect() as connection:
        assert (await connection.execute(select(BridgeMessage))).first() is None


async def test_tenants_list_show_disable_enable(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    tenant_id, _ = await seed_dead_letter(engine)
    listed = run(database_url, "tenants", "list")
    assert str(tenant_id) in listed.stdout and "Cli Co" in listed.stdout
    shown = run(database_url, "tenants", "show", str(tenant_id))
    assert "not connected" in shown.stdout
    disabled = run(database_url, "tenants", "disable", str(tenant_id))
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    enabled = run(database_url, "tenants", "enable", str(tenant_id))
    assert enabled.returncode == 0
    async with engine.connect() as connection:
        status = (
            await connection.execute(select(Tenant.status).where(Tenant.id == tenant_id))
        ).scalar_one()
        actions = (await connection.execute(select(AuditEvent.action))).scalars().all()
    assert status == "active"
    assert sorted(actions) == ["tenant.active", "tenant.disabled"]


@pytest.mark.parametrize(
    "args", [("tenants", "show", "nope"), ("tenants", "show", str(uuid.uuid4()))]
)
def test_bad_tenant_ids_get_clear_errors(database_url: str, args: tuple[str, ...]) -> None:
    result = run(database_url, *args)
    assert result.returncode in (1, 2)
    assert result.stderr.strip()


def test_missing_settings_fail_with_the_names(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"ENCRYPTION_KEYS", "DATABASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "app", "tenants", "list"],
        env=env,
        cwd=tmp_path,  # not a dev checkout: no `.data/dev.env` to fall back on
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ENCRYPTION_KEYS" in result.stderr and "DATABASE_URL" in result.stderr


def test_doctor_reports_each_check(database_url: str, slack_sim: ServerThread) -> None:
    genesys = ServerThread(create_genesys_sandbox(GenesysWorld.seeded())).start()
    try:
        result = run(
            database_url,
            "doctor",
            env={
                "SLACK_API_URL": f"{slack_sim.url}/api/",
                "GENESYS_API_URL": genesys.url,
                "GENESYS_LOGIN_URL": genesys.url,
            },
        )
    finally:
        genesys.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("settings", "database", "migrations", "queue", "slack", "genesys"):
        assert f"ok    {name}" in result.stdout or f"ok  {name}" in result.stdout, name


def test_doctor_never_calls_a_404_ok(database_url: str, slack_sim: ServerThread) -> None:
    genesys = ServerThread(create_genesys_sandbox(GenesysWorld.seeded())).start()
    try:
        result = run(
            database_url,
            "doctor",
            env={
                "SLACK_API_URL": f"{slack_sim.url}/wrong/prefix/",
                "GENESYS_API_URL": f"{genesys.url}/nowhere",
                "GENESYS_LOGIN_URL": f"{genesys.url}/nowhere",
            },
        )
    finally:
        genesys.stop()
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert not [line for line in lines if line.startswith("ok") and " 404" in line], lines
    assert any(line.startswith("FAIL  slack:") and "404" in line for line in lines), lines
    assert any(line.startswith("FAIL  genesys:") and "404" in line for line in lines), lines


def test_doctor_fails_clearly_without_a_database() -> None:
    result = run("postgresql://nobody@127.0.0.1:1/none", "doctor")
    assert result.returncode == 1
    assert "FAIL  database" in result.stdout
    assert "nobody" not in result.stdout


async def test_keys_rotate_reencrypts_under_the_first_key(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    from slack_sdk.oauth.installation_store.models.installation import Installation
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.config import parse_encryption_keys
    from app.crypto import SecretBox
    from app.slack.installation_store import PostgresInstallationStore
    from tests.factories import OTHER_KEY

    store = PostgresInstallationStore(
        async_sessionmaker(engine, expire_on_commit=False),
        SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}")),
    )
    await store.async_save(
        Installation(
            app_id="A1",
            team_id="T0ROT",
            team_name="Rot",
            bot_token="xoxb-rot",
            bot_id="B1",
            bot_user_id="U1",
            user_id="U2",
        )
    )
    generated = run(database_url, "keys", "generate", "--kid", "k2")
    assert generated.returncode == 0 and generated.stdout.startswith("k2:")
    rotated = run(
        database_url, "keys", "rotate", env={"ENCRYPTION_KEYS": f"k2:{OTHER_KEY},k1:{TEST_KEY}"}
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1" in rotated.stdout and "'k2'" in rotated.stdout
    async with engine.connect() as connection:
        stored = (
            await connection.execute(text("SELECT bot_token_enc FROM slack_installation"))
        ).scalar_one()
    assert stored.startswith("v1:k2:") and "xoxb" not in stored


async def test_keys_rotate_seals_legacy_payloads_and_reencrypts_sealed_ones(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    from app.config import parse_encryption_keys
    from app.crypto import SecretBox
    from app.db import sealed
    from app.db.session import create_sessions
    from tests.factories import OTHER_KEY

    old_box = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))
    tenant_id, legacy_id = await seed_dead_letter(engine)  # written before sealing: plaintext
    async with engine.begin() as connection:
        sealed_id = (
            await connection.execute(
                insert(BridgeMessage)
                .values(
                    tenant_id=tenant_id,
                    direction="to_slack",
                    kind="agent_text",
                    dedupe_key="gm-rot",
                    status="delivered",
                    payload_enc=sealed.seal(
                        old_box, {"text": "ROTME"}, tenant_id=tenant_id, purpose=sealed.PAYLOAD
                    ),
                    source_ts=datetime.now(UTC),
                )
                .returning(BridgeMessage.id)
            )
        ).scalar_one()

    rotated = run(
        database_url, "keys", "rotate", env={"ENCRYPTION_KEYS": f"k2:{OTHER_KEY},k1:{TEST_KEY}"}
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "message payloads: 1 re-encrypted, 1 sealed from plaintext" in rotated.stdout

    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT id, payload, payload_enc FROM bridge_message ORDER BY id")
            )
        ).all()
    assert [(r[0], r[1], r[2][:6]) for r in rows] == [
        (legacy_id, None, "v1:k2:"),
        (sealed_id, None, "v1:k2:"),
    ]
    # Only the new key is needed now: both rows open through the ORM.
    new_only = create_sessions(engine, box=SecretBox(parse_encryption_keys(f"k2:{OTHER_KEY}")))
    async with new_only() as session:
        opened = {m.id: m.payload for m in (await session.execute(select(BridgeMessage))).scalars()}
    assert opened == {legacy_id: {}, sealed_id: {"text": "ROTME"}}


async def test_tenants_erase_user_removes_one_persons_rows_only(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    from app.config import parse_encryption_keys
    from app.crypto import SecretBox
    from app.db import sealed

    box = SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))
    tenant_id, u1_dead = await seed_dead_letter(engine)  # U1's DM, with a dead letter
    other = uuid.uuid4()

    def said(user: str, words: str) -> str | None:
        envelope = {"envelope": {"event": {"user": user, "text": words}}}
        return sealed.seal(box, envelope, tenant_id=tenant_id, purpose=sealed.PAYLOAD)

    async with engine.begin() as connection:
        await connection.execute(
            insert(Conversation).values(
                id=other, tenant_id=tenant_id, conversation_key="T0CLI:C1:2.2", kind="thread"
            )
        )
        ids = {}
        for key, user in (("2.2", "U2"), ("2.3", "U1"), ("2.4", "U2")):
            ids[key] = (
                await connection.execute(
                    insert(BridgeMessage)
                    .values(
                        tenant_id=tenant_id,
                        conversation_id=other,
                        direction="to_genesys",
                        kind="message",
                        dedupe_key=f"T0CLI:C1:{key}",
                        status="delivered",
                        payload_enc=said(user, f"words {key}"),
                        source_ts=datetime.now(UTC),
                    )
                    .returning(BridgeMessage.id)
                )
            ).scalar_one()

    bad = run(database_url, "tenants", "erase-user", "--team", "T0CLI", "--user", "u1; drop")
    assert bad.returncode == 2 and "Slack IDs" in bad.stderr
    unknown = run(database_url, "tenants", "erase-user", "--team", "T0NONE", "--user", "U1")
    assert unknown.returncode == 1 and "no tenant" in unknown.stderr

    erased = run(database_url, "tenants", "erase-user", "--team", "T0CLI", "--user", "U1")
    assert erased.returncode == 0, erased.stderr
    assert "erased 2 messages and 1 conversations" in erased.stdout
    assert "U1" not in erased.stdout
    async with engine.connect() as connection:
        left = set((await connection.execute(select(BridgeMessage.id))).scalars())
        conversations = set((await connection.execute(select(Conversation.id))).scalars())
        [audit] = (
            await connection.execute(
                select(AuditEvent.fields).where(AuditEvent.action == "privacy.person_erased")
            )
        ).scalars()
    assert left == {ids["2.2"], ids["2.4"]} and u1_dead not in left
    assert conversations == {other}
    assert audit == ["messages:2", "conversations:1"]


async def test_retention_run_deletes_only_what_is_past_the_period(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    tenant_id, _ = await seed_dead_letter(engine)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE tenant SET retention_days = 5 WHERE id = :t"), {"t": tenant_id}
        )
    kept = run(database_url, "retention", "run")
    assert kept.returncode == 0, kept.stderr
    assert "deleted 0 messages and 0 conversations" in kept.stdout
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE bridge_message SET created_at = now() - interval '6 days'")
        )
        await connection.execute(
            text("UPDATE conversation SET last_activity_at = now() - interval '6 days'")
        )
    expired = run(database_url, "retention", "run")
    assert "deleted 1 messages and 1 conversations" in expired.stdout, expired.stdout
    async with engine.connect() as connection:
        assert (await connection.execute(select(BridgeMessage.id))).first() is None
