"""`python -m devkit sandbox`: both simulators in one process, on two loopback ports.

The dev launcher starts this so a person can try the product without any account: the Slack
pages on one port, the Genesys agent console on the other. With a state file (`make dev` gives
`.data/sandbox-state.json`) what the simulators remember survives a restart, as it would in the
real services: it is loaded at start, saved within a second of any change, and at shutdown.
Without one, state is in memory and seeded afresh at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator
from pathlib import Path

import uvicorn

from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import GenesysWorld
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_world import SlackWorld
from sandbox.snapshot import SnapshotFile

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 1.0


class _Server(uvicorn.Server):
    """Two servers share one process, so the process (not each server) owns the signals:
    uvicorn's own handling re-raises the signal after serving, which would end the process
    before the final save."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _save_periodically(
    snapshot: SnapshotFile, slack: SlackWorld, genesys: GenesysWorld
) -> None:
    while True:
        await asyncio.sleep(SAVE_EVERY_SECONDS)
        snapshot.save(slack, genesys)


async def _serve(slack_port: int, genesys_port: int, events_url: str, state: Path | None) -> None:
    slack_world = SlackWorld.seeded()
    genesys_world = GenesysWorld.seeded()
    snapshot = SnapshotFile(state) if state is not None else None
    if snapshot is not None and snapshot.load_into(slack_world, genesys_world):
        log.info("sandbox state restored", extra={"file": str(state)})
    slack_world.events_url = events_url
    slack_world.public_url = f"http://localhost:{slack_port}"
    apps = [
        (create_slack_sandbox(slack_world), slack_port),
        (create_genesys_sandbox(genesys_world), genesys_port),
    ]
    servers = [
        _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        for app, port in apps
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    saver = (
        asyncio.create_task(_save_periodically(snapshot, slack_world, genesys_world))
        if snapshot is not None
        else None
    )
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        if saver is not None:
            saver.cancel()
        if snapshot is not None:
            snapshot.save(slack_world, genesys_world)


def serve(*, slack_port: int, genesys_port: int, events_url: str, state: Path | None = None) -> int:
    asyncio.run(_serve(slack_port, genesys_port, events_url, state))
    return 0
