"""Every HTTP route of the web process: pages a person sees, health, metrics, and the two
inbound endpoints (`slack_events`, `genesys_webhook`), each in its own module.

Handlers read their dependencies from the lifespan state (`request.state`), never from
module globals. They open their own short database sessions and never call Slack or Genesys
directly: installs go through Bolt, tenant changes through `app.tenants`.
"""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.web import (
    access,
    auth,
    files,
    genesys_webhook,
    metrics,
    onboarding,
    privacy,
    routing_rules,
    slack_events,
)
from app.web.auth import current_admin
from app.web.views import HERE, page, state_of


async def landing(request: Request) -> Response:
    state = state_of(request)
    return page(
        request,
        "landing.html",
        {"sandbox": state.sandbox_urls, "signed_in": current_admin(request) is not None},
    )


async def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


async def healthz(request: Request) -> Response:
    """Liveness: the process answers. No dependencies, so a DB outage does not restart dynos."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers, and the queue's tables are there and readable.

    Live workers are reported but do not decide readiness: a web dyno can accept and store
    traffic while workers restart, and nothing is lost.
    """
    try:
        async with state_of(request).sessions() as session:
            await session.execute(text("SELECT 1"))
            workers = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_workers "
                        "WHERE last_heartbeat > now() - interval '60 seconds'"
                    )
                )
            ).scalar_one()
    except Exception:  # readiness reports any failure as "not ready"; the cause is logged
        state_of(request).log.warning("readiness check failed", exc_info=True)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "up", "queue": "up", "workers": workers})


# The ingest endpoints `WebApp` serves in front of the page stack, by path.
INGEST = {"/slack/events": slack_events.EVENTS, "/genesys/webhook": genesys_webhook.WEBHOOK}


def routes() -> list[BaseRoute]:
    return [
        Route("/", landing, methods=["GET"]),
        Route("/onboarding", onboarding.show, methods=["GET"]),
        Route("/onboarding/credentials", onboarding.save_credentials, methods=["POST"]),
        Route("/onboarding/integrations", onboarding.save_integrations, methods=["POST"]),
        Route(
            "/onboarding/integrations/{genesys_integration_id}/rotate",
            onboarding.rotate_secret,
            methods=["POST"],
        ),
        Route(
            "/onboarding/integrations/{genesys_integration_id}/retire",
            onboarding.retire_integration,
            methods=["POST"],
        ),
        Route("/onboarding/test", onboarding.run_test, methods=["POST"]),
        Route(
            "/onboarding/dead-letters/{message_id:int}/replay",
            onboarding.replay_dead_letter,
            methods=["POST"],
        ),
        Route(
            "/onboarding/dead-letters/{message_id:int}/discard",
            onboarding.discard_dead_letter,
            methods=["POST"],
        ),
        Route("/onboarding/behaviour", onboarding.save_behaviour, methods=["POST"]),
        Route("/onboarding/disconnect", onboarding.disconnect_genesys, methods=["POST"]),
        Route("/onboarding/remove", onboarding.remove_app, methods=["POST"]),
        Route("/settings/privacy", privacy.show, methods=["GET"]),
        Route("/settings/privacy/retention", privacy.save_retention, methods=["POST"]),
        Route("/settings/privacy/erase", privacy.erase_person, methods=["POST"]),
        *routing_rules.routes(),
        Route("/settings/access", access.show, methods=["GET"]),
        Route("/settings/access", access.save_access, methods=["POST"]),
        Route("/settings/access/alert", access.save_alert, methods=["POST"]),
        Route("/signin", auth.sign_in, methods=["GET"]),
        Route("/signin/callback", auth.sign_in_callback, methods=["GET"]),
        Route("/signout", auth.sign_out, methods=["POST"]),
        # `WebApp` answers these POSTs before the middlewares; the routes keep the addresses
        # known to the router (a GET gets the 405 page).
        Route("/slack/events", slack_events.EVENTS, methods=["POST"]),
        Route("/slack/install", slack_events.install, methods=["GET"]),
        Route("/slack/oauth_redirect", slack_events.install, methods=["GET"]),
        Route("/genesys/webhook", genesys_webhook.WEBHOOK, methods=["POST"]),
        Route("/files/{tenant_id}/{slack_file_id}", files.serve, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
