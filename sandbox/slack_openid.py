"""Sign in with Slack (OpenID Connect) on the simulator: discovery, keys, token, userInfo.

The issuer is whatever base URL the caller reached the simulator on, so a relying party that
discovers `/.well-known/openid-configuration` validates `iss` against the same string. ID tokens
are RS256 JWTs signed with the world's own RSA key and published as a JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.slack_api import JsonObject, Method, MethodCall
from sandbox.slack_oauth import check_client, redeemed_grant, refreshed_token
from sandbox.slack_objects import avatar_url
from sandbox.slack_records import SlackToken
from sandbox.slack_world import SANDBOX_CLIENT_ID, SlackWorld

ID_TOKEN_LIFETIME_SECONDS = 3600
_CLAIMS = [
    "sub",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "picture",
    "locale",
    "https://slack.com/user_id",
    "https://slack.com/team_id",
    "https://slack.com/team_name",
    "https://slack.com/team_domain",
]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwks(world: SlackWorld) -> JsonObject:
    numbers = world.signing_key.public_key().public_numbers()
    key = {
        "kty": "RSA",
        "kid": world.key_id,
        "use": "sig",
        "alg": "RS256",
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
    return {"keys": [key]}


def sign_jwt(world: SlackWorld, claims: JsonObject) -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": world.key_id}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = world.signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return _b64url(digest[: len(digest) // 2])


def user_claims(world: SlackWorld, token: SlackToken, base_url: str) -> JsonObject:
    user = world.users[token.slack_user_id]
    team = world.teams[user.slack_team_id]
    claims: JsonObject = {
        "sub": user.slack_user_id,
        "https://slack.com/user_id": user.slack_user_id,
        "https://slack.com/team_id": team.slack_team_id,
        "name": user.real_name,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "picture": avatar_url(base_url, user.slack_user_id, 512),
        "locale": "en-US",
        "https://slack.com/team_name": team.name,
        "https://slack.com/team_domain": team.domain,
    }
    if "email" in token.scopes:
        claims.update(email=user.email, email_verified=True, date_email_verified=1_700_000_000)
    if team.slack_enterprise_id:
        claims["https://slack.com/enterprise_id"] = team.slack_enterprise_id
    return claims


def openid_connect_token(call: MethodCall) -> JsonObject:
    world = call.world
    check_client(call)
    if call.arg("grant_type") == "refresh_token":
        token = refreshed_token(call)
        return {"access_token": token.value, "token_type": "Bearer", **_rotation(world, token)}
    grant = redeemed_grant(call, "openid")
    token = world.issue_token(
        kind="user",
        slack_user_id=grant.slack_user_id,
        scopes=frozenset(grant.user_scopes),
        slack_team_id=grant.slack_team_id,
        slack_enterprise_id=grant.slack_enterprise_id,
    )
    now = int(time.time())
    claims = {
        "iss": call.base_url,
        "aud": SANDBOX_CLIENT_ID,
        "exp": now + ID_TOKEN_LIFETIME_SECONDS,
        "iat": now,
        "auth_time": now,
        "at_hash": _at_hash(token.value),
        **user_claims(world, token, call.base_url),
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    return {
        "access_token": token.value,
        "token_type": "Bearer",
        "id_token": sign_jwt(world, claims),
        **_rotation(world, token),
    }


def _rotation(world: SlackWorld, token: SlackToken) -> JsonObject:
    if token.refresh_token is None:
        return {}
    return {"refresh_token": token.refresh_token, "expires_in": int(world.token_lifetime_seconds)}


def openid_connect_user_info(call: MethodCall) -> JsonObject:
    return user_claims(call.world, call.bearer, call.base_url)


METHODS: dict[str, Method] = {
    "openid.connect.token": Method(openid_connect_token, needs_token=False),
    "openid.connect.userInfo": Method(openid_connect_user_info, ("openid",)),
}


def discovery(base_url: str) -> JsonObject:
    return {
        "issuer": base_url,
        "authorization_endpoint": f"{base_url}/openid/connect/authorize",
        "token_endpoint": f"{base_url}/api/openid.connect.token",
        "userinfo_endpoint": f"{base_url}/api/openid.connect.userInfo",
        "jwks_uri": f"{base_url}/openid/connect/keys",
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["form_post", "query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": _CLAIMS,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": True,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }


def openid_routes(world: SlackWorld) -> list[Route]:
    async def configuration(request: Request) -> Response:
        return JSONResponse(discovery(str(request.base_url).rstrip("/")))

    async def keys(request: Request) -> Response:
        return JSONResponse(jwks(world))

    return [
        Route("/.well-known/openid-configuration", configuration, methods=["GET"]),
        Route("/openid/connect/keys", keys, methods=["GET"]),
    ]
