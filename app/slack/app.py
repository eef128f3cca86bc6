"""Build the Bolt `AsyncApp`: OAuth install flow, request verification, uninstalls.

The Slack hosts come from settings so the same code runs against the sandbox. Bolt is not
wrapped; we implement its ports (`PostgresInstallationStore`, `PostgresOAuthStateStore`) and
take the install callbacks from the caller (`app.web.install`: they set the admin session and
render pages), so this adapter never imports the web layer. Messages and button clicks never
reach Bolt: `app.web.slack_events` stores them before Bolt would see them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.slack.installation_store import PostgresInstallationStore, PostgresOAuthStateStore

log = logging.getLogger(__name__)

# The least a support bridge needs; docs/slack-app.md justifies each one, and the manifest
# (infra/slack/manifest.yml) must declare each, or Slack refuses the install.
BOT_SCOPES = (
    "app_mentions:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "chat:write",
    "chat:write.customize",
    "im:history",
    "im:read",
    "im:write",
    "users:read",
    "users:read.email",
    "reactions:write",
    "files:read",
    "usergroups:read",
    "files:write",
    "team:read",
)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_TTL_SECONDS = 600


async def is_workspace_admin(settings: Settings, *, bot_token: str, slack_user_id: str) -> bool:
    """Slack's word (`users.info`, scope `users:read`) on whether the user administers it."""
    client = build_web_client(settings, token=bot_token)
    result = await client.users_info(user=slack_user_id)
    user = result.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def build_web_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    """A Web API client on the configured host. Rate-limit sleeps stay short in the web path."""
    return AsyncWebClient(
        token=token,
        base_url=str(settings.slack_api_url),
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
        ],
    )


def build_bolt_app(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    installation_store: PostgresInstallationStore,
    callback_options: AsyncCallbackOptions,
) -> AsyncApp:
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=f"{settings.public_url}{REDIRECT_PATH}",
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        install_page_rendering_enabled=False,
        authorization_url=str(settings.slack_authorize_url),
        installation_store=installation_store,
        # Refreshes go through async_save_bot, which never resurrects an uninstalled tenant.
        installation_store_bot_only=True,
        state_store=PostgresOAuthStateStore(sessions, expiration_seconds=STATE_TTL_SECONDS),
        state_expiration_seconds=STATE_TTL_SECONDS,
        callback_options=callback_options,
    )
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=build_web_client(settings),
        installation_store=installation_store,
        installation_store_bot_only=True,
        oauth_settings=oauth_settings,
        # The ack waits for the listener. Message events and clicks never reach Bolt
        # (`app.web.slack_events` answers them), so this governs the uninstall purge: Slack
        # does not redeliver an event it got a 200 for, so the purge must commit first, and a
        # failed purge answers 500, which Slack retries.
        process_before_response=True,
        logger=logging.getLogger("app.slack.bolt"),
    )
    # Bolt does not register these by default; without them tokens outlive an uninstall.
    app.enable_token_revocation_listeners()
    _ack_everything_else(app)
    return app


def _ack_everything_else(app: AsyncApp) -> None:
    """Registered last: an event nobody handles gets a 200, not Bolt's 404 that Slack retries."""

    async def ignore() -> None:
        return None

    handler: Callable[[], Awaitable[None]] = ignore
    app.event(re.compile(".*"))(handler)

    async def ack_action(ack: Callable[[], Awaitable[None]]) -> None:
        await ack()

    app.action(re.compile(".*"))(ack_action)
