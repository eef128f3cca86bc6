"""The privacy page (`/settings/privacy`): the tenant's retention period, and erasing one
Slack person, picked by name from `users.list` (`app.slack.people`). Admin-only, CSRF-checked;
the work itself is `app.tenants.privacy`, the same as the CLI's."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.db.models import Tenant, TenantStatus
from app.slack.errors import SlackError
from app.tenants import privacy, store
from app.web.auth import csrf_ok, current_admin, refusal
from app.web.session import AdminSession
from app.web.views import page, state_of

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
NOTICES = {"retention": "Retention period saved.", "erased": "That person's data was erased."}


async def _tenant(request: Request) -> tuple[AdminSession, Tenant] | Response:
    admin = current_admin(request)
    if admin is None:
        return page(request, "signin.html", status=401)
    async with state_of(request).sessions() as session:
        tenant = await store.get_tenant(session, tenant_id=admin.tenant_id)
    if tenant is None or tenant.status == TenantStatus.UNINSTALLED:
        return refusal(
            request,
            "This workspace is no longer installed",
            "Add Switchboard to Slack again to continue.",
            status=404,
            offer_install=True,
        )
    return admin, tenant


def _cache_key(tenant: Tenant) -> str:
    return str(tenant.id)


async def _people(request: Request, tenant: Tenant) -> dict[str, Any]:
    state = state_of(request)
    bot = await state.installation_store.async_find_bot(
        enterprise_id=tenant.slack_enterprise_id,
        team_id=None if tenant.is_enterprise_install else tenant.slack_team_id,
        is_enterprise_install=tenant.is_enterprise_install,
    )
    if bot is None or not bot.bot_token:
        return {"people": [], "complete": False, "people_error": "Slack is not connected."}
    try:
        found = await state.people.list(
            cache_key=_cache_key(tenant),
            token=bot.bot_token,
            team_id=None if tenant.is_enterprise_install else tenant.slack_team_id,
        )
    except SlackError as exc:
        state.log.warning("users.list failed", extra={"slack_error": type(exc).__name__})
        return {
            "people": [],
            "complete": False,
            "people_error": "Slack did not list the workspace's people just now; reload to try "
            "again. The command python -m app tenants erase-user works meanwhile.",
        }
    return {"people": found.people, "complete": found.complete, "people_error": None}


async def _render(
    request: Request,
    admin: AdminSession,
    tenant: Tenant,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    async with state_of(request).sessions() as session:
        stored = await privacy.message_count(session, tenant_id=tenant.id)
    context = {
        "admin": admin,
        "tenant": tenant,
        "stored": stored,
        "min_days": privacy.MIN_RETENTION_DAYS,
        "max_days": privacy.MAX_RETENTION_DAYS,
        "error": error,
        "form": form or {},
        "notice": NOTICES.get(request.query_params.get("saved", "")),
        **await _people(request, tenant),
    }
    return page(request, "privacy.html", context, status=status)


async def show(request: Request) -> Response:
    found = await _tenant(request)
    if isinstance(found, Response):
        return found
    admin, tenant = found
    return await _render(request, admin, tenant)


async def _checked_form(request: Request) -> tuple[AdminSession, Tenant, Any] | Response:
    found = await _tenant(request)
    if isinstance(found, Response):
        return found
    admin, tenant = found
    form = await request.form()
    if not csrf_ok(request, admin, form.get("csrf")):
        return refusal(
            request,
            "This form has expired",
            "The form did not carry a valid security token, so nothing was changed. "
            "Reload the privacy page and try again.",
        )
    return admin, tenant, form


async def save_retention(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    admin, tenant, form = checked
    raw = form.get("retention_days")
    try:
        days = privacy.parse_retention_days(raw)
    except privacy.InvalidRetention as exc:
        shown = raw if isinstance(raw, str) else ""
        return await _render(
            request, admin, tenant, status=400, error=str(exc), form={"retention_days": shown}
        )
    async with state_of(request).sessions.begin() as session:
        await privacy.set_retention(
            session, tenant_id=tenant.id, days=days, actor_slack_user_id=admin.slack_user_id
        )
    return RedirectResponse("/settings/privacy?saved=retention", status_code=303)


async def erase_person(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    admin, tenant, form = checked
    slack_user_id = form.get("slack_user_id")
    if not isinstance(slack_user_id, str) or not SLACK_USER_ID.match(slack_user_id):
        return refusal(
            request, "Choose a person", "Pick the person to erase from the list.", status=400
        )
    if form.get("confirm") != "yes":
        return refusal(
            request,
            "Nothing was erased",
            "Tick the box confirming that erasing cannot be undone, then try again.",
            status=400,
        )
    state = state_of(request)
    await privacy.erase_slack_user(
        state.sessions,
        tenant_id=tenant.id,
        slack_user_id=slack_user_id,
        actor_slack_user_id=admin.slack_user_id,
    )
    state.people.forget(_cache_key(tenant), slack_user_id)
    return RedirectResponse("/settings/privacy?saved=erased", status_code=303)
