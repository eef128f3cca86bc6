"""The settings page: connect the Genesys org, choose integrations, test the connection.

Plain HTML forms that work without JavaScript. Each POST checks the session and its CSRF
token first, then hands the input to `tenants.onboarding`, which validates it live against
Genesys before saving. On an error the page is shown again with the message next to its
field and the entries kept, except secrets, which are never echoed back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.bridge import dead_letters
from app.bridge.health import get_health
from app.db.models import SlackInstallation, TenantStatus
from app.genesys.regions import REGIONS
from app.slack.errors import SlackAuthError, SlackError
from app.tenants import offboarding, store
from app.tenants.connection_check import Check
from app.tenants.integrations import FieldErrors, WiredIntegration
from app.tenants.purposes import SLACK_BOT_TOKEN
from app.tenants.setup_steps import setup_state
from app.tenants.webhook_secrets import (
    PREVIOUS_SECRET_GRACE,
    IntegrationNotFound,
    RotationFailed,
    RotationUnfinished,
)
from app.web.auth import csrf_ok, current_admin, refusal
from app.web.session import COOKIE_NAME, AdminSession
from app.web.views import page, state_of

# Rows of the changes table per page.
AUDIT_PAGE_SIZE = 20

# What each audit action means, in the words of the page; an unknown action shows as stored.
ACTION_LABELS = {
    "slack.installed": "Installed Switchboard",
    "slack.reinstalled": "Reinstalled Switchboard",
    "slack.token_rotated": "Slack rotated the app's token",
    "genesys.credentials_changed": "Saved Genesys Cloud credentials",
    "genesys.integrations_changed": "Chose Open Messaging integrations",
    "genesys.webhook_secret_rotated": "Rotated a webhook secret",
    "genesys.integration_retired": "Retired a previous integration",
    "genesys.disconnected": "Disconnected Genesys Cloud",
    "slack.removed_by_admin": "Removed Switchboard from Slack",
    "tenant.behaviour_changed": "Changed behaviour",
    "deadletter.replayed": "Replayed a failed message",
    "deadletter.discarded": "Discarded a failed message",
    "routing.rule_saved": "Saved a routing rule",
    "routing.rule_deleted": "Deleted a routing rule",
    "routing.away_message_saved": "Saved the away message",
}

SAVED_MESSAGES = {
    "credentials": "Genesys Cloud credentials verified and saved.",
    "integrations": "Integrations saved and wired to Switchboard.",
    "behaviour": "Behaviour saved.",
    "rotated": "Webhook secret rotated and set on the integration. The old secret keeps "
    "working until Genesys signs with the new one.",
    "retired": "Previous integration retired: Switchboard now refuses its webhooks.",
    "replayed": "Dead letter queued again: it is delivered in its conversation's order.",
    "discarded": "Dead letter discarded.",
    "disconnected": "Genesys Cloud disconnected: its credentials and webhook secrets are "
    "deleted. Messages people send now wait until you connect an org again.",
}


def age(delta: timedelta) -> str:
    """How long something has waited, to the minute (seconds under a minute)."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if hours >= 24:
        return f"{hours // 24} d {hours % 24} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _audit_page(request: Request) -> int | None:
    """`?changes=N`, 1 the newest; None when it is not a page number at all."""
    raw = request.query_params.get("changes", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        return None
    return int(raw)


async def _names(
    request: Request, installation: SlackInstallation, user_ids: set[str]
) -> dict[str, str]:
    """Slack display names for the people the page mentions, from the sender's cache; an ID
    stays an ID when Slack cannot say (a deleted user, a revoked token)."""
    state = state_of(request)
    if installation.bot_token_enc is None or not user_ids:
        return {}
    token = state.box.decrypt(
        installation.bot_token_enc, tenant_id=installation.tenant_id, purpose=SLACK_BOT_TOKEN
    )
    scope = installation.slack_team_id or installation.slack_enterprise_id or ""
    names: dict[str, str] = {}
    for user_id in sorted(user_ids):
        profile = await state.slack.profile(
            token, team_id=installation.slack_team_id, scope=scope, slack_user_id=user_id
        )
        if profile is None:
            continue
        full = " ".join(part for part in (profile.first_name, profile.last_name) if part)
        if full or profile.nickname:
            names[user_id] = full or str(profile.nickname)
    return names


async def _context(request: Request, admin: AdminSession) -> dict[str, Any] | None:
    state = state_of(request)
    audit_page = _audit_page(request) or 1
    async with state.sessions() as session:
        tenant = await store.get_tenant(session, tenant_id=admin.tenant_id)
        installation = await store.get_installation(session, tenant_id=admin.tenant_id)
        connection = await store.get_connection(session, tenant_id=admin.tenant_id)
        chosen = list(await store.list_tenant_integrations(session, tenant_id=admin.tenant_id))
        previous = list(await store.list_previous_integrations(session, tenant_id=admin.tenant_id))
        audit = list(
            await store.list_audit(
                session,
                tenant_id=admin.tenant_id,
                limit=AUDIT_PAGE_SIZE + 1,
                offset=(audit_page - 1) * AUDIT_PAGE_SIZE,
            )
        )
        health = await get_health(session, tenant_id=admin.tenant_id)
        dead = await dead_letters.list_for_tenant(session, tenant_id=admin.tenant_id)
    if tenant is None or installation is None or tenant.status != TenantStatus.ACTIVE:
        return None
    now = datetime.now(UTC)
    actors = {e.actor_slack_user_id for e in audit if e.actor_slack_user_id}
    names = await _names(request, installation, actors | {admin.slack_user_id})
    return {
        "tenant": tenant,
        "installation": installation,
        "connection": connection,
        "chosen": chosen,
        "previous": previous,
        "now": now,
        "health": health,
        "oldest_waiting_age": (
            age(now - health.oldest_waiting_since) if health.oldest_waiting_since else None
        ),
        "dead_letters": dead,
        "grace_hours": int(PREVIOUS_SECRET_GRACE.total_seconds() // 3600),
        "mentions_id": next((i.genesys_integration_id for i in chosen if i.for_mentions), ""),
        "dms_id": next((i.genesys_integration_id for i in chosen if i.for_dms), ""),
        "audit": audit[:AUDIT_PAGE_SIZE],
        "audit_page": audit_page,
        "audit_older": len(audit) > AUDIT_PAGE_SIZE,
        "action_labels": ACTION_LABELS,
        "names": names,
        "setup": setup_state(connection=connection, chosen=chosen, dead_letters=health.dead),
        "admin": admin,
        "regions": REGIONS,
        "webhook_url": state.onboarding.webhook_url,
        "errors": {},
        "form": {},
        "choices": None,
        "checks": None,
        "wired": None,
        "saved": None,
    }


async def _guard(request: Request) -> tuple[AdminSession, dict[str, Any]] | Response:
    admin = current_admin(request)
    if admin is None:
        return page(request, "signin.html", status=401)
    if _audit_page(request) is None:
        return refusal(
            request,
            "No such page of changes",
            "The changes table is paged from 1, the newest. Go back to the settings page.",
            status=400,
        )
    context = await _context(request, admin)
    if context is None:
        return refusal(
            request,
            "This workspace is no longer installed",
            "Add Switchboard to Slack again to continue.",
            status=404,
            offer_install=True,
        )
    return admin, context


async def _guard_post(request: Request) -> tuple[AdminSession, dict[str, Any], Any] | Response:
    guarded = await _guard(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context = guarded
    form = await request.form()
    if not csrf_ok(request, admin, form.get("csrf")):
        return refusal(
            request,
            "This form has expired",
            "The form did not carry a valid security token, so nothing was saved. "
            "Reload the settings page and try again.",
        )
    return admin, context, form


async def _with_choices(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    if context["connection"] is not None:
        tenant_id = context["tenant"].id
        context["choices"] = await state_of(request).onboarding.available_integrations(tenant_id)
    return context


async def show(request: Request) -> Response:
    guarded = await _guard(request)
    if isinstance(guarded, Response):
        return guarded
    _, context = guarded
    context["saved"] = SAVED_MESSAGES.get(request.query_params.get("saved", ""))
    return page(request, "onboarding.html", await _with_choices(request, context))


async def save_credentials(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context, form = guarded
    entered = {
        "region": str(form.get("region", "")),
        "client_id": str(form.get("client_id", "")),
    }
    try:
        await state_of(request).onboarding.connect(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            region=entered["region"],
            client_id=entered["client_id"],
            client_secret=str(form.get("client_secret", "")),
        )
    except FieldErrors as exc:
        context.update(errors=exc.errors, form=entered)
        return page(request, "onboarding.html", await _with_choices(request, context), status=400)
    return RedirectResponse("/onboarding?saved=credentials#integrations", status_code=303)


async def save_integrations(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context, form = guarded
    entered = {
        "mentions_integration_id": str(
            form.get("mentions_integration_id_typed") or form.get("mentions_integration_id", "")
        ),
        "dms_integration_id": str(
            form.get("dms_integration_id_typed") or form.get("dms_integration_id", "")
        ),
    }
    try:
        wired: list[WiredIntegration] = await state_of(request).onboarding.choose_integrations(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            mentions_integration_id=entered["mentions_integration_id"],
            dms_integration_id=entered["dms_integration_id"],
            auto_wire=form.get("auto_wire") == "on",
        )
    except FieldErrors as exc:
        context.update(errors=exc.errors, form=entered)
        return page(request, "onboarding.html", await _with_choices(request, context), status=400)
    if all(w.patched for w in wired):
        return RedirectResponse("/onboarding?saved=integrations#test", status_code=303)
    # Manual wiring: the freshly generated secrets are shown this once, never again; a kept
    # secret is never shown.
    refreshed = await _context(request, admin)
    assert refreshed is not None
    refreshed["wired"] = wired
    return page(request, "onboarding.html", await _with_choices(request, refreshed))


async def run_test(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context, form = guarded
    checks: list[Check] = await state_of(request).onboarding.test_connection(
        tenant_id=admin.tenant_id, send_test_message=form.get("send_test_message") == "on"
    )
    context["checks"] = checks
    return page(request, "onboarding.html", await _with_choices(request, context))


async def save_behaviour(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, _, form = guarded
    await state_of(request).onboarding.set_behaviour(
        tenant_id=admin.tenant_id,
        actor_slack_user_id=admin.slack_user_id,
        ack_reaction=form.get("ack_reaction") == "on",
        forward_other_bots=form.get("forward_other_bots") == "on",
        agent_names=form.get("agent_names") == "on",
    )
    return RedirectResponse("/onboarding?saved=behaviour#behaviour", status_code=303)


def _no_such_integration(request: Request) -> Response:
    return refusal(
        request,
        "No such integration",
        "This workspace has no such integration (or it is still chosen for mentions or DMs, "
        "or a routing rule sends messages to it, so it cannot be retired). Reload the "
        "settings page and try again.",
        status=404,
    )


async def rotate_secret(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context, _ = guarded
    try:
        outcome = await state_of(request).onboarding.rotate_secret(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            genesys_integration_id=request.path_params["genesys_integration_id"],
        )
    except IntegrationNotFound:
        return _no_such_integration(request)
    except RotationUnfinished as exc:
        until = exc.previous_until.strftime("%Y-%m-%d %H:%M UTC")
        context["errors"] = {
            "rotate": "The last rotation is not finished: Genesys has not signed a webhook "
            f"with the new secret yet. Paste it into Genesys, or wait until {until}; "
            "rotating again now could lock out the secret Genesys is using."
        }
        return page(request, "onboarding.html", await _with_choices(request, context), status=409)
    except RotationFailed as exc:
        context["errors"] = {
            "rotate": f"The secret was not rotated: {exc.hint} The current secret still works."
        }
        return page(request, "onboarding.html", await _with_choices(request, context), status=502)
    if outcome.patched:
        return RedirectResponse("/onboarding?saved=rotated#integrations", status_code=303)
    refreshed = await _context(request, admin)
    assert refreshed is not None
    refreshed["wired"] = [outcome]
    return page(request, "onboarding.html", await _with_choices(request, refreshed))


async def retire_integration(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, _, _ = guarded
    try:
        await state_of(request).onboarding.retire_integration(
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
            genesys_integration_id=request.path_params["genesys_integration_id"],
        )
    except IntegrationNotFound:
        return _no_such_integration(request)
    return RedirectResponse("/onboarding?saved=retired#integrations", status_code=303)


def _no_such_dead_letter(request: Request) -> Response:
    return refusal(
        request,
        "No such dead letter",
        "This workspace has no such dead letter: it may have been replayed or discarded "
        "already. Reload the settings page to see the current list.",
        status=404,
    )


async def replay_dead_letter(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, _, _ = guarded
    async with state_of(request).sessions.begin() as session:
        replayed = await dead_letters.replay(
            session,
            message_ids=[request.path_params["message_id"]],
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
        )
    if not replayed.messages:
        return _no_such_dead_letter(request)
    return RedirectResponse("/onboarding?saved=replayed#failures", status_code=303)


async def discard_dead_letter(request: Request) -> Response:
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, _, _ = guarded
    async with state_of(request).sessions.begin() as session:
        removed = await dead_letters.discard(
            session,
            message_ids=[request.path_params["message_id"]],
            tenant_id=admin.tenant_id,
            actor_slack_user_id=admin.slack_user_id,
        )
    if not removed:
        return _no_such_dead_letter(request)
    return RedirectResponse("/onboarding?saved=discarded#failures", status_code=303)


async def disconnect_genesys(request: Request) -> Response:
    """Forget the Genesys org: credentials and webhook secrets are deleted, so Switchboard
    can no longer act in it and refuses its webhooks. Nothing people send is lost: it waits,
    as before set-up, and is delivered once an org is connected again."""
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, _, form = guarded
    if form.get("confirm") != "disconnect":
        return refusal(
            request,
            "Not disconnected",
            "Tick the box that confirms you want to disconnect Genesys Cloud, then try again.",
            status=400,
        )
    await state_of(request).onboarding.disconnect(
        tenant_id=admin.tenant_id, actor_slack_user_id=admin.slack_user_id
    )
    return RedirectResponse("/onboarding?saved=disconnected#genesys", status_code=303)


async def remove_app(request: Request) -> Response:
    """Remove Switchboard from the workspace: Slack uninstalls the app (revoking its tokens),
    then the tenant is purged here at once, as the `app_uninstalled` event would, so the
    admin sees the result now and the late events find nothing left. If Slack cannot be
    reached, nothing is purged: a half-removed install would keep posting with no settings."""
    guarded = await _guard_post(request)
    if isinstance(guarded, Response):
        return guarded
    admin, context, form = guarded
    if form.get("confirm") != "remove":
        return refusal(
            request,
            "Not removed",
            "Tick the box that confirms you want to remove Switchboard, then try again.",
            status=400,
        )
    state = state_of(request)
    installation: SlackInstallation = context["installation"]
    if installation.bot_token_enc is not None:
        token = state.box.decrypt(
            installation.bot_token_enc, tenant_id=admin.tenant_id, purpose=SLACK_BOT_TOKEN
        )
        try:
            await state.slack.uninstall_app(token, team_id=installation.slack_team_id)
        except SlackAuthError:
            pass  # already uninstalled or revoked in Slack: only our side is left to clean
        except SlackError as exc:
            return refusal(
                request,
                "Switchboard was not removed",
                f"Slack did not confirm the removal ({exc.error}). Nothing was changed; "
                "try again in a minute.",
                status=502,
            )
    async with state.sessions.begin() as session:
        await store.record_audit(
            session,
            tenant_id=admin.tenant_id,
            action="slack.removed_by_admin",
            actor_slack_user_id=admin.slack_user_id,
        )
        await offboarding.purge_tenant(session, tenant_id=admin.tenant_id, reason="removed")
    response = refusal(
        request,
        "Switchboard was removed",
        f"Switchboard is no longer installed in {context['tenant'].name}: its tokens are "
        "revoked and its settings, credentials and conversations here are deleted. Genesys "
        "Cloud keeps its own copies of past conversations.",
        status=200,
        offer_install=True,
    )
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="lax")
    return response
