"""`python -m devkit dev|sandbox|deploy-link`, from the repository root: the local launcher, the
simulators, and the Deploy to Heroku link for this checkout's repository.

`dev` is what `make dev` runs: the whole product on this machine (see README, "Run it
locally"). `sandbox` serves the simulated Slack and Genesys on two ports; `dev` starts it.
`deploy-link` prints the one-click deploy URL for the fork this checkout came from, so the
README's button needs no placeholder account in it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.config import LauncherSettings
from app.logs import configure_logging


def _cmd_dev(args: argparse.Namespace) -> int:
    from devkit.devserver import run_dev

    return run_dev(LauncherSettings(), data=args.data_dir)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import serve

    return serve(
        slack_port=args.slack_port,
        genesys_port=args.genesys_port,
        events_url=args.events_url,
        state=args.state,
    )


def _cmd_deploy_link(args: argparse.Namespace) -> int:
    from devkit.deploy_link import deploy_link, origin_url

    try:
        print(deploy_link(args.repo or origin_url()))
    except ValueError as error:
        print(f"deploy-link: {error}")
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the whole product locally")
    dev.add_argument(
        "--data-dir", type=Path, default=None, help="where the private Postgres lives (.data/)"
    )
    dev.set_defaults(func=_cmd_dev)
    sandbox = commands.add_parser("sandbox", help="run the Slack and Genesys simulators")
    sandbox.add_argument("--slack-port", type=int, default=8001)
    sandbox.add_argument("--genesys-port", type=int, default=8002)
    sandbox.add_argument("--events-url", default="http://localhost:8000/slack/events")
    sandbox.add_argument(
        "--state", type=Path, default=None, help="keep the simulators' state in this JSON file"
    )
    sandbox.set_defaults(func=_cmd_sandbox)
    link = commands.add_parser("deploy-link", help="print the Deploy to Heroku link for your fork")
    link.add_argument(
        "--repo", default=None, help="the repository's URL (default: `git remote get-url origin`)"
    )
    link.set_defaults(func=_cmd_deploy_link)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging(LauncherSettings().log_level)
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


raise SystemExit(main())
