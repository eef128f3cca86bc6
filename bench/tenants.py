"""The tenants a run talks to, and the thousands it only stores.

Real tenants (Acme and Globex) are set up by the harness (`devkit.harness.tenants`), as the
e2e tests set them up: Add to Slack through the web process's `/slack/install` and the Slack
simulator's consent, then Genesys connected through `Onboarding`. The scale runs add bulk
tenants straight into the tables with COPY: valid-looking, encrypted, each with conversations
and history, but never sent traffic.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.db.models import GenesysIntegration
from app.genesys.clients import GenesysClients
from app.slack.app import BOT_SCOPES
from app.slack.installation_store import PostgresInstallationStore
from app.tenants.onboarding import Onboarding
from app.tenants.purposes import GENESYS_CLIENT_SECRET, GENESYS_WEBHOOK_SECRET, SLACK_BOT_TOKEN
from bench.payloads import BenchTenant
from bench.simulators import bench_ids
from devkit.harness.tenants import TENANTS, onboard as harness_onboard


async def onboard(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    web_url: str,
    channels: int,
    users: int,
) -> list[BenchTenant]:
    """Acme and Globex, onboarded by the harness, with what the load generator needs of each:
    the bot's user ID (from the stored install) and the webhook secrets Genesys signs with."""
    box = SecretBox(settings.keys)
    store = PostgresInstallationStore(sessions, box)
    clients = GenesysClients()
    onboarding = Onboarding(settings, sessions=sessions, box=box, clients=clients)
    tenants: list[BenchTenant] = []
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for spec in TENANTS:
                tenant = await harness_onboard(http, web_url, onboarding, sessions, spec)
                bot = await store.async_find_bot(enterprise_id=None, team_id=spec.slack_team_id)
                if bot is None or bot.bot_user_id is None:
                    raise RuntimeError(f"the install of {spec.name} stored no bot")
                async with sessions() as session:
                    rows = (
                        await session.execute(
                            select(GenesysIntegration).where(
                                GenesysIntegration.tenant_id == tenant.tenant_id
                            )
                        )
                    ).scalars()
                    webhook_secrets = {
                        row.genesys_integration_id: box.decrypt(
                            row.webhook_secret_enc,
                            tenant_id=tenant.tenant_id,
                            purpose=GENESYS_WEBHOOK_SECRET,
                        )
                        for row in rows
                    }
                tenants.append(
                    BenchTenant(
                        name=spec.name,
                        slack_team_id=spec.slack_team_id,
                        bot_user_id=bot.bot_user_id,
                        mentions_integration_id=spec.mentions_integration_id,
                        dms_integration_id=spec.dms_integration_id,
                        webhook_secrets=webhook_secrets,
                        channels=bench_ids(spec.slack_team_id, channels, "C"),
                        users=bench_ids(spec.slack_team_id, users, "U"),
                        dm_channels=bench_ids(spec.slack_team_id, users, "D"),
                    )
                )
    finally:
        await clients.aclose()
    return tenants


CONVERSATIONS_PER_BULK_TENANT = 5


async def add_bulk_tenants(engine: AsyncEngine, box: SecretBox, *, first: int, count: int) -> None:
    """`count` more tenants, each installed and connected, with conversations and a delivered
    message in each: the rows a long-lived tenant leaves, written with COPY in seconds."""
    now = datetime.now(UTC)
    tenants, installs, connections, integrations, conversations, messages = ([] for _ in range(6))
    for n in range(first, first + count):
        tenant_id = uuid.uuid4()
        team = f"TB{n:08d}"
        integration = str(uuid.uuid4())
        tenants.append((tenant_id, team, False, f"Bulk tenant {n}", "active", now, True, False))
        token = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.token_hex(12)}"
        installs.append(
            (
                tenant_id,
                "A0SANDBOXAP",
                team,
                f"Bulk {n}",
                False,
                box.encrypt(token, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN),
                f"BB{n:08d}",
                f"UB{n:08d}",
                list(BOT_SCOPES),
                f"UI{n:08d}",
                "bot",
                now,
                now,
            )
        )
        secret = box.encrypt(
            secrets.token_urlsafe(24), tenant_id=tenant_id, purpose=GENESYS_CLIENT_SECRET
        )
        connections.append((tenant_id, "us_east_1", str(uuid.uuid4()), secret, 1, now, now, now))
        hook = box.encrypt(
            secrets.token_urlsafe(32), tenant_id=tenant_id, purpose=GENESYS_WEBHOOK_SECRET
        )
        integrations.append((integration, tenant_id, "Slack", True, True, hook, now, "auto", now))
        for c in range(CONVERSATIONS_PER_BULK_TENANT):
            conversation_id = uuid.uuid4()
            ts = f"{int(now.timestamp()) - 86400 * c}.{n % 1_000_000:06d}"
            key = f"{team}:C{n:08d}:{ts}"
            at = now - timedelta(days=c)
            conversations.append(
                (
                    conversation_id,
                    tenant_id,
                    key,
                    "thread",
                    f"C{n:08d}",
                    ts,
                    None,
                    integration,
                    str(uuid.uuid4()),
                    at,
                    at,
                )
            )
            envelope = {"event": {"type": "app_mention", "text": "history", "ts": ts}}
            messages.append(
                (
                    tenant_id,
                    conversation_id,
                    "to_genesys",
                    "message",
                    f"{team}:C{n:08d}:{ts}",
                    f"EvB{n}x{c}",
                    "delivered",
                    json.dumps({"envelope": envelope}),
                    at,
                    1,
                    at,
                    at,
                )
            )
    async with engine.begin() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        for table, columns, records in (
            (
                "tenant",
                "id slack_team_id is_enterprise_install name status created_at "
                "ack_reaction forward_other_bots",
                tenants,
            ),
            (
                "slack_installation",
                "tenant_id slack_app_id slack_team_id slack_team_name "
                "is_enterprise_install bot_token_enc slack_bot_id slack_bot_user_id "
                "bot_scopes installer_slack_user_id token_type installed_at updated_at",
                installs,
            ),
            (
                "genesys_connection",
                "tenant_id region client_id client_secret_enc credentials_version "
                "credentials_updated_at last_verified_at created_at",
                connections,
            ),
            (
                "genesys_integration",
                "genesys_integration_id tenant_id name for_mentions for_dms "
                "webhook_secret_enc webhook_secret_set_at webhook_wiring created_at",
                integrations,
            ),
            (
                "conversation",
                "id tenant_id conversation_key kind slack_channel_id slack_thread_ts "
                "slack_user_id genesys_integration_id genesys_conversation_id "
                "created_at last_activity_at",
                conversations,
            ),
            (
                "bridge_message",
                "tenant_id conversation_id direction kind dedupe_key slack_event_id "
                "status payload source_ts attempts created_at delivered_at",
                messages,
            ),
        ):
            await raw.copy_records_to_table(table, records=records, columns=columns.split())
        await connection.execute(text("ANALYZE"))
