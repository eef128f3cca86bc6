"""The simulated Slack as one Starlette app: Web API, OAuth and OpenID, files, the control API
and the human page, all over one `SlackWorld`.

Run it behind `ServerThread` in tests, or under uvicorn for sandbox mode; set
`world.public_url` to where it is reachable so URLs inside pushed events resolve.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.applications import Starlette

from sandbox import slack_files, slack_methods, slack_oauth, slack_openid
from sandbox.slack_actions import action_routes
from sandbox.slack_api import Method, api_route
from sandbox.slack_apps import apps_methods
from sandbox.slack_control import control_routes, validation_error
from sandbox.slack_events import EventSender
from sandbox.slack_pages import page_routes
from sandbox.slack_world import SANDBOX_SIGNING_SECRET, SlackWorld


def create_slack_sandbox(world: SlackWorld, *, sender: EventSender | None = None) -> Starlette:
    """`sender` serves the control API and the human page; by default it signs as the sandbox."""
    sender = sender or EventSender(
        world, signing_secret=SANDBOX_SIGNING_SECRET, time_scale=world.retry_time_scale
    )
    methods: dict[str, Method] = {
        **slack_methods.METHODS,
        **slack_files.METHODS,
        **slack_oauth.METHODS,
        **slack_openid.METHODS,
        **apps_methods(sender),
    }
    routes = [
        api_route(world, methods),
        *slack_files.file_routes(world),
        *slack_oauth.consent_routes(world),
        *slack_openid.openid_routes(world),
        *control_routes(world, sender),
        *page_routes(world, sender),
        *action_routes(world),
    ]
    return Starlette(routes=routes, exception_handlers={ValidationError: validation_error})


def create_seeded_slack_sandbox() -> Starlette:
    """For `uvicorn --factory`; set `public_url` through `/_sandbox/config` if not on :8010."""
    return create_slack_sandbox(SlackWorld.seeded())
