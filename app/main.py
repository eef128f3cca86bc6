"""The only wiring place: settings in, a Starlette app or a queue worker out.

`build_services` builds the one object graph both processes share (engine, stores, the
Genesys and Slack adapters, ingest and delivery); `create_app` adds the web's parts in its
lifespan, `worker_app` the queue's. Everything that holds a connection is created there and
closed on shutdown; nothing connects at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import procrastinate
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import jobs
from app.bridge.conversation_end import ConversationEnds
from app.bridge.customer_files import CustomerFiles
from app.bridge.delivery import Delivery
from app.bridge.dispatch import LEASE_KEEPALIVES, Dispatcher
from app.bridge.file_links import FileLinks
from app.bridge.ingest import Ingest
from app.bridge.routing_setup import RoutingSetup
from app.config import Settings, load_settings
from app.crypto import SecretBox
from app.db.session import DriverPool, create_engine, create_sessions
from app.genesys.clients import GenesysClients
from app.jobs import WorkerDeps, build_queue
from app.logs import RequestTrace, configure_logging
from app.slack.app import build_bolt_app, build_web_client
from app.slack.files import SlackFileHost
from app.slack.installation_store import PostgresInstallationStore
from app.slack.people import PeopleDirectory
from app.slack.sender import SlackSender
from app.slack.token_refresh import BotTokenRefresher
from app.tenants.onboarding import Onboarding
from app.web import errors, routes
from app.web.admission import Admission
from app.web.auth import build_oauth
from app.web.front import WebApp
from app.web.install import install_callbacks
from app.web.metrics import IngestMetrics
from app.web.session import SessionCodec

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        b"script-src 'self'; form-action 'self' https:; frame-ancestors 'none'; "
        b"base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]


# Sent only on https (as the platform's proxy reports it): browsers ignore it over http, and a
# local http run must not pin localhost to https. One year, the ASVS minimum.
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Adds the headers every page needs; pure ASGI so streaming and lifespan pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                wanted = SECURITY_HEADERS
                if scope.get("scheme") == "https":
                    wanted = [*SECURITY_HEADERS, HSTS_HEADER]
                extra = [(k, v) for k, v in wanted if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Services:
    """What the web app and the worker both need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    installation_store: PostgresInstallationStore
    genesys_clients: GenesysClients
    onboarding: Onboarding
    slack: SlackSender
    ingest: Ingest
    delivery: Delivery
    conversation_ends: ConversationEnds
    file_links: FileLinks
    file_host: SlackFileHost
    customer_files: CustomerFiles
    routing: RoutingSetup
    driver_pool: DriverPool | None = None

    async def aclose(self) -> None:
        await self.delivery.aclose()
        await self.file_host.aclose()
        await self.slack.aclose()
        await self.genesys_clients.aclose()
        if self.driver_pool is not None:
            await self.driver_pool.close()
        await self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    application_name: str,
    genesys_transport: httpx.AsyncBaseTransport | None = None,
    pre_ping: bool = True,
    driver_pool: bool = False,
) -> Services:
    """The one object graph. Delivery gets the real adapters behind the bridge's ports: the
    Slack sender, the token refresher, and the tenants' Genesys access. The web's ingest finds
    dead connections itself, so the web does not ping on checkout (`pre_ping`), nor does the
    worker (see `worker_app`); the web has its own bare asyncpg connections (`driver_pool`):
    half the budget below, the engine the other half."""
    # The same ceiling for web and worker (twice WEB_DB_POOL_SIZE, docs/deployment.md), all
    # of it kept open: an overflow connection is closed on its return, so the worker's jobs
    # and the web's bursts opened and closed connections all day, and a new asyncpg
    # connection (TLS attempt, type introspection, statements prepared again) costs more
    # than a message.
    budget = 2 * settings.web_db_pool_size
    hot_path = (
        DriverPool(
            settings.database,
            size=settings.web_db_pool_size,
            application_name=f"{application_name}-ingest",
        )
        if driver_pool
        else None
    )
    engine = create_engine(
        settings.database,
        pool_size=budget - (hot_path.size if hot_path else 0),
        max_overflow=0,
        application_name=application_name,
        pre_ping=pre_ping,
    )
    box = SecretBox(settings.keys)
    sessions = create_sessions(engine, box=box, driver_pool=hot_path)
    installation_store = PostgresInstallationStore(sessions, box)
    genesys_clients = GenesysClients()
    onboarding = Onboarding(
        settings,
        sessions=sessions,
        box=box,
        clients=genesys_clients,
        transport=genesys_transport,
    )
    slack = SlackSender(settings)
    file_links = FileLinks.from_keys(box, base_url=settings.public_url)
    file_host = SlackFileHost(settings)
    rotator = AsyncTokenRotator(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        client=build_web_client(settings),
    )
    delivery = Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=onboarding.genesys,
        tokens=BotTokenRefresher(installation_store, rotator),
        setup_url=f"{settings.public_url}/onboarding",
        file_links=file_links,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        box=box,
        installation_store=installation_store,
        genesys_clients=genesys_clients,
        onboarding=onboarding,
        slack=slack,
        ingest=Ingest(sessions=sessions, box=box),
        delivery=delivery,
        conversation_ends=ConversationEnds(
            sessions=sessions,
            genesys=onboarding.genesys,
            poll_seconds=settings.conversation_end_poll_seconds,
        ),
        file_links=file_links,
        file_host=file_host,
        customer_files=CustomerFiles(sessions=sessions, box=box, lookup=slack, host=file_host),
        routing=RoutingSetup(sessions=sessions, box=box, slack=slack),
        driver_pool=hot_path,
    )


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    codec: SessionCodec
    slack_handler: AsyncSlackRequestHandler
    installation_store: PostgresInstallationStore
    oauth: Any  # authlib's Starlette OAuth registry (untyped)
    genesys_clients: GenesysClients
    onboarding: Onboarding
    slack: SlackSender
    ingest: Ingest
    ingest_metrics: IngestMetrics
    admission: Admission
    file_links: FileLinks
    customer_files: CustomerFiles

    people: PeopleDirectory

    routing: RoutingSetup
    sandbox_urls: dict[str, str] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("app.web"))


def create_app(
    settings: Settings, *, genesys_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """`genesys_transport` lets tests put the Genesys simulator in-process; None is the network."""
    sandbox_urls = {
        name: str(url).rstrip("/")
        for name, url in (
            ("slack", settings.sandbox_slack_url),
            ("genesys", settings.sandbox_genesys_url),
        )
        if url is not None
    }
    ingest_metrics = IngestMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, AppState]]:
        services = build_services(
            settings,
            application_name="web",
            genesys_transport=genesys_transport,
            pre_ping=False,
            driver_pool=True,
        )
        codec = SessionCodec(settings.session_secret.get_secret_value())
        bolt = build_bolt_app(
            settings,
            sessions=services.sessions,
            installation_store=services.installation_store,
            callback_options=install_callbacks(settings, services.sessions, codec),
        )
        state = AppState(
            settings=settings,
            engine=services.engine,
            sessions=services.sessions,
            box=services.box,
            codec=codec,
            slack_handler=AsyncSlackRequestHandler(bolt),
            sandbox_urls=sandbox_urls,
            installation_store=services.installation_store,
            oauth=build_oauth(settings),
            genesys_clients=services.genesys_clients,
            onboarding=services.onboarding,
            slack=services.slack,
            ingest=services.ingest,
            ingest_metrics=ingest_metrics,
            admission=Admission(
                deadline_seconds=settings.ingest_ack_deadline_seconds,
                max_in_flight=settings.ingest_max_in_flight,
            ),
            file_links=services.file_links,
            customer_files=services.customer_files,
            people=PeopleDirectory(settings),
            routing=services.routing,
        )
        try:
            yield {"app": state}
        finally:
            await services.aclose()

    # The ingest endpoints are answered in front of the middlewares (`app.web.front`), which
    # are the pages'.
    return WebApp(
        ingest=routes.INGEST,
        routes=routes.routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: errors.http_error, 500: errors.server_error},
        middleware=[
            Middleware(RequestTrace),
            Middleware(SecurityHeaders),
            # Only authlib's short-lived Sign in with Slack state lives here.
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret.get_secret_value(),
                session_cookie="sb_oidc",
                max_age=600,
                same_site="lax",
                https_only=True,
            ),
        ],
    )


def asgi() -> Starlette:
    """Entry point for `uvicorn --factory app.main:asgi` (the Procfile's web process)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


@asynccontextmanager
async def worker_app(
    settings: Settings, *, genesys_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[tuple[procrastinate.App, WorkerDeps]]:
    """The queue app and what its tasks need, open for the duration of the block."""
    services = build_services(
        settings,
        application_name="worker",
        genesys_transport=genesys_transport,
        # Delivery's statements find dead connections themselves (`on_driver`), outcomes are
        # retried through a database blip (`outcomes.record`), and a flush that fails on one
        # is tried again (`app.bridge.dispatch`): the ping's three round trips per checkout
        # (BEGIN, a no-op, ROLLBACK) buy nothing here.
        pre_ping=False,
    )
    database = settings.database

    async def lease_connection() -> asyncpg.Connection[Any]:
        connection: asyncpg.Connection[Any] = await asyncpg.connect(
            database.libpq,
            server_settings={"application_name": "worker-lease", **LEASE_KEEPALIVES},
            command_timeout=10,
        )
        return connection

    deps = WorkerDeps(
        settings=settings,
        sessions=services.sessions,
        delivery=services.delivery,
        dispatcher=Dispatcher(
            connect=lease_connection,
            delivery=services.delivery,
            concurrency=settings.worker_concurrency,
            grace_seconds=jobs.SHUTDOWN_GRACE_SECONDS,
        ),
        conversation_ends=services.conversation_ends,
    )
    queue = build_queue(settings)
    try:
        async with queue.open_async():
            yield queue, deps
    finally:
        await services.aclose()


async def run_worker(settings: Settings) -> None:
    """The Procfile's worker process (`python -m app worker`). It runs at a lower scheduling
    priority (`WORKER_NICE`), so that where it shares a core with a web process the acks
    come first and the backlog waits (docs/decisions.md, "Acks come first")."""
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    async with worker_app(settings) as (queue, deps):
        await jobs.run_worker(queue, deps)
