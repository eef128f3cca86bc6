"""Build the Bolt `AsyncApp`: OAuth install flow, request verification, and our listeners.

The Slack hosts come from settings so the same code runs against the sandbox. Bolt is not
wrapped; we implement its ports (`PostgresInstallationStore`, `PostgresOAuthStateStore`) and
hand it callbacks that redirect to our own onboarding and failure pages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from html import escape

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.slack.installation_store import PostgresInstallationStore, PostgresOAuthStateStore
from app.tenants import store
from app.web.session import SessionCodec, set_cookie_header

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
    "im:history",
    "im:read",
    "im:write",
    "users:read",
    "users:read.email",
    "reactions:write",
)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_TTL_SECONDS = 600

# What a person sees for each failure reason Bolt reports; never the raw error text.
FAILURE_MESSAGES = {
    "access_denied": (
        "Installation cancelled",
        "Slack reports that the install was cancelled. Nothing was installed or stored.",
    ),
    "invalid_browser": (
        "This install link cannot be finished here",
        "The install must finish in the same browser that started it, and each link works "
        "once. Start again from the Add to Slack button.",
    ),
    "invalid_state": (
        "This install link has expired or was already used",
        "Install links are valid for 10 minutes and work once. Start again from the "
        "Add to Slack button.",
    ),
    "missing_code": (
        "Slack did not send an authorization code",
        "Start again from the Add to Slack button.",
    ),
    "invalid_code": (
        "Slack refused the authorization code",
        "The code expired or was already used. Start again from the Add to Slack button.",
    ),
    "invalid_scope": (
        "Slack refused the permissions Switchboard asks for",
        "The Slack app's configuration does not declare every scope Switchboard requests. "
        "Whoever runs Switchboard must update the Slack app from infra/slack/manifest.yml.",
    ),
    "storage_error": (
        "We could not save the installation",
        "Nothing was stored. Please try again in a minute.",
    ),
}


def failure_page(title: str, detail: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · Switchboard</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='stylesheet' href='/static/app.css'></head><body><main class='card'>"
        f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        f"<p><a class='button' href='{INSTALL_PATH}'>Add to Slack again</a> "
        "<a href='/'>Home</a></p></main></body></html>"
    )


def installed_for_member_page() -> str:
    """After a reinstall by someone who may not change the settings: Slack did install."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Switchboard is installed · Switchboard</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='stylesheet' href='/static/app.css'></head><body><main class='card'>"
        "<h1>Switchboard is installed</h1>"
        "<p>Slack completed the install. Its settings are open only to the person who first "
        "installed Switchboard and to the workspace's admins and owners, so an admin must "
        "sign in to change them.</p>"
        "<p><a class='button' id='sign-in-with-slack' href='/signin'>Sign in with Slack</a> "
        "<a href='/'>Home</a></p></main></body></html>"
    )


async def is_workspace_admin(settings: Settings, *, bot_token: str, slack_user_id: str) -> bool:
    """Slack's word (`users.info`, scope `users:read`) on whether the user administers it."""
    client = build_web_client(settings, token=bot_token)
    result = await client.users_info(user=slack_user_id)
    user = result.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def _callbacks(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], codec: SessionCodec
) -> AsyncCallbackOptions:
    async def may_administer(installer_slack_user_id: str | None, args: AsyncSuccessArgs) -> bool:
        """The original installer, or a workspace admin or owner; nobody else."""
        installation = args.installation
        if installation.user_id == installer_slack_user_id:
            return True
        if not installation.bot_token:
            return False
        try:
            return await is_workspace_admin(
                settings, bot_token=installation.bot_token, slack_user_id=installation.user_id
            )
        except SlackApiError as exc:  # unknown is not an admin; they can still sign in later
            log.warning("users.info failed after install", extra={"error": exc.response["error"]})
            return False

    async def on_success(args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        async with sessions() as session:
            tenant = await store.find_tenant_for_slack(
                session,
                slack_enterprise_id=installation.enterprise_id,
                slack_team_id=installation.team_id,
                is_enterprise_install=bool(installation.is_enterprise_install),
            )
            row = (
                None
                if tenant is None
                else await store.get_installation(session, tenant_id=tenant.id)
            )
        if tenant is None or row is None:  # only a concurrent uninstall gets here
            return BoltResponse(status=500, body=failure_page(*FAILURE_MESSAGES["storage_error"]))
        state_cookie = args.settings.state_utils.build_set_cookie_for_deletion()
        if not await may_administer(row.installer_slack_user_id, args):
            log.info("install by a non-admin: no session", extra={"tenant_id": str(tenant.id)})
            return BoltResponse(
                status=200,
                body=installed_for_member_page(),
                headers={
                    "Content-Type": "text/html; charset=utf-8",
                    "Set-Cookie": [state_cookie],
                    "Cache-Control": "no-store",
                },
            )
        value, admin = codec.issue(
            tenant_id=tenant.id, slack_user_id=installation.user_id, via="install"
        )
        return BoltResponse(
            status=303,
            body="",
            headers={
                "Location": "/onboarding",
                "Set-Cookie": [state_cookie, set_cookie_header(value, admin.max_age)],
                "Cache-Control": "no-store",
            },
        )

    async def on_failure(args: AsyncFailureArgs) -> BoltResponse:
        title, detail = FAILURE_MESSAGES.get(
            args.reason, ("Installation failed", "Start again from the Add to Slack button.")
        )
        log.info("slack install failed", extra={"reason": args.reason})
        return BoltResponse(
            status=args.suggested_status_code,
            body=failure_page(title, detail),
            headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
        )

    return AsyncCallbackOptions(success=on_success, failure=on_failure)


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
    codec: SessionCodec,
    before_authorize: Callable[..., Awaitable[BoltResponse]] | None = None,
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
        callback_options=_callbacks(settings, sessions, codec),
    )
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=build_web_client(settings),
        installation_store=installation_store,
        installation_store_bot_only=True,
        oauth_settings=oauth_settings,
        before_authorize=before_authorize,
        # The ack waits for the listener. Message events and clicks never reach a listener
        # (`durable_ingest` answers them), so this governs the uninstall purge: Slack does not
        # redeliver an event it got a 200 for, so the purge must commit first, and a failed
        # purge answers 500, which Slack retries.
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
