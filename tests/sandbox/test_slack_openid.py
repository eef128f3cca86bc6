from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.runner import ServerThread
from sandbox.slack_manifest import DeclaredScopes
from sandbox.slack_seed import ACME_TEAM_ID
from sandbox.slack_world import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SlackWorld,
    UndeclaredScopeResponse,
)
from tests.sandbox.simulators import client

with warnings.catch_warnings():
    # authlib warns at import that it would rather use httpx2; the warning is not ours to fix.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

REDIRECT = "http://rp.test/callback"
CLAIMS = {
    "sub",
    "https://slack.com/user_id",
    "https://slack.com/team_id",
    "email",
    "name",
    "given_name",
    "family_name",
    "picture",
    "https://slack.com/team_name",
}


async def sign_in(http: httpx.AsyncClient, *, nonce: str, user: str = "U0ACME0002") -> Any:
    authorized = await http.get(
        "/openid/connect/authorize",
        params={
            "response_type": "code",
            "scope": "openid email profile",
            "client_id": SANDBOX_CLIENT_ID,
            "state": "s1",
            "nonce": nonce,
            "redirect_uri": REDIRECT,
            "sandbox_auto": "allow",
            "team": ACME_TEAM_ID,
            "user": user,
        },
    )
    code = parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]
    token = await http.post(
        "/api/openid.connect.token",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
            "grant_type": "authorization_code",
        },
    )
    return token.json()


async def test_discovery_document_points_at_the_simulator(http: httpx.AsyncClient) -> None:
    base = str(http.base_url).rstrip("/")
    config = (await http.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == base
    assert config["authorization_endpoint"] == f"{base}/openid/connect/authorize"
    assert config["token_endpoint"] == f"{base}/api/openid.connect.token"
    assert config["userinfo_endpoint"] == f"{base}/api/openid.connect.userInfo"
    assert config["jwks_uri"] == f"{base}/openid/connect/keys"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_id_token_verifies_against_jwks_and_carries_nonce(http: httpx.AsyncClient) -> None:
    token = await sign_in(http, nonce="n-42")
    keys = KeySet.import_key_set((await http.get("/openid/connect/keys")).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    claims = decoded.claims
    assert token["ok"] is True
    assert token["token_type"] == "Bearer"
    assert token["access_token"].startswith("xoxp-")
    assert decoded.header["alg"] == "RS256"
    assert claims["iss"] == str(http.base_url).rstrip("/")
    assert claims["aud"] == SANDBOX_CLIENT_ID
    assert claims["nonce"] == "n-42"
    assert claims["sub"] == "U0ACME0002"
    assert claims["email"] == "grace.hopper@acme.example"
    assert claims["https://slack.com/team_id"] == ACME_TEAM_ID
    assert set(claims) >= CLAIMS
    head, body, signature = token["id_token"].split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["RS256"])


async def test_userinfo_claims_and_code_single_use(base: str, http: httpx.AsyncClient) -> None:
    token = await sign_in(http, nonce="n-1", user="U0ACME0003")
    userinfo = await client(base, token["access_token"]).openid_connect_userInfo()
    assert set(userinfo.data) >= CLAIMS
    assert userinfo["https://slack.com/user_id"] == "U0ACME0003"
    assert userinfo["https://slack.com/team_name"] == "Acme Corp"
    assert userinfo["given_name"] == "Alan"
    assert userinfo["family_name"] == "Turing"
    reuse = await http.post(
        "/api/openid.connect.token",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "code": "already-used-or-unknown",
            "redirect_uri": REDIRECT,
        },
    )
    assert reuse.json() == {"ok": False, "error": "invalid_code"}


async def test_openid_requires_openid_scope(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/openid/connect/authorize",
        params={
            "response_type": "code",
            "scope": "email",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT,
        },
    )
    assert response.status_code == 400


def relying_party(sim_url: str) -> Starlette:
    """A minimal authlib + Starlette login, the way a relying party would wire it."""
    oauth = OAuth()  # type: ignore[no-untyped-call]
    oauth.register(  # type: ignore[no-untyped-call]
        "slack",
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        server_metadata_url=f"{sim_url}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile"},
    )

    async def login(request: Request) -> Response:
        callback = str(request.url_for("callback"))
        response: Response = await oauth.slack.authorize_redirect(
            request, callback, sandbox_auto="allow", team=ACME_TEAM_ID, user="U0ACME0001"
        )
        return response

    async def callback(request: Request) -> Response:
        token = await oauth.slack.authorize_access_token(request)
        return JSONResponse(dict(token["userinfo"]))

    return Starlette(
        routes=[Route("/login", login), Route("/callback", callback, name="callback")],
        middleware=[Middleware(SessionMiddleware, secret_key="rp-test-secret")],
    )


async def test_authlib_starlette_client_signs_in_against_the_simulator(
    world: SlackWorld, base: str
) -> None:
    with ServerThread(relying_party(base)) as rp:
        async with httpx.AsyncClient(follow_redirects=True) as browser:
            response = await browser.get(f"{rp.url}/login")
    assert response.status_code == 200
    userinfo = response.json()
    assert userinfo["sub"] == "U0ACME0001"
    assert userinfo["email"] == "ada.lovelace@acme.example"
    assert userinfo["iss"] == base
    assert [c.method for c in world.calls] == ["openid.connect.token"]


@pytest.mark.parametrize("mode", ["redirect", "page"])
async def test_sign_in_asking_for_undeclared_user_scopes_is_refused(
    world: SlackWorld, http: httpx.AsyncClient, mode: UndeclaredScopeResponse
) -> None:
    """An app that declares no user scopes cannot run Sign in with Slack at all."""
    world.declared = DeclaredScopes(bot=world.declared.bot, user=frozenset())
    world.undeclared_scope_response = mode
    refused = await http.get(
        "/openid/connect/authorize",
        params={
            "response_type": "code",
            "scope": "openid email profile",
            "client_id": SANDBOX_CLIENT_ID,
            "state": "s1",
            "redirect_uri": REDIRECT,
            "sandbox_auto": "allow",
        },
    )
    if mode == "redirect":
        assert refused.status_code == 302
        query = parse_qs(urlsplit(refused.headers["location"]).query)
        assert query == {"error": ["invalid_scope"], "state": ["s1"]}
    else:
        assert refused.status_code == 400
        assert "Invalid permissions requested" in refused.text
    assert world.grants == {}
