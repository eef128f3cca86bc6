from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from sandbox.faults import FaultSpec
from sandbox.slack_manifest import DEFAULT_MANIFEST, DeclaredScopes, declared_scopes
from sandbox.slack_seed import ACME_TEAM_ID, INITECH_ENTERPRISE_ID
from sandbox.slack_world import (
    SANDBOX_APP_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SlackWorld,
    UndeclaredScopeResponse,
)
from tests.sandbox.simulators import client

# slack_sdk sends client credentials with aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("base"),
]

REDIRECT = "http://app.test/slack/oauth_redirect"
SCOPES = "app_mentions:read,chat:write,im:history,users:read"
# Every top-level field Slack's oauth.v2.access answer carries for a bot install.
OAUTH_FIELDS = {
    "ok",
    "app_id",
    "authed_user",
    "scope",
    "token_type",
    "access_token",
    "bot_user_id",
    "team",
    "enterprise",
    "is_enterprise_install",
}


@pytest.fixture
def slack(base: str) -> AsyncWebClient:
    return client(base, None)


def authorize_params(**extra: str) -> dict[str, str]:
    return {
        "client_id": SANDBOX_CLIENT_ID,
        "scope": SCOPES,
        "user_scope": "",
        "state": "st-123",
        "redirect_uri": REDIRECT,
        **extra,
    }


def query_of(response: httpx.Response) -> dict[str, list[str]]:
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


async def approve(http: httpx.AsyncClient, team: str, user: str, **extra: str) -> str:
    response = await http.post(
        "/oauth/v2/authorize",
        data={**authorize_params(**extra), "team": team, "user": user, "decision": "allow"},
    )
    assert response.status_code == 302
    query = query_of(response)
    assert query["state"] == ["st-123"]
    return query["code"][0]


async def exchange(slack: AsyncWebClient, code: str) -> AsyncSlackResponse:
    return await slack.oauth_v2_access(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        code=code,
        redirect_uri=REDIRECT,
    )


async def test_consent_page_has_stable_form_controls(
    world: SlackWorld, http: httpx.AsyncClient
) -> None:
    response = await http.get("/oauth/v2/authorize", params=authorize_params(team=ACME_TEAM_ID))
    page = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<select id="team" name="team">' in page
    assert '<select id="user" name="user">' in page
    assert 'name="decision" value="allow"' in page
    assert 'name="decision" value="cancel"' in page
    assert f'<option value="{ACME_TEAM_ID}" selected>' in page
    assert f'value="{INITECH_ENTERPRISE_ID}"' in page
    assert '<label for="team">' in page
    assert "<code>chat:write</code>" in page


async def test_allow_redirects_with_code_and_code_is_single_use(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    code = await approve(http, ACME_TEAM_ID, "U0ACME0002")
    access = await exchange(slack, code)
    with pytest.raises(SlackApiError) as reused:
        await exchange(slack, code)
    assert set(access.data) >= OAUTH_FIELDS
    assert access["app_id"] == SANDBOX_APP_ID
    assert access["token_type"] == "bot"
    assert access["access_token"].startswith("xoxb-")
    assert access["bot_user_id"] == "U0ACMEBOT1"
    assert access["team"] == {"id": ACME_TEAM_ID, "name": "Acme Corp"}
    assert access["enterprise"] is None
    assert access["is_enterprise_install"] is False
    assert access["authed_user"] == {"id": "U0ACME0002"}
    assert access["scope"].split(",") == sorted(SCOPES.split(","))
    assert "refresh_token" not in access.data
    assert reused.value.response["error"] == "invalid_code"
    bot = AsyncWebClient(token=access["access_token"], base_url=slack.base_url)
    assert (await bot.auth_test())["team_id"] == ACME_TEAM_ID


async def test_cancel_redirects_with_access_denied(
    world: SlackWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/oauth/v2/authorize", data={**authorize_params(), "decision": "cancel"}
    )
    assert response.status_code == 302
    assert query_of(response) == {"error": ["access_denied"], "state": ["st-123"]}


async def test_sandbox_auto_approves_and_denies_without_a_page(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    allowed = await http.get(
        "/oauth/v2/authorize",
        params=authorize_params(sandbox_auto="allow", team=ACME_TEAM_ID, user="U0ACME0003"),
    )
    denied = await http.get("/oauth/v2/authorize", params=authorize_params(sandbox_auto="deny"))
    access = await exchange(slack, query_of(allowed)["code"][0])
    assert access["authed_user"]["id"] == "U0ACME0003"
    assert query_of(denied)["error"] == ["access_denied"]


async def test_bad_client_id_gets_an_error_page(world: SlackWorld, http: httpx.AsyncClient) -> None:
    response = await http.get("/oauth/v2/authorize", params=authorize_params(client_id="nope"))
    assert response.status_code == 400
    assert "Invalid client_id" in response.text


async def test_wrong_person_for_workspace_rerenders_with_error(
    world: SlackWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/oauth/v2/authorize",
        data={
            **authorize_params(),
            "team": ACME_TEAM_ID,
            "user": "U0GLBX0001",
            "decision": "allow",
        },
    )
    assert response.status_code == 400
    assert 'id="consent-error"' in response.text
    assert world.grants == {}


async def test_access_errors(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    code = await approve(http, ACME_TEAM_ID, "U0ACME0001")

    async def error(**kwargs: str) -> str:
        params = {
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
            **kwargs,
        }
        with pytest.raises(SlackApiError) as info:
            await slack.oauth_v2_access(**params)
        return str(info.value.response["error"])

    assert await error(client_id="123.456") == "invalid_client_id"
    assert await error(client_secret="wrong") == "bad_client_secret"
    assert await error(redirect_uri="http://evil.test/cb") == "bad_redirect_uri"
    assert await error(code="123.nope") == "invalid_code"
    # Rejected attempts do not burn the code.
    assert (await exchange(slack, code))["ok"] is True


async def test_client_credentials_in_form_body(world: SlackWorld, http: httpx.AsyncClient) -> None:
    code = await approve(http, ACME_TEAM_ID, "U0ACME0001")
    response = await http.post(
        "/api/oauth.v2.access",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
        },
    )
    assert response.json()["ok"] is True
    recorded = world.calls[-1]
    assert recorded.slack_team_id == ACME_TEAM_ID
    assert "client_secret" not in recorded.params


async def test_org_wide_install(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    code = await approve(http, INITECH_ENTERPRISE_ID, "W0INIT0001")
    access = await exchange(slack, code)
    assert access["team"] is None
    assert access["enterprise"] == {"id": INITECH_ENTERPRISE_ID, "name": "Initech"}
    assert access["is_enterprise_install"] is True
    assert access["bot_user_id"] == "W0INITBOT1"
    refused = await http.post(
        "/oauth/v2/authorize",
        data={
            **authorize_params(),
            "team": INITECH_ENTERPRISE_ID,
            "user": "W0INIT0002",
            "decision": "allow",
        },
    )
    assert refused.status_code == 400
    assert "org admins" in refused.text


async def test_reinstall_issues_new_token_and_old_one_still_works(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    first = await exchange(slack, await approve(http, ACME_TEAM_ID, "U0ACME0001"))
    second = await exchange(slack, await approve(http, ACME_TEAM_ID, "U0ACME0001"))
    assert first["access_token"] != second["access_token"]
    for token in (first["access_token"], second["access_token"]):
        bot = AsyncWebClient(token=token, base_url=slack.base_url)
        assert (await bot.auth_test())["ok"] is True


async def test_user_scopes_give_a_user_token(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    world.declared = replace(world.declared, user=world.declared.user | {"users:read"})
    code = await approve(http, ACME_TEAM_ID, "U0ACME0002", user_scope="users:read")
    authed_user = (await exchange(slack, code))["authed_user"]
    assert authed_user["id"] == "U0ACME0002"
    assert authed_user["scope"] == "users:read"
    assert authed_user["token_type"] == "user"
    assert authed_user["access_token"].startswith("xoxp-")
    user_client = AsyncWebClient(token=authed_user["access_token"], base_url=slack.base_url)
    me = await user_client.auth_test()
    assert me["user_id"] == "U0ACME0002"
    assert "bot_id" not in me.data


async def test_token_rotation_refresh_and_expiry(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    world.token_rotation = True
    access = await exchange(slack, await approve(http, ACME_TEAM_ID, "U0ACME0001"))
    assert access["access_token"].startswith("xoxe.xoxb-")
    assert access["expires_in"] == 43200
    refreshed = await slack.oauth_v2_access(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        grant_type="refresh_token",
        refresh_token=access["refresh_token"],
    )
    assert refreshed["token_type"] == "bot"
    assert refreshed["access_token"] != access["access_token"]
    assert refreshed["refresh_token"] != access["refresh_token"]
    assert refreshed["team"]["id"] == ACME_TEAM_ID
    with pytest.raises(SlackApiError) as reused:
        await slack.oauth_v2_access(
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            grant_type="refresh_token",
            refresh_token=access["refresh_token"],
        )
    assert reused.value.response["error"] == "invalid_refresh_token"
    world.tokens[access["access_token"]].expires_at = time.time() - 1
    with pytest.raises(SlackApiError) as expired:
        await AsyncWebClient(token=access["access_token"], base_url=slack.base_url).auth_test()
    assert expired.value.response["error"] == "token_expired"
    fresh = AsyncWebClient(token=refreshed["access_token"], base_url=slack.base_url)
    assert (await fresh.auth_test())["ok"] is True


async def test_incoming_webhook_scope_returns_a_working_webhook(
    world: SlackWorld, http: httpx.AsyncClient, slack: AsyncWebClient
) -> None:
    world.declared = replace(world.declared, bot=world.declared.bot | {"incoming-webhook"})
    code = await approve(http, ACME_TEAM_ID, "U0ACME0001", scope="chat:write,incoming-webhook")
    hook = (await exchange(slack, code))["incoming_webhook"]
    posted = await http.post(hook["url"], json={"text": "from the webhook"})
    assert hook["channel"] == "#general"
    assert posted.text == "ok"
    assert [m.text for m in world.bot_messages(hook["channel_id"])] == ["from the webhook"]


async def test_fault_on_consent_page(world: SlackWorld, http: httpx.AsyncClient) -> None:
    world.faults.arm(FaultSpec(route="oauth.authorize", kind="status", status=503, times=1))
    failed = await http.get("/oauth/v2/authorize", params=authorize_params())
    recovered = await http.get("/oauth/v2/authorize", params=authorize_params())
    assert failed.status_code == 503
    assert recovered.status_code == 200


def test_declared_scopes_are_read_from_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text(
        "oauth_config:\n  scopes:\n    bot:\n      - chat:write\n    user:\n      - openid\n"
    )
    assert declared_scopes(manifest) == DeclaredScopes(
        bot=frozenset({"chat:write"}), user=frozenset({"openid"})
    )
    assert SlackWorld.seeded(manifest=manifest).declared.bot == {"chat:write"}
    manifest.write_text("display_information:\n  name: x\n")
    with pytest.raises(ValueError, match=r"no oauth_config\.scopes"):
        declared_scopes(manifest)


def test_the_default_world_declares_what_infra_slack_manifest_declares(world: SlackWorld) -> None:
    assert world.manifest == DEFAULT_MANIFEST
    assert world.declared == declared_scopes(DEFAULT_MANIFEST)
    assert "app_mentions:read" in world.declared.bot


@pytest.mark.parametrize(
    ("extra", "kind", "undeclared"),
    [
        pytest.param(
            {"scope": SCOPES + ",usergroups:write"},
            "bot",
            "usergroups:write",
            id="bot-scope",
        ),
        pytest.param({"user_scope": "users:read"}, "user", "users:read", id="user-scope"),
    ],
)
async def test_a_scope_the_manifest_does_not_declare_is_refused(
    world: SlackWorld, http: httpx.AsyncClient, extra: dict[str, str], kind: str, undeclared: str
) -> None:
    assert undeclared not in getattr(world.declared, kind)
    params = {**authorize_params(**extra), "sandbox_auto": "allow"}
    refused = await http.get("/oauth/v2/authorize", params=params)
    assert refused.status_code == 302
    assert query_of(refused) == {"error": ["invalid_scope"], "state": ["st-123"]}
    assert world.grants == {}

    world.undeclared_scope_response = "page"
    page = await http.get("/oauth/v2/authorize", params=params)
    assert page.status_code == 400
    assert "Invalid permissions requested" in page.text
    assert world.grants == {}


async def test_declared_scopes_still_install(world: SlackWorld, http: httpx.AsyncClient) -> None:
    modes: tuple[UndeclaredScopeResponse, ...] = ("redirect", "page")
    for mode in modes:
        world.undeclared_scope_response = mode
        assert await approve(http, ACME_TEAM_ID, "U0ACME0001")
