"""The far ends, as one process: `python -m bench.simulators --slack-port … --genesys-port …`.

Both simulators from `sandbox`, seeded as usual plus bench channels, users and DMs for the
two tenants the load goes to (the seed has two channels per workspace; Slack's one post per
second per channel needs many). A recorder in front of each records every call the bridge
makes: its route and status, and, for the two calls that deliver a message (Genesys inbound
message, Slack `chat.postMessage`), the marker, the conversation and the moment of receipt.
`/_bench/*` serves those records to the benchmark, which runs in another process so neither
side's CPU time shows up in the other's latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.payloads import find_marker
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_config import GenesysConfig
from sandbox.genesys_world import GenesysWorld
from sandbox.slack_app import create_slack_sandbox
from sandbox.slack_records import SlackChannel, SlackMessage, SlackUser
from sandbox.slack_seed import ACME_TEAM_ID, GLOBEX_TEAM_ID
from sandbox.slack_world import SlackWorld

# Workspace -> the letter in its bench IDs (C0BA0001, U0BA0001, D0BA0001).
BENCH_TEAMS = {ACME_TEAM_ID: "A", GLOBEX_TEAM_ID: "G"}


def bench_ids(slack_team_id: str, count: int, prefix: str) -> tuple[str, ...]:
    letter = BENCH_TEAMS[slack_team_id]
    return tuple(f"{prefix}0B{letter}{n:04d}" for n in range(count))


def populate(world: SlackWorld, *, channels: int, users: int) -> None:
    """Bench channels (the bot is a member), people, and each person's DM with the bot."""
    for team in BENCH_TEAMS:
        bot = world.app_bots[team]
        people = bench_ids(team, users, "U")
        for n, user_id in enumerate(people):
            world.users[user_id] = SlackUser(
                slack_user_id=user_id,
                slack_team_id=team,
                name=f"customer{n}",
                real_name=f"Customer {n}",
                display_name=f"customer{n}",
                first_name="Customer",
                last_name=str(n),
                email=f"customer{n}@{team.lower()}.example",
            )
        for user_id, dm_id in zip(people, bench_ids(team, users, "D"), strict=True):
            world.channels[dm_id] = SlackChannel(
                dm_id, team, "", is_im=True, im_user=user_id, members={user_id, bot}
            )
        for n, channel_id in enumerate(bench_ids(team, channels, "C")):
            world.channels[channel_id] = SlackChannel(
                channel_id, team, f"bench-{n}", members=set(people)
            )


class Recorder:
    """ASGI middleware: counts every call by route and status, and records deliveries."""

    def __init__(self, app: ASGIApp, *, side: str) -> None:
        self.app = app
        self.side = side
        self.records: list[list[Any]] = []
        self.counters: Counter[str] = Counter()

    def route(self, method: str, path: str) -> str:
        if self.side == "slack":
            return path.removeprefix("/api/") if path.startswith("/api/") else "other"
        if path == "/oauth/token":
            return "oauth.token"
        if "/inbound/open/" in path:
            return "inbound." + path.rsplit("/inbound/open/", 1)[1].split("/")[0]
        return "api" if path.startswith("/api/") else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        at = time.time()
        route = self.route(scope["method"], scope["path"])
        tracked = route in ("chat.postMessage", "inbound.message")
        body: list[bytes] = []
        answer: list[bytes] = []
        status = 0

        async def tee_receive() -> Message:
            message = await receive()
            if tracked and message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def tee_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif tracked and message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, tee_receive, tee_send)
        finally:
            self.counters[f"{route} {status}"] += 1
            if tracked:
                self._record(route, at, status, b"".join(body), b"".join(answer), scope)

    def _record(
        self, route: str, at: float, status: int, raw: bytes, answer: bytes, scope: Scope
    ) -> None:
        seq = find_marker(raw)
        if seq is None:
            return
        ok = 200 <= status < 300
        if route == "inbound.message":
            channel = json.loads(raw).get("channel") or {}
            key = (channel.get("from") or {}).get("id")
            self.records.append([seq, key, channel.get("messageId"), at, ok])
            return
        headers = dict(scope["headers"])
        if headers.get(b"content-type", b"").startswith(b"application/json"):
            args = json.loads(raw)
        else:
            args = dict(parse_qsl(raw.decode()))
        ok = ok and b'"ok":true' in answer
        key = f"{args.get('channel')}/{args.get('thread_ts') or ''}"
        self.records.append([seq, key, None, at, ok])


def bench_routes(recorder: Recorder, trim: Any, extra: list[Route] | None = None) -> list[Route]:
    async def ledger(request: Request) -> Response:
        start = int(request.query_params.get("from", "0"))
        records = recorder.records[start:]
        return JSONResponse({"records": records, "next": start + len(records)})

    async def counters(request: Request) -> Response:
        return JSONResponse(dict(recorder.counters))

    async def trim_route(request: Request) -> Response:
        trim()
        return JSONResponse({"ok": True})

    return [
        Route("/_bench/ledger", ledger, methods=["GET"]),
        Route("/_bench/counters", counters, methods=["GET"]),
        Route("/_bench/trim", trim_route, methods=["POST"]),
        *(extra or []),
    ]


def slack_host(world: SlackWorld) -> Starlette:
    recorder = Recorder(create_slack_sandbox(world), side="slack")

    def trim() -> None:
        world.calls.clear()
        world.messages.clear()
        world.deliveries.clear()

    async def messages(request: Request) -> Response:
        """Customer messages about to be pushed as events, so reactions and permalinks on
        them work as in Slack: [[channel, ts, user, text, thread_ts], …]."""
        for channel_id, ts, user, text, thread_ts in json.loads(await request.body()):
            world.add_message(
                SlackMessage(
                    ts=ts,
                    slack_channel_id=channel_id,
                    slack_team_id=world.channels[channel_id].slack_team_id,
                    text=text,
                    user=user,
                    thread_ts=thread_ts,
                    client_msg_id=str(uuid.uuid4()),
                )
            )
        return JSONResponse({"ok": True})

    extra = [Route("/_bench/messages", messages, methods=["POST"])]
    return Starlette(routes=[*bench_routes(recorder, trim, extra), Mount("/", app=recorder)])


def genesys_host(world: GenesysWorld) -> Starlette:
    recorder = Recorder(create_genesys_sandbox(world), side="genesys")

    def trim() -> None:
        world.inbound.clear()
        world.conversations.clear()
        world.deliveries.clear()
        world.sent_bodies.clear()

    return Starlette(routes=[*bench_routes(recorder, trim), Mount("/", app=recorder)])


async def serve(args: argparse.Namespace) -> None:
    slack_world = SlackWorld.seeded()
    slack_world.public_url = f"http://127.0.0.1:{args.slack_port}"
    slack_world.post_rate_per_channel = args.post_rate or None
    slack_world.post_burst = 1
    # The bench measures the app, not Slack's per-workspace tiers (50 reactions a minute
    # would throttle most of its ticks); the per-channel posting limit stays on.
    slack_world.method_rate_limits = False
    populate(slack_world, channels=args.channels, users=args.users)
    # Whether Genesys drops a repeated `channel.messageId` is UNCONFIRMED (external-contracts §G7);
    # the bench assumes it does, as the e2e tests do, and counts such resends separately.
    genesys_world = GenesysWorld.seeded(config=GenesysConfig(dedupe_inbound_message_id=True))
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                http="httptools",
                backlog=4096,
            )
        )
        for app, port in (
            (slack_host(slack_world), args.slack_port),
            (genesys_host(genesys_world), args.genesys_port),
        )
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulators")
    parser.add_argument("--slack-port", type=int, required=True)
    parser.add_argument("--genesys-port", type=int, required=True)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--post-rate", type=float, default=1.0)
    uvloop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
