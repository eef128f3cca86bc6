import time
import uuid

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import parse_encryption_keys
from app.crypto import SecretBox
from app.db.models import AuditEvent, SlackInstallation, Tenant
from app.slack.installation_store import PostgresInstallationStore, PostgresOAuthStateStore
from app.tenants.keys import rotate_all
from tests.factories import OTHER_KEY, TEST_KEY

Sessions = async_sessionmaker[AsyncSession]


def make_installation(team_id: str | None = "T0AAA", **overrides: object) -> Installation:
    values: dict[str, object] = {
        "app_id": "A0APP",
        "team_id": team_id,
        "team_name": "Acme",
        "bot_token": f"xoxb-{team_id}-first",
        "bot_id": "B0BOT",
        "bot_user_id": "U0BOT",
        "bot_scopes": "chat:write,users:read",
        "user_id": "U0INSTALLER",
        "installed_at": time.time(),
        "token_type": "bot",
    }
    values.update(overrides)
    return Installation(**values)  # type: ignore[arg-type]


def box() -> SecretBox:
    return SecretBox(parse_encryption_keys(f"k1:{TEST_KEY}"))


async def test_save_then_find_bot_returns_decrypted_token(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(make_installation())
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None
    assert bot.bot_token == "xoxb-T0AAA-first"
    assert bot.bot_user_id == "U0BOT"
    assert bot.bot_scopes == ["chat:write", "users:read"]
    installation = await store.async_find_installation(enterprise_id=None, team_id="T0AAA")
    assert installation is not None and installation.user_id == "U0INSTALLER"


async def test_raw_rows_hold_no_plaintext_token(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(
        make_installation(bot_refresh_token="xoxe-1-refresh", bot_token_expires_in=43200)
    )
    async with sessions() as session:
        dump = (
            await session.execute(text("SELECT row_to_json(s)::text FROM slack_installation s"))
        ).scalar_one()
    assert "xoxb-" not in dump and "xoxe-" not in dump
    assert '"bot_token_enc":"v1:k1:' in dump.replace(" ", "")


async def test_reinstall_updates_tokens_and_keeps_the_tenant(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(make_installation())
    async with sessions() as session:
        first_tenant = (await session.execute(select(Tenant.id))).scalar_one()
    await store.async_save(
        make_installation(bot_token="xoxb-T0AAA-second", bot_scopes="chat:write,files:read")
    )
    async with sessions() as session:
        tenants = (await session.execute(select(Tenant.id))).scalars().all()
        installs = (await session.execute(select(SlackInstallation))).scalars().all()
        actions = (
            (await session.execute(select(AuditEvent.action).order_by(AuditEvent.created_at)))
            .scalars()
            .all()
        )
    assert tenants == [first_tenant]
    assert len(installs) == 1
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None and bot.bot_token == "xoxb-T0AAA-second"
    assert bot.bot_scopes == ["chat:write", "files:read"]
    assert actions == ["slack.installed", "slack.reinstalled"]


async def test_org_wide_install_is_keyed_on_enterprise_and_serves_its_workspaces(
    sessions: Sessions,
) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(
        make_installation(
            team_id=None,
            team_name=None,
            enterprise_id="E0ORG",
            enterprise_name="Initech",
            is_enterprise_install=True,
            bot_token="xoxb-org",
        )
    )
    async with sessions() as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
    assert tenant.is_enterprise_install and tenant.slack_enterprise_id == "E0ORG"
    assert tenant.slack_team_id is None and tenant.name == "Initech"
    org_bot = await store.async_find_bot(
        enterprise_id="E0ORG", team_id=None, is_enterprise_install=True
    )
    assert org_bot is not None and org_bot.bot_token == "xoxb-org"
    # An event from one workspace of that org still finds the org-wide bot.
    ws_bot = await store.async_find_bot(
        enterprise_id="E0ORG", team_id="T0WS1", is_enterprise_install=False
    )
    assert ws_bot is not None and ws_bot.bot_token == "xoxb-org"


async def test_tenants_never_see_each_other(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(make_installation("T0AAA"))
    await store.async_save(make_installation("T0BBB", bot_token="xoxb-T0BBB-first"))
    a = await store.async_find_bot(enterprise_id=None, team_id="T0AAA")
    b = await store.async_find_bot(enterprise_id=None, team_id="T0BBB")
    assert a is not None and b is not None and a.bot_token != b.bot_token
    assert await store.async_find_bot(enterprise_id=None, team_id="T0CCC") is None
    # A ciphertext copied into the other tenant's row does not decrypt there.
    async with sessions.begin() as session:
        rows = {
            r.slack_team_id: r for r in (await session.execute(select(SlackInstallation))).scalars()
        }
        rows["T0BBB"].bot_token_enc = rows["T0AAA"].bot_token_enc
    from app.crypto import DecryptionError

    with pytest.raises(DecryptionError):
        await store.async_find_bot(enterprise_id=None, team_id="T0BBB")


async def test_uninstall_purges_tokens_and_keeps_an_audit_record(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(make_installation())
    await store.async_delete_all(enterprise_id=None, team_id="T0AAA")
    assert await store.async_find_bot(enterprise_id=None, team_id="T0AAA") is None
    async with sessions() as session:
        assert (await session.execute(select(SlackInstallation))).first() is None
        tenant = (await session.execute(select(Tenant))).scalar_one()
        audit = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action.like("tenant.purged%"))
                )
            )
            .scalars()
            .all()
        )
    assert tenant.status == "uninstalled"
    assert [a.action for a in audit] == ["tenant.purged.app_uninstalled"]
    assert audit[0].fields == ["slack_installation"]
    # tokens_revoked arriving after app_uninstalled finds nothing more to do.
    await store.async_delete_bot(enterprise_id=None, team_id="T0AAA")
    async with sessions() as session:
        count = len(
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action.like("tenant.purged%"))
                )
            ).all()
        )
    assert count == 1


async def test_reinstall_after_uninstall_reactivates_the_tenant(sessions: Sessions) -> None:
    store = PostgresInstallationStore(sessions, box())
    await store.async_save(make_installation())
    await store.async_delete_all(enterprise_id=None, team_id="T0AAA")
    await store.async_save(make_installation(bot_token="xoxb-again"))
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None and bot.bot_token == "xoxb-again"


async def test_key_rotation_reencrypts_every_secret(sessions: Sessions) -> None:
    old = box()
    store = PostgresInstallationStore(sessions, old)
    for team in ("T0AAA", "T0BBB", "T0CCC"):
        await store.async_save(
            make_installation(team, bot_refresh_token=f"xoxe-{team}", bot_token_expires_in=3600)
        )
    new = SecretBox(parse_encryption_keys(f"k2:{OTHER_KEY},k1:{TEST_KEY}"))
    report = await rotate_all(sessions, new, batch=2)
    assert report.rotated == 6 and report.examined == 6
    async with sessions() as session:
        values = (
            await session.execute(
                text("SELECT bot_token_enc, bot_refresh_token_enc FROM slack_installation")
            )
        ).all()
    assert all(v.startswith("v1:k2:") for row in values for v in row)
    only_new = SecretBox(parse_encryption_keys(f"k2:{OTHER_KEY}"))
    bot = await PostgresInstallationStore(sessions, only_new).async_find_bot(
        enterprise_id=None, team_id="T0BBB"
    )
    assert (
        bot is not None
        and bot.bot_token == "xoxb-T0BBB-first"
        and bot.bot_refresh_token == "xoxe-T0BBB"
    )
    again = await rotate_all(sessions, new)
    assert again.rotated == 0


async def test_oauth_state_is_consumed_once_and_expires(sessions: Sessions) -> None:
    states = PostgresOAuthStateStore(sessions, expiration_seconds=600)
    state = await states.async_issue()
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False
    assert await states.async_consume("forged-" + uuid.uuid4().hex) is False
    expired = PostgresOAuthStateStore(sessions, expiration_seconds=-1)
    old = await expired.async_issue()
    assert await states.async_consume(old) is False
