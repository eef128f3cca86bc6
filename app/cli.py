"""`python -m app …`: the dev launcher, the worker, the sandbox, and admin commands.

Each command prints plain, short output and returns a shell exit code: 0 done, 1 failed,
2 misused or misconfigured.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from app.config import LauncherSettings, Settings, load_settings


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        names = ", ".join(sorted({str(err["loc"][0]).upper() for err in exc.errors()}))
        print(f"configuration error: check {names} (see README, Configuration)", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


def _cmd_dev(args: argparse.Namespace) -> int:
    from app.devserver import run_dev

    return run_dev(LauncherSettings())


def _cmd_worker(args: argparse.Namespace) -> int:
    from app.jobs import run_worker

    asyncio.run(run_worker(_settings_or_exit()))
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from app.sandbox.server import serve

    code: int = serve(
        slack_port=args.slack_port, genesys_port=args.genesys_port, events_url=args.events_url
    )
    return code


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    from app.crypto import generate_key

    print(f"{args.kid}:{generate_key()}")  # noqa: T201
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
            report = await rotate_all(create_sessions(engine), box)
        finally:
            await engine.dispose()
        print(  # noqa: T201
            f"examined {report.examined} secrets, re-encrypted {report.rotated} "
            f"under key {box.current_key_id!r}"
        )
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("dev", help="run the whole product locally").set_defaults(func=_cmd_dev)
    commands.add_parser("worker", help="run the queue worker").set_defaults(func=_cmd_worker)

    sandbox = commands.add_parser("sandbox", help="run the Slack and Genesys simulators")
    sandbox.add_argument("--slack-port", type=int, default=8001)
    sandbox.add_argument("--genesys-port", type=int, default=8002)
    sandbox.add_argument("--events-url", default="http://localhost:8000/slack/events")
    sandbox.set_defaults(func=_cmd_sandbox)

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
