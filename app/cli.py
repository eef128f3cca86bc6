"""`python -m app …`: the worker and the admin commands.

Each command prints plain, short output and returns a shell exit code: 0 done, 1 failed,
2 misused or misconfigured.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from app.config import LauncherSettings, Settings, load_settings
from app.logs import configure_logging


def _settings_or_exit() -> Settings:
    try:
        return load_settings(dev_env=True)
    except ValidationError as exc:
        names = ", ".join(sorted({str(err["loc"][0]).upper() for err in exc.errors()}))
        print(f"configuration error: check {names} (see README, Configuration)", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_worker(args: argparse.Namespace) -> int:
    import uvloop

    from app.main import run_worker

    # The same event loop the web process gets from uvicorn; a fraction of asyncio's cost.
    uvloop.run(run_worker(_settings_or_exit()))
    return 0


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    from app.crypto import generate_key

    print(f"{args.kid}:{generate_key()}")
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    from app.crypto import SecretBox
    from app.db.session import create_engine, create_sessions
    from app.tenants.keys import rotate_all

    settings = _settings_or_exit()

    async def run() -> int:
        engine = create_engine(settings.database, pool_size=2, application_name="keys-rotate")
        try:
            box = SecretBox(settings.keys)
            report = await rotate_all(create_sessions(engine, box=box), box)
        finally:
            await engine.dispose()
        print(
            f"examined {report.examined} secrets, re-encrypted {report.rotated} "
            f"under key {box.current_key_id!r}; message payloads: {report.payloads_rotated} "
            f"re-encrypted, {report.payloads_sealed} sealed from plaintext"
        )
        return 0

    return asyncio.run(run())


async def _in_session(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run `work(sessions)` with a small engine that is always disposed of."""
    from app.crypto import SecretBox
    from app.db.session import create_engine, create_sessions

    engine = create_engine(settings.database, pool_size=2, application_name="admin-cli")
    try:
        return await work(create_sessions(engine, box=SecretBox(settings.keys)))
    finally:
        await engine.dispose()


def _cmd_tenants(args: argparse.Namespace) -> int:
    from app.db.models import TenantStatus
    from app.tenants import store

    settings = _settings_or_exit()

    async def work(sessions: Any) -> int:
        if args.tenants_command == "list":
            async with sessions() as session:
                tenants = await store.list_tenants(session)
            print(f"{'TENANT ID':36}  {'STATUS':11}  {'SLACK':12}  NAME")
            for t in tenants:
                slack = t.slack_enterprise_id if t.is_enterprise_install else t.slack_team_id
                print(f"{t.id!s:36}  {t.status:11}  {slack or '':12}  {t.name}")
            return 0
        tenant_id = _uuid_or_exit(args.tenant_id)
        if args.tenants_command == "show":
            async with sessions() as session:
                tenant = await store.get_tenant(session, tenant_id=tenant_id)
                connection = await store.get_connection(session, tenant_id=tenant_id)
                integrations = await store.list_tenant_integrations(
                    session, tenant_id=tenant_id, include_previous=True
                )
            if tenant is None:
                print(f"no tenant {tenant_id}", file=sys.stderr)
                return 1
            lines = [
                f"tenant:        {tenant.id}",
                f"name:          {tenant.name}",
                f"status:        {tenant.status}",
                f"slack:         enterprise={tenant.slack_enterprise_id} "
                f"team={tenant.slack_team_id} org_wide={tenant.is_enterprise_install}",
                f"genesys:       {connection.region if connection else 'not connected'}",
            ]
            lines += [
                f"integration:   {i.genesys_integration_id} mentions={i.for_mentions} "
                f"dms={i.for_dms} wiring={i.webhook_wiring}"
                + ("" if i.for_mentions or i.for_dms else " (previous: retire when unused)")
                for i in integrations
            ]
            print("\n".join(lines))
            return 0
        status = (
            TenantStatus.ACTIVE if args.tenants_command == "enable" else TenantStatus.DISABLED
        ).value
        async with sessions.begin() as session:
            changed = await store.set_tenant_status(session, tenant_id=tenant_id, status=status)
            if changed:
                await store.record_audit(
                    session, tenant_id=tenant_id, action=f"tenant.{status}", fields=["status"]
                )
        if not changed:
            print(f"no active or disabled tenant {tenant_id}", file=sys.stderr)
            return 1
        print(f"tenant {tenant_id} is now {status}")
        return 0

    return asyncio.run(_in_session(settings, work))


def _uuid_or_exit(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        print(f"not a tenant id: {value!r}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_deadletters(args: argparse.Namespace) -> int:
    from app.bridge import dead_letters, store as bridge_store

    settings = _settings_or_exit()
    tenant_id = _uuid_or_exit(args.tenant) if args.tenant else None
    ids: list[int] | None = args.id or None

    async def work(sessions: Any) -> int:
        if args.dead_command == "list":
            async with sessions() as session:
                dead = await bridge_store.list_dead(session, tenant_id=tenant_id, limit=args.limit)
            print(f"{'ID':>8}  {'TENANT':36}  {'DIRECTION':10}  {'KIND':18}  ERROR")
            for row in dead:
                print(
                    f"{row.id:>8}  {row.tenant_id!s:36}  {row.direction:10}  {row.kind:18}  "
                    f"{row.last_error or ''}"
                )
            return 0
        if ids is None and tenant_id is None and not args.all:
            print("name messages with --id, a --tenant, or --all", file=sys.stderr)
            return 2
        async with sessions.begin() as session:
            if args.dead_command == "replay":
                replayed = await dead_letters.replay(session, message_ids=ids, tenant_id=tenant_id)
                print(f"replaying dead letters in {replayed.conversations} conversations")
            else:
                removed = await dead_letters.discard(session, message_ids=ids, tenant_id=tenant_id)
                print(f"purged {removed} dead letters")
        return 0

    return asyncio.run(_in_session(settings, work))


def _cmd_integrations(args: argparse.Namespace) -> int:
    """Rotate or retire like the settings page, for operators (audited with no Slack actor)."""
    from app.crypto import SecretBox
    from app.genesys.clients import GenesysClients
    from app.tenants.onboarding import Onboarding
    from app.tenants.webhook_secrets import (
        IntegrationNotFound,
        RotationFailed,
        RotationUnfinished,
    )

    settings = _settings_or_exit()
    tenant_id = _uuid_or_exit(args.tenant_id)

    async def work(sessions: Any) -> int:
        clients = GenesysClients()
        onboarding = Onboarding(
            settings, sessions=sessions, box=SecretBox(settings.keys), clients=clients
        )
        try:
            if args.integrations_command == "retire":
                await onboarding.retire_integration(
                    tenant_id=tenant_id,
                    actor_slack_user_id=None,
                    genesys_integration_id=args.integration_id,
                )
                print(f"retired {args.integration_id}: its webhooks are now refused")
                return 0
            outcome = await onboarding.rotate_secret(
                tenant_id=tenant_id,
                actor_slack_user_id=None,
                genesys_integration_id=args.integration_id,
            )
        except IntegrationNotFound:
            kind = (
                "previous integration" if args.integrations_command == "retire" else "integration"
            )
            print(f"tenant {tenant_id} has no {kind} {args.integration_id}", file=sys.stderr)
            return 1
        except RotationUnfinished as exc:
            print(
                "the last rotation is not finished (Genesys has not used the new secret); "
                f"wait until {exc.previous_until:%Y-%m-%d %H:%M} UTC",
                file=sys.stderr,
            )
            return 1
        except RotationFailed as exc:
            print(f"not rotated: {exc.hint}", file=sys.stderr)
            return 1
        finally:
            await clients.aclose()
        if outcome.secret_to_paste is not None:
            # Manual wiring: the operator pastes this into Genesys; it is never shown again.
            print(
                f"rotated; set this Outbound Notification Webhook Signature Secret Token on "
                f"{args.integration_id} in Genesys Cloud:\n{outcome.secret_to_paste}"
            )
        else:
            print(f"rotated; the new secret is set on {args.integration_id}")
        return 0

    return asyncio.run(_in_session(settings, work))


_SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


def _cmd_erase_user(args: argparse.Namespace) -> int:
    from app.db.models import Tenant
    from app.tenants.privacy import erase_slack_user

    settings = _settings_or_exit()
    if not _SLACK_ID.match(args.team) or not _SLACK_ID.match(args.user):
        print("--team and --user take Slack IDs (T…/E…, U…/W…)", file=sys.stderr)
        return 2

    async def work(sessions: Any) -> int:
        from sqlalchemy import or_, select

        async with sessions() as session:
            tenant_id = (
                await session.execute(
                    select(Tenant.id).where(
                        or_(
                            Tenant.slack_team_id == args.team,
                            Tenant.is_enterprise_install
                            & (Tenant.slack_enterprise_id == args.team),
                        )
                    )
                )
            ).scalar_one_or_none()
        if tenant_id is None:
            print(f"no tenant for Slack team {args.team}", file=sys.stderr)
            return 1
        deleted = await erase_slack_user(
            sessions, tenant_id=tenant_id, slack_user_id=args.user, actor_slack_user_id=None
        )
        print(
            f"erased {deleted.messages} messages and {deleted.conversations} conversations "
            f"of that person from tenant {tenant_id}"
        )
        return 0

    return asyncio.run(_in_session(settings, work))


def _cmd_retention(args: argparse.Namespace) -> int:
    from app.tenants.privacy import apply_retention

    settings = _settings_or_exit()

    async def work(sessions: Any) -> int:
        deleted = await apply_retention(sessions)
        print(
            f"deleted {deleted.messages} messages and {deleted.conversations} conversations "
            "past their tenant's retention period"
        )
        return 0

    return asyncio.run(_in_session(settings, work))


def _cmd_doctor(args: argparse.Namespace) -> int:
    from app.doctor import run_checks

    try:
        settings = load_settings(dev_env=True)
    except ValidationError as exc:
        names = ", ".join(sorted({str(err["loc"][0]).upper() for err in exc.errors()}))
        print(f"FAIL  settings: check {names}")
        return 1
    results = asyncio.run(run_checks(settings))
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
    return 0 if all(result.ok for result in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("worker", help="run the queue worker").set_defaults(func=_cmd_worker)
    commands.add_parser(
        "doctor", help="check settings, database, migrations, and reachability of Slack/Genesys"
    ).set_defaults(func=_cmd_doctor)

    tenants = commands.add_parser("tenants", help="list and manage tenants").add_subparsers(
        dest="tenants_command", required=True
    )
    tenants.add_parser("list", help="every tenant").set_defaults(func=_cmd_tenants)
    for name, text in (
        ("show", "one tenant's settings (no secrets)"),
        ("disable", "stop bridging for a tenant"),
        ("enable", "resume bridging for a tenant"),
    ):
        sub = tenants.add_parser(name, help=text)
        sub.add_argument("tenant_id")
        sub.set_defaults(func=_cmd_tenants)

    erase = tenants.add_parser(
        "erase-user", help="forget one Slack person: their messages and conversations"
    )
    erase.add_argument("--team", required=True, help="the Slack team (or org) ID")
    erase.add_argument("--user", required=True, help="the Slack user ID")
    erase.set_defaults(func=_cmd_erase_user)
    retention = commands.add_parser(
        "retention", help="delete what is past each tenant's retention period"
    ).add_subparsers(dest="retention_command", required=True)
    retention.add_parser("run", help="what the worker's hourly job does").set_defaults(
        func=_cmd_retention
    )

    integrations = commands.add_parser(
        "integrations", help="a tenant's Genesys integrations: rotate a secret, retire"
    ).add_subparsers(dest="integrations_command", required=True)
    for name, text in (
        ("rotate", "make a new webhook secret (the old one works until the new one is seen)"),
        ("retire", "forget an integration the tenant switched away from"),
    ):
        sub = integrations.add_parser(name, help=text)
        sub.add_argument("tenant_id")
        sub.add_argument("integration_id")
        sub.set_defaults(func=_cmd_integrations)

    dead = commands.add_parser("deadletters", help="messages that could not be delivered")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True)
    for name, text in (
        ("list", "show dead letters"),
        ("replay", "queue dead letters again"),
        ("purge", "delete dead letters"),
    ):
        sub = dead_commands.add_parser(name, help=text)
        sub.add_argument("--tenant", help="only this tenant id")
        sub.add_argument("--id", type=int, action="append", help="a message id (repeatable)")
        sub.add_argument("--all", action="store_true", help="every dead letter")
        sub.add_argument("--limit", type=int, default=100)
        sub.set_defaults(func=_cmd_deadletters)

    keys = commands.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", required=True
    )
    generate = keys.add_parser("generate", help="print a new key entry for ENCRYPTION_KEYS")
    generate.add_argument("--kid", default="k1")
    generate.set_defaults(func=_cmd_keys_generate)
    keys.add_parser("rotate", help="re-encrypt every secret with the first key").set_defaults(
        func=_cmd_keys_rotate
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging(LauncherSettings().log_level)
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
