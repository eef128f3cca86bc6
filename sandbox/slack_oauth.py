"""Installing the app: the consent pages and `oauth.v2.access`, as Slack's OAuth v2 runs them.

The consent page answers both `/oauth/v2/authorize` (install) and `/openid/connect/authorize`
(Sign in with Slack). A person picks a workspace (or, for installs, a whole Grid org) and who
they are; Allow redirects with `code` and `state`, Cancel with `error=access_denied`. Automation
may skip the page with `sandbox_auto=allow|deny`. Codes are single-use and bound to the
`redirect_uri` they were issued for. A request for a scope the app's manifest does not declare
is refused before any page is shown (`world.undeclared_scope_response` says how).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.slack_api import (
    ApiError,
    JsonObject,
    Method,
    MethodCall,
    basic_credentials,
    sit_out,
)
from sandbox.slack_manifest import DeclaredScopes
from sandbox.slack_records import (
    GrantFlow,
    SlackGrant,
    SlackInstallation,
    SlackMessage,
    SlackToken,
)
from sandbox.slack_templates import TEMPLATES
from sandbox.slack_world import (
    SANDBOX_APP_ID,
    SANDBOX_APP_NAME,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SlackWorld,
)

_FAULT_ROUTES: dict[GrantFlow, str] = {
    "oauth": "oauth.authorize",
    "openid": "openid.connect.authorize",
}
_CARRIED = ("client_id", "scope", "user_scope", "state", "redirect_uri", "nonce", "response_type")


@dataclass
class ConsentRequest:
    flow: GrantFlow
    params: dict[str, str]
    scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]

    @property
    def redirect_uri(self) -> str:
        return self.params["redirect_uri"]

    @property
    def state(self) -> str | None:
        return self.params.get("state") or None

    def undeclared(self, declared: DeclaredScopes) -> list[str]:
        """Requested scopes the app's configuration does not declare, which Slack refuses."""
        return sorted(set(self.scopes) - declared.bot) + sorted(
            set(self.user_scopes) - declared.user
        )


def _split_scopes(value: str | None) -> tuple[str, ...]:
    return tuple(s for s in (value or "").replace(" ", ",").split(",") if s)


def parse_consent(flow: GrantFlow, params: dict[str, str]) -> ConsentRequest | str:
    """The request, or the message Slack's error page would show instead of a consent page."""
    if params.get("client_id") != SANDBOX_CLIENT_ID:
        return "Invalid client_id parameter"
    redirect_uri = params.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return "redirect_uri did not match any configured URIs"
    scopes = _split_scopes(params.get("scope"))
    user_scopes = _split_scopes(params.get("user_scope"))
    if flow == "openid":
        if params.get("response_type") != "code" or "openid" not in scopes:
            return "Sign in with Slack needs response_type=code and the openid scope"
        return ConsentRequest(flow, params, (), scopes)
    if not scopes and not user_scopes:
        return "Invalid permissions requested: no scopes"
    return ConsentRequest(flow, params, scopes, user_scopes)


def redirect_to(uri: str, **params: str | None) -> RedirectResponse:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query) + [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def _choose(
    world: SlackWorld, consent: ConsentRequest, target: str | None, slack_user_id: str | None
) -> tuple[str | None, str | None, str] | str:
    """(team, enterprise, user) for the grant, or why the choice is not allowed."""
    user = world.users.get(slack_user_id or "")
    if target in world.enterprises and consent.flow == "oauth":
        if user is None or world.teams[user.slack_team_id].slack_enterprise_id != target:
            return "Pick someone from that organization"
        if not (user.is_admin or user.is_owner):
            return "Only org admins and owners can install an app across the org"
        return None, target, user.slack_user_id
    team = world.teams.get(target or "")
    if team is None:
        return "Pick a workspace"
    if user is None or user.slack_team_id != team.slack_team_id or user.is_bot:
        return f"Pick someone who belongs to {team.name}"
    return team.slack_team_id, team.slack_enterprise_id, user.slack_user_id


def _default_choice(world: SlackWorld, target: str | None, user: str | None) -> tuple[str, str]:
    """For `sandbox_auto`: the first workspace, and its first admin, unless named."""
    target = target or next(iter(world.teams))
    if user:
        return target, user
    team_id = world.org_home_team(target) if target in world.enterprises else target
    people = [u for u in world.team_users(team_id) if not u.is_bot]
    admins = [u for u in people if u.is_admin or u.is_owner]
    chosen = (admins or people)[0].slack_user_id if people else ""
    return target, chosen


def _render(
    request: Request,
    world: SlackWorld,
    consent: ConsentRequest,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    targets = [(t.slack_team_id, t.name) for t in world.teams.values()]
    if consent.flow == "oauth":
        targets += [
            (e.slack_enterprise_id, f"{e.name} (entire organization)")
            for e in world.enterprises.values()
        ]
    people = [
        (team.name, [(u.slack_user_id, u.real_name) for u in world.team_users(t) if not u.is_bot])
        for t, team in world.teams.items()
    ]
    context: dict[str, Any] = {
        "flow": consent.flow,
        "app_name": SANDBOX_APP_NAME,
        "action": request.url.path,
        "carried": {k: v for k, v in consent.params.items() if k in _CARRIED},
        "targets": targets,
        "people": people,
        "selected_team": consent.params.get("team", ""),
        "selected_user": consent.params.get("user", ""),
        "scopes": consent.scopes,
        "user_scopes": consent.user_scopes,
        "error": error,
    }
    return TEMPLATES.TemplateResponse(request, "slack_consent.html", context, status_code=status)


def error_page(request: Request, message: str, status: int = 400) -> Response:
    return TEMPLATES.TemplateResponse(
        request, "slack_error.html", {"message": message}, status_code=status
    )


def consent_routes(world: SlackWorld) -> list[Route]:
    def endpoint_for(flow: GrantFlow) -> Any:
        async def endpoint(request: Request) -> Response:
            params = dict(request.query_params)
            if request.method == "POST":
                async with request.form() as form:
                    params.update({k: v for k, v in form.items() if isinstance(v, str)})
            outcome = world.faults.take(_FAULT_ROUTES[flow])
            if not await sit_out(request, outcome):
                return Response(status_code=499)
            if outcome.status is not None:
                return error_page(request, "Slack is having trouble right now", outcome.status)
            consent = parse_consent(flow, params)
            if isinstance(consent, str):
                return error_page(request, consent)
            if consent.undeclared(world.declared):
                if world.undeclared_scope_response == "page":
                    return error_page(request, "Invalid permissions requested")
                return redirect_to(consent.redirect_uri, error="invalid_scope", state=consent.state)
            decision = params.get("decision") or params.get("sandbox_auto")
            if decision is None:
                return _render(request, world, consent)
            if decision != "allow":
                return redirect_to(consent.redirect_uri, error="access_denied", state=consent.state)
            target, user = params.get("team"), params.get("user")
            if params.get("sandbox_auto"):
                target, user = _default_choice(world, target, user)
            choice = _choose(world, consent, target, user)
            if isinstance(choice, str):
                return _render(request, world, consent, error=choice, status=400)
            slack_team_id, slack_enterprise_id, slack_user_id = choice
            grant = world.issue_grant(
                flow=flow,
                slack_user_id=slack_user_id,
                slack_team_id=slack_team_id,
                slack_enterprise_id=slack_enterprise_id,
                scopes=consent.scopes,
                user_scopes=consent.user_scopes,
                redirect_uri=consent.redirect_uri,
                nonce=params.get("nonce"),
            )
            return redirect_to(consent.redirect_uri, code=grant.code, state=consent.state)

        return endpoint

    return [
        Route("/oauth/v2/authorize", endpoint_for("oauth"), methods=["GET", "POST"]),
        Route("/openid/connect/authorize", endpoint_for("openid"), methods=["GET", "POST"]),
        Route("/services/{hook:path}", _webhook_endpoint(world), methods=["POST"]),
    ]


def check_client(call: MethodCall) -> None:
    """Client credentials may come as HTTP Basic (slack_sdk, authlib) or as form fields."""
    client_id, client_secret = basic_credentials(call.request) or (
        call.arg("client_id"),
        call.arg("client_secret"),
    )
    if client_id != SANDBOX_CLIENT_ID:
        raise ApiError("invalid_client_id")
    if client_secret != SANDBOX_CLIENT_SECRET:
        raise ApiError("bad_client_secret")


def refreshed_token(call: MethodCall) -> SlackToken:
    """Each refresh token works once: the world revokes it as it issues the new token."""
    token = call.world.rotate(call.arg("refresh_token") or "")
    if token is None:
        raise ApiError("invalid_refresh_token")
    return token


def redeemed_grant(call: MethodCall, flow: GrantFlow) -> SlackGrant:
    """Spends a code, which is single-use and bound to its `redirect_uri`.

    A rejected attempt leaves the code usable, as Slack does. A redeemed one tells the call
    which workspace it acts for, so the recorded call carries the team.
    """
    grant = call.world.usable_grant(call.arg("code") or "", flow)
    if grant is None:
        raise ApiError("invalid_code")
    if call.arg("redirect_uri") != grant.redirect_uri:
        raise ApiError("bad_redirect_uri")
    grant.used = True
    call.slack_team_id, call.slack_enterprise_id = grant.slack_team_id, grant.slack_enterprise_id
    return grant


def _rotation_fields(token: SlackToken, world: SlackWorld) -> JsonObject:
    if token.refresh_token is None or token.expires_at is None:
        return {}
    return {"refresh_token": token.refresh_token, "expires_in": int(world.token_lifetime_seconds)}


def _team_fields(world: SlackWorld, token: SlackToken) -> JsonObject:
    team = world.teams.get(token.slack_team_id or "")
    enterprise = world.enterprises.get(token.slack_enterprise_id or "")
    return {
        "team": {"id": team.slack_team_id, "name": team.name} if team else None,
        "enterprise": (
            {"id": enterprise.slack_enterprise_id, "name": enterprise.name} if enterprise else None
        ),
        "is_enterprise_install": token.is_enterprise_install,
    }


def installation_response(
    world: SlackWorld, installation: SlackInstallation, base_url: str
) -> JsonObject:
    authed_user: JsonObject = {"id": installation.installer_user_id}
    if installation.user_token is not None:
        user_token = installation.user_token
        authed_user.update(
            scope=",".join(sorted(user_token.scopes)),
            access_token=user_token.value,
            token_type="user",
            **_rotation_fields(user_token, world),
        )
    body: JsonObject = {"app_id": SANDBOX_APP_ID, "authed_user": authed_user}
    bot = installation.bot_token
    if bot is not None:
        body.update(
            scope=",".join(sorted(bot.scopes)),
            token_type="bot",
            access_token=bot.value,
            bot_user_id=installation.bot_user_id,
            **_rotation_fields(bot, world),
        )
    any_token = bot or installation.user_token
    assert any_token is not None
    body.update(_team_fields(world, any_token))
    if installation.incoming_webhook_channel_id:
        hook = f"{installation.slack_team_id}/{installation.slack_bot_id}/{secrets.token_hex(12)}"
        world.webhooks[hook] = installation.incoming_webhook_channel_id
        channel = world.channels[installation.incoming_webhook_channel_id]
        body["incoming_webhook"] = {
            "channel": f"#{channel.name}",
            "channel_id": channel.slack_channel_id,
            "configuration_url": f"{base_url}/services/B{installation.slack_bot_id[1:]}",
            "url": f"{base_url}/services/{hook}",
        }
    return body


def oauth_v2_access(call: MethodCall) -> JsonObject:
    world = call.world
    check_client(call)
    if call.arg("grant_type") == "refresh_token":
        token = refreshed_token(call)
        call.slack_team_id, call.slack_enterprise_id = (
            token.slack_team_id,
            token.slack_enterprise_id,
        )
        return {
            "app_id": SANDBOX_APP_ID,
            "scope": ",".join(sorted(token.scopes)),
            "token_type": token.kind,
            "access_token": token.value,
            "bot_user_id" if token.kind == "bot" else "user_id": token.slack_user_id,
            **_rotation_fields(token, world),
            **_team_fields(world, token),
        }
    grant = redeemed_grant(call, "oauth")
    installation = world.install(grant)
    return installation_response(world, installation, call.base_url)


METHODS: dict[str, Method] = {
    "oauth.v2.access": Method(oauth_v2_access, needs_token=False),
}


def _webhook_endpoint(world: SlackWorld) -> Any:
    async def endpoint(request: Request) -> Response:
        slack_channel_id = world.webhooks.get(request.path_params["hook"])
        if slack_channel_id is None:
            return PlainTextResponse("no_service", status_code=404)
        payload = await request.json()
        channel = world.channels[slack_channel_id]
        bot = world.app_bot_user(channel.slack_team_id)
        world.add_message(
            SlackMessage(
                ts=world.new_ts(),
                slack_channel_id=slack_channel_id,
                slack_team_id=channel.slack_team_id,
                text=str(payload.get("text", "")),
                user=bot.slack_user_id,
                bot_id=bot.slack_bot_id,
                blocks=payload.get("blocks"),
            )
        )
        return PlainTextResponse("ok")

    return endpoint
