"""The routing rules page: which channel, Slack Connect organisation or DMs go to which Open
Messaging integration, with which routing hints and business hours, and the away message.

Plain HTML forms, each checked for the session and its CSRF token first, like the settings
page; bad input is shown again with a sentence next to its field and answered 400.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.bridge.routing_setup import MATCH_LABELS, Choices
from app.db.models import TenantStatus
from app.tenants import store
from app.tenants.integrations import FieldErrors
from app.web.auth import csrf_ok, current_admin, refusal
from app.web.session import AdminSession
from app.web.views import page, state_of

PATH = "/settings/routing"
SAVED = {
    "rule": "Rule saved. It applies to every message not yet sent to Genesys.",
    "deleted": "Rule deleted.",
    "away": "Away message saved.",
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


async def _admin(request: Request) -> AdminSession | Response:
    admin = current_admin(request)
    if admin is None:
        return page(request, "signin.html", status=401)
    async with state_of(request).sessions() as session:
        tenant = await store.get_tenant(session, tenant_id=admin.tenant_id)
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        return refusal(
            request,
            "This workspace is no longer installed",
            "Add Switchboard to Slack again to continue.",
            status=404,
            offer_install=True,
        )
    return admin


async def _posted(request: Request) -> tuple[AdminSession, Any] | Response:
    admin = await _admin(request)
    if isinstance(admin, Response):
        return admin
    form = await request.form()
    if not csrf_ok(request, admin, form.get("csrf")):
        return refusal(
            request,
            "This form has expired",
            "The form did not carry a valid security token, so nothing was saved. "
            "Reload the routing rules page and try again.",
        )
    return admin, form


async def _render(
    request: Request,
    admin: AdminSession,
    *,
    choices: Choices | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    saved: str | None = None,
    status: int = 200,
) -> Response:
    routing = state_of(request).routing
    if choices is None:
        refresh = request.query_params.get("refresh") == "1"
        choices = await routing.choices(admin.tenant_id, refresh=refresh)
    rules, away = await routing.overview(admin.tenant_id, choices.integrations)
    context = {
        "admin": admin,
        "choices": choices,
        "rules": rules,
        "away_message": away,
        "errors": errors or {},
        "form": form or {},
        "saved": saved,
        "days": DAYS,
        "match_labels": MATCH_LABELS,
    }
    return page(request, "routing.html", context, status=status)


async def show(request: Request) -> Response:
    admin = await _admin(request)
    if isinstance(admin, Response):
        return admin
    editing = request.query_params.get("edit")
    form = None
    if editing:
        form = await state_of(request).routing.rule_form(admin.tenant_id, editing)
        if form is None:
            return refusal(
                request,
                "No such rule",
                "This workspace has no such routing rule: it may have been deleted. "
                "Reload the routing rules page to see the current list.",
                status=404,
            )
    saved = SAVED.get(request.query_params.get("saved", ""))
    return await _render(request, admin, form=form, saved=saved)


async def save_rule(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    admin, form = posted
    routing = state_of(request).routing
    choices = await routing.choices(admin.tenant_id)
    days = form.getlist("days")
    try:
        await routing.save_rule(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            form=form,
            days=days,
            choices=choices,
        )
    except FieldErrors as exc:
        entered: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf"}
        entered["days"] = [str(d) for d in days]
        return await _render(
            request, admin, choices=choices, errors=exc.errors, form=entered, status=400
        )
    return RedirectResponse(f"{PATH}?saved=rule#rules", status_code=303)


async def delete_rule(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    admin, _ = posted
    try:
        rule_id = uuid.UUID(request.path_params["rule_id"])
    except ValueError:
        rule_id = None
    deleted = rule_id is not None and await state_of(request).routing.delete_rule(
        tenant_id=admin.tenant_id, actor_slack_user_id=admin.slack_user_id, rule_id=rule_id
    )
    if not deleted:
        return refusal(
            request,
            "No such rule",
            "This workspace has no such routing rule: it may have been deleted already. "
            "Reload the routing rules page to see the current list.",
            status=404,
        )
    return RedirectResponse(f"{PATH}?saved=deleted#rules", status_code=303)


async def save_away(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    admin, form = posted
    try:
        await state_of(request).routing.save_away_message(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            text=form.get("away_message"),
        )
    except FieldErrors as exc:
        entered = {"away_message": str(form.get("away_message", ""))}
        return await _render(request, admin, errors=exc.errors, form=entered, status=400)
    return RedirectResponse(f"{PATH}?saved=away#away", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route(PATH, show, methods=["GET"]),
        Route(f"{PATH}/rules", save_rule, methods=["POST"]),
        Route(f"{PATH}/rules/{{rule_id}}/delete", delete_rule, methods=["POST"]),
        Route(f"{PATH}/away", save_away, methods=["POST"]),
    ]
