"""A person who meets an error sees a Switchboard page; machines get a short text."""

from __future__ import annotations

import re
import uuid

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from app.web.session import COOKIE_NAME, SessionCodec
from tests.harness import in_process

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_unknown_page_is_branded_for_a_browser(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        response = await client.get("/no-such-page", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert 'class="brand"' in response.text and 'href="/"' in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_machines_get_plain_text(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        missing = await client.get("/no-such-page")
        wrong_method = await client.get("/genesys/webhook", headers={"accept": "*/*"})
        posted = await client.post("/no-such-page", headers=BROWSER)
    assert missing.status_code == 404 and missing.text == "Page not found\n"
    assert wrong_method.status_code == 405 and "<html" not in wrong_method.text
    assert wrong_method.headers["allow"] == "POST"
    assert posted.status_code == 404 and "<html" not in posted.text


async def test_a_fault_shows_a_branded_page_with_a_reference(app_settings: Settings) -> None:
    """The database is unreachable, so the settings page fails inside the app: the person gets
    the branded 500 with the request's trace id, and nothing about the fault itself."""
    url = re.sub(r"@[^/]+/", "@127.0.0.1:1/", app_settings.database_url.get_secret_value())
    broken = app_settings.model_copy(update={"database_url": SecretStr(url)})
    app = create_app(broken)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope, receive, send):  # type: ignore[no-untyped-def]
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://sb.test") as client:
            cookie, _ = SessionCodec(broken.session_secret.get_secret_value()).issue(
                tenant_id=uuid.uuid4(), slack_user_id="U0ACME0001", via="signin"
            )
            response = await client.get(
                "/onboarding",
                headers={
                    **BROWSER,
                    "x-request-id": "trace-12345678",
                    "cookie": f"{COOKIE_NAME}={cookie}",
                },
            )
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "trace-12345678" in response.text
    assert "asyncpg" not in response.text and "Traceback" not in response.text
