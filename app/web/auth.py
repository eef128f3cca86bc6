"""Who may use the settings pages: Sign in with Slack, admin checks, CSRF.

Returning admins sign in with Slack's OpenID Connect through authlib's Starlette client; the
endpoints come from settings so the sandbox works. Only the installer, or the workspace's
admins and owners (asked of Slack with the tenant's own bot token), get a session.
"""

from __future__ import annotations

import hmac
import logging
import warnings
from typing import Any

import authlib.deprecate
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.config import Settings
from app.db.models import TenantStatus
from app.slack.app import is_workspace_admin
from app.tenants import store
from app.web.session import COOKIE_NAME, AdminSession, set_cookie_header
from app.web.views import page, state_of

# authlib 1.9 warns, on import, about a move to an `httpx2` package that does not exist yet.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="The httpx module is deprecated",
        category=authlib.deprecate.AuthlibDeprecationWarning,
    )
    from authlib.integrations.starlette_client import OAuth, OAuthError

log = logging.getLogger(__name__)

OIDC_SCOPES = "openid email profile"


def build_oauth(settings: Settings) -> OAuth:
    """The Sign in with Slack client. Discovery comes from the Slack host in settings."""
    api = str(settings.slack_api_url).rstrip("/")
    slack_base = api.removesuffix("/api")
    oauth = OAuth()  # type: ignore[no-untyped-call]
    oauth.register(  # type: ignore[no-untyped-call]
        name="slack",
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        server_metadata_url=f"{slack_base}/.well-known/openid-configuration",
        authorize_url=str(settings.slack_openid_authorize_url),
        client_kwargs={"scope": OIDC_SCOPES, "token_endpoint_auth_method": "client_secret_post"},
    )
    return oauth


def current_admin(request: Request) -> AdminSession | None:
    return state_of(request).codec.read(request.cookies.get(COOKIE_NAME))


def csrf_ok(request: Request, admin: AdminSession, submitted: object) -> bool:
    if not isinstance(submitted, str):
        return False
    # Bytes: compare_digest raises TypeError on non-ASCII text, and a form may carry any.
    return hmac.compare_digest(submitted.encode(), admin.csrf.encode())


def refusal(
    request: Request, title: str, detail: str, *, status: int = 403, offer_install: bool = False
) -> Response:
    """A clear page saying why; `offer_install` only where installing is the way forward."""
    context = {"title": title, "detail": detail, "offer_install": offer_install}
    return page(request, "message.html", context, status=status)


async def sign_in(request: Request) -> Response:
    oauth: OAuth = state_of(request).oauth
    redirect_uri = f"{state_of(request).settings.public_url}/signin/callback"
    client: Any = oauth.create_client("slack")  # type: ignore[no-untyped-call]
    response: Response = await client.authorize_redirect(request, redirect_uri)
    return response


async def _is_admin(request: Request, *, tenant_id: Any, slack_user_id: str) -> bool:
    """The installer always; otherwise Slack must say the user is an admin or owner."""
    state = state_of(request)
    async with state.sessions() as session:
        installation = await store.get_installation(session, tenant_id=tenant_id)
    if installation is None:
        return False
    if installation.installer_slack_user_id == slack_user_id:
        return True
    bot = await state.installation_store.async_find_bot(
        enterprise_id=installation.slack_enterprise_id,
        team_id=installation.slack_team_id,
        is_enterprise_install=installation.is_enterprise_install,
    )
    if bot is None:
        return False
    return await is_workspace_admin(
        state.settings, bot_token=bot.bot_token, slack_user_id=slack_user_id
    )


async def sign_in_callback(request: Request) -> Response:
    state = state_of(request)
    client: Any = state.oauth.create_client("slack")
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as exc:
        log.info("sign in with slack failed", extra={"reason": exc.error})
        return refusal(
            request,
            "Sign in did not complete",
            "Slack did not confirm the sign-in (it was cancelled, expired or opened in "
            "another browser). Try again.",
            status=400,
        )
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    slack_user_id = str(claims.get("https://slack.com/user_id") or claims.get("sub") or "")
    slack_team_id = claims.get("https://slack.com/team_id")
    slack_enterprise_id = claims.get("https://slack.com/enterprise_id")
    async with state.sessions() as session:
        tenant = await store.find_tenant_for_slack(
            session,
            slack_enterprise_id=slack_enterprise_id,
            slack_team_id=slack_team_id,
            is_enterprise_install=False,
            org_fallback=True,
        )
    if tenant is None or tenant.status != TenantStatus.ACTIVE or not slack_user_id:
        return refusal(
            request,
            "Switchboard is not installed in this workspace",
            "Add Switchboard to Slack first; the installer can then set it up.",
            status=404,
            offer_install=True,
        )
    if not await _is_admin(request, tenant_id=tenant.id, slack_user_id=slack_user_id):
        log.info("settings refused to non-admin", extra={"tenant_id": str(tenant.id)})
        return refusal(
            request,
            "Only workspace admins can change Switchboard",
            "Ask the person who installed Switchboard, or a workspace admin or owner, to "
            "sign in instead.",
        )
    value, admin = state.codec.issue(tenant_id=tenant.id, slack_user_id=slack_user_id, via="signin")
    response = RedirectResponse("/onboarding", status_code=303)
    response.headers.append("set-cookie", set_cookie_header(value, admin.max_age))
    return response


async def sign_out(request: Request) -> Response:
    """POST with the CSRF token, so another site cannot sign an admin out."""
    admin = current_admin(request)
    form = await request.form()
    if admin is not None and not csrf_ok(request, admin, form.get("csrf")):
        return refusal(
            request,
            "This form has expired",
            "Reload the settings page and sign out from there.",
        )
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="lax")
    return response
