"""The "Who may open requests" settings page, and the failure DM's switch and recipients.

`/settings/access` shows the tenant's choice with pickers that name channels, user groups and
admins as Slack shows them (`conversations.list`, `usergroups.list`, `users.list`, read with
the workspace's bot token and no transaction open); the forms submit IDs. Each POST checks the
session and its CSRF token, validates (`app.tenants.access`, a 400 with the reason on the page
when refused) and saves with an audit record naming fields, not people.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.db.models import SlackInstallation, Tenant, TenantStatus
from app.slack.directory import Named
from app.slack.errors import SlackError
from app.slack.sender import SlackSender
from app.tenants import access, store
from app.tenants.purposes import SLACK_BOT_TOKEN
from app.web.auth import csrf_ok, current_admin, refusal
from app.web.session import AdminSession
from app.web.views import page, state_of

log = logging.getLogger(__name__)

SAVED = {
    "access": "Saved: who may open requests.",
    "alert": "Saved: the failure alert.",
}
POLICY_LABELS = {
    access.EVERYONE: "Everyone in the workspace",
    access.MEMBERS: "Members only (not guests)",
    access.CHANNELS: "Only in the channels listed below",
    access.USERGROUPS: "Only members of the user groups listed below",
}


async def _load(request: Request, admin: AdminSession) -> tuple[Tenant, SlackInstallation] | None:
    async with state_of(request).sessions() as session:
        tenant = await store.get_tenant(session, tenant_id=admin.tenant_id)
        installation = await store.get_installation(session, tenant_id=admin.tenant_id)
    if tenant is None or installation is None or tenant.status != TenantStatus.ACTIVE:
        return None
    return tenant, installation


async def _guard(
    request: Request,
) -> tuple[AdminSession, Tenant, SlackInstallation] | Response:
    admin = current_admin(request)
    if admin is None:
        return page(request, "signin.html", status=401)
    loaded = await _load(request, admin)
    if loaded is None:
        return refusal(
            request,
            "This workspace is no longer installed",
            "Add Switchboard to Slack again to continue.",
            status=404,
            offer_install=True,
        )
    return admin, *loaded


async def _pick(what: str, errors: list[str], call: Any) -> list[Named]:
    try:
        found: list[Named] = await call
        return found
    except SlackError as exc:
        log.info("picker not loaded", extra={"picker": what, "slack_error": exc.error})
        errors.append(f"Slack did not list the {what} ({exc.error}).")
        return []


async def _channels(
    slack: SlackSender, token: str, tenant: Tenant, team_id: str | None
) -> list[Named]:
    scope = (tenant.slack_enterprise_id if tenant.is_enterprise_install else team_id) or ""
    found = await slack.list_channels(token, team_id=team_id, scope=scope)
    return [Named(c.slack_channel_id, c.name) for c in found]


def _with_unknown(options: list[Named], chosen: list[str], *, dm: bool = False) -> list[Named]:
    """The picker's options, plus anything chosen that Slack no longer lists (shown by ID)."""
    known = {o.id for o in options}
    extra = [Named(i, f"{i} (not found)") for i in chosen if i not in known]
    return ([Named(access.DIRECT_MESSAGES, "Direct messages with the app")] if dm else []) + [
        *options,
        *extra,
    ]


async def _render(
    request: Request,
    admin: AdminSession,
    tenant: Tenant,
    installation: SlackInstallation,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    state = state_of(request)
    slack = state.slack
    team_id = installation.slack_team_id
    picker_errors: list[str] = []
    channels: list[Named] = []
    groups: list[Named] = []
    admins: list[Named] = []
    if installation.bot_token_enc is not None:
        token = state.box.decrypt(
            installation.bot_token_enc, tenant_id=tenant.id, purpose=SLACK_BOT_TOKEN
        )
        channels = await _pick("channels", picker_errors, _channels(slack, token, tenant, team_id))
        if "usergroups:read" in installation.bot_scopes:
            groups = await _pick(
                "user groups", picker_errors, slack.list_usergroups(token, team_id=team_id)
            )
        admins = await _pick("admins", picker_errors, slack.list_admins(token, team_id=team_id))
    context = {
        "admin": admin,
        "tenant": tenant,
        "installation": installation,
        "labels": POLICY_LABELS,
        "channels": _with_unknown(channels, list(tenant.request_channel_ids), dm=True),
        "usergroups": _with_unknown(groups, list(tenant.request_usergroup_ids)),
        "can_read_usergroups": "usergroups:read" in installation.bot_scopes,
        "admins": _with_unknown(admins, list(tenant.failure_alert_user_ids)),
        "installer": installation.installer_slack_user_id,
        "installer_name": next(
            (a.name for a in admins if a.id == installation.installer_slack_user_id), None
        ),
        "picker_errors": picker_errors,
        "error": error,
        "saved": SAVED.get(request.query_params.get("saved", "")),
    }
    return page(request, "access.html", context, status=status)


async def show(request: Request) -> Response:
    guarded = await _guard(request)
    if isinstance(guarded, Response):
        return guarded
    return await _render(request, *guarded)


async def _form(
    request: Request,
) -> tuple[AdminSession, Tenant, SlackInstallation, Any] | Response:
    guarded = await _guard(request)
    if isinstance(guarded, Response):
        return guarded
    admin, tenant, installation = guarded
    form = await request.form()
    if not csrf_ok(request, admin, form.get("csrf")):
        return refusal(
            request,
            "This form has expired",
            "The form did not carry a valid security token, so nothing was saved. "
            "Reload the page and try again.",
        )
    return admin, tenant, installation, form


def _strings(form: Any, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


async def save_access(request: Request) -> Response:
    found = await _form(request)
    if isinstance(found, Response):
        return found
    admin, tenant, installation, form = found
    policy = form.get("policy")
    try:
        choice = access.validate(
            policy if isinstance(policy, str) else "",
            _strings(form, "channel"),
            _strings(form, "usergroup"),
            bot_scopes=list(installation.bot_scopes),
        )
    except access.InvalidAccess as exc:
        return await _render(request, admin, tenant, installation, error=str(exc), status=400)
    await access.set_access(
        state_of(request).sessions,
        tenant_id=admin.tenant_id,
        actor_slack_user_id=admin.slack_user_id,
        choice=choice,
    )
    return RedirectResponse("/settings/access?saved=access#who", status_code=303)


async def save_alert(request: Request) -> Response:
    found = await _form(request)
    if isinstance(found, Response):
        return found
    admin, tenant, installation, form = found
    try:
        await access.set_failure_alert(
            state_of(request).sessions,
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            enabled=form.get("failure_alert") == "on",
            user_ids=_strings(form, "recipient"),
        )
    except access.InvalidAccess as exc:
        return await _render(request, admin, tenant, installation, error=str(exc), status=400)
    return RedirectResponse("/settings/access?saved=alert#alert", status_code=303)
