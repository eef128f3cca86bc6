"""`python -m devkit sandbox`: both simulators in one process, on two loopback ports.

The dev launcher starts this so a person can try the product without any account: the Slack
pages on one port, the Genesys agent console on the other. State is in memory and seeded
afresh at every start.
"""

from __future__ import annotations

import asyncio

import uvicorn

from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import GenesysWorld
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_world import SlackWorld


async def _serve(slack_port: int, genesys_port: int, events_url: str) -> None:
    slack_world = SlackWorld.seeded()
    slack_world.events_url = events_url
    slack_world.public_url = f"http://localhost:{slack_port}"
    genesys_world = GenesysWorld.seeded()
    apps = [
        (create_slack_sandbox(slack_world), slack_port),
        (create_genesys_sandbox(genesys_world), genesys_port),
    ]
    servers = [
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        for app, port in apps
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def serve(*, slack_port: int, genesys_port: int, events_url: str) -> int:
    asyncio.run(_serve(slack_port, genesys_port, events_url))
    return 0
