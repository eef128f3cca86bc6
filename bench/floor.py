"""The floor: the least work one Slack event can cost, to compare our ingest against.

Bare Starlette, the Slack signature check, one insert into a table of its own in the same
Postgres, served by the same uvicorn settings as the app (`uvicorn --factory
bench.floor:asgi`). Everything the real ingest does beyond this (Bolt, the ORM, tenant
lookup, conversation upsert, queueing the job) is what the ratio prices.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import load_settings
from app.signing import verify_slack
from bench.database import FLOOR_TABLE

_INSERT = (
    f"INSERT INTO {FLOOR_TABLE} (event_id, payload) VALUES ($1, $2) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def asgi() -> Starlette:
    settings = load_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The app's engine allows pool_size + max_overflow connections; so does the floor.
        size = settings.web_db_pool_size
        pools.append(
            await asyncpg.create_pool(settings.database.libpq, min_size=size, max_size=2 * size)
        )
        try:
            yield
        finally:
            await pools[0].close()

    async def events(request: Request) -> Response:
        body = await request.body()
        if not verify_slack(
            secret,
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
            body=body,
        ):
            return Response(status_code=401)
        event_id = json.loads(body).get("event_id")
        await pools[0].execute(_INSERT, str(event_id), body.decode())
        return Response(status_code=200)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])], lifespan=lifespan)
