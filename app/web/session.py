"""The signed admin session cookie: who is signed in, for which tenant, and their CSRF token.

It is set only at trusted moments (the OAuth callback after Slack confirmed the install, or a
completed Sign in with Slack), never from a URL parameter. The signature and timestamp come
from itsdangerous; the cookie is HttpOnly, Secure and SameSite=Lax.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError

COOKIE_NAME = "sb_session"
# The post-install hand-off is short; a Sign in with Slack session lasts a working day.
INSTALL_SESSION_SECONDS = 30 * 60
SIGNIN_SESSION_SECONDS = 8 * 60 * 60


class AdminSession(BaseModel):
    tenant_id: uuid.UUID
    slack_user_id: str
    via: Literal["install", "signin"]
    csrf: str
    max_age: int


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="switchboard.admin-session")

    def issue(
        self, *, tenant_id: uuid.UUID, slack_user_id: str, via: Literal["install", "signin"]
    ) -> tuple[str, AdminSession]:
        max_age = INSTALL_SESSION_SECONDS if via == "install" else SIGNIN_SESSION_SECONDS
        session = AdminSession(
            tenant_id=tenant_id,
            slack_user_id=slack_user_id,
            via=via,
            csrf=secrets.token_urlsafe(32),
            max_age=max_age,
        )
        return self._serializer.dumps(session.model_dump(mode="json")), session

    def read(self, value: str | None) -> AdminSession | None:
        if not value:
            return None
        try:
            raw = self._serializer.loads(value, max_age=SIGNIN_SESSION_SECONDS)
            session = AdminSession.model_validate(raw)
            # Each kind of session carries its own lifetime; re-check against it.
            self._serializer.loads(value, max_age=session.max_age)
        except (BadSignature, ValidationError):
            return None
        return session


def set_cookie_header(value: str, max_age: int) -> str:
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
