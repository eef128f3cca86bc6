"""What a person sees when Slack sends them back from an install: a session, or a page.

Bolt runs the OAuth flow (`app.slack.app`) and calls these back. After a successful install
the installer (or a workspace admin) gets the signed admin session and lands on onboarding;
anyone else gets a page saying Slack did install. A failed install shows a page per reason
Bolt reports, never the raw error text. `app.main` hands these callbacks to the Bolt app.
"""

from __future__ import annotations

import logging
from html import escape

from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.slack.app import INSTALL_PATH, is_workspace_admin
from app.tenants import store
from app.web.session import SessionCodec, set_cookie_header

log = logging.getLogger(__name__)

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


def install_callbacks(
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
