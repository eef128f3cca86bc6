"""The privacy page's refusals and its picker, in process against the Slack simulator: only a
signed-in admin, only with the form's CSRF token, and bad input gets a clear 400."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import AuditEvent, Tenant
from sandbox import slack_methods
from tests.harness import in_process
from tests.web.test_onboarding_pages import installed


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text)
    assert match
    return match.group(1)


async def test_a_stranger_gets_the_sign_in_page(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        page = await client.get("/settings/privacy")
        assert page.status_code == 401
        posted = await client.post("/settings/privacy/retention", data={"retention_days": "5"})
        assert posted.status_code == 401


async def test_retention_needs_the_csrf_token_and_a_sane_number(
    app_settings: Settings, engine: AsyncEngine
) -> None:
    async with in_process(app_settings) as client:
        await installed(client)
        page = await client.get("/settings/privacy")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        forged = await client.post(
            "/settings/privacy/retention", data={"csrf": "nope", "retention_days": "5"}
        )
        assert forged.status_code == 403 and "expired" in forged.text
        for bad in ("0", "2", "3651", "ten", "", "1e3"):
            refused = await client.post(
                "/settings/privacy/retention", data={"csrf": csrf, "retention_days": bad}
            )
            assert refused.status_code == 400, bad
            assert "3 to 3650 days" in refused.text or "whole number" in refused.text
        saved = await client.post(
            "/settings/privacy/retention", data={"csrf": csrf, "retention_days": " 45 "}
        )
        assert saved.status_code == 303
    async with engine.connect() as connection:
        assert (await connection.execute(select(Tenant.retention_days))).scalar_one() == 45
        actions = (await connection.execute(select(AuditEvent.action))).scalars().all()
    assert "privacy.retention_set" in actions


async def test_erasure_refuses_a_missing_person_or_confirmation(app_settings: Settings) -> None:
    async with in_process(app_settings) as client:
        await installed(client)
        csrf = csrf_of((await client.get("/settings/privacy")).text)
        no_person = await client.post(
            "/settings/privacy/erase", data={"csrf": csrf, "slack_user_id": "", "confirm": "yes"}
        )
        assert no_person.status_code == 400
        unconfirmed = await client.post(
            "/settings/privacy/erase", data={"csrf": csrf, "slack_user_id": "U0ACME0003"}
        )
        assert unconfirmed.status_code == 400 and "cannot be undone" in unconfirmed.text
        forged = await client.post(
            "/settings/privacy/erase",
            data={"csrf": "nope", "slack_user_id": "U0ACME0003", "confirm": "yes"},
        )
        assert forged.status_code == 403


async def test_the_picker_follows_users_list_pages(
    app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the simulator answering two people a page, everyone is still listed, by name."""
    monkeypatch.setattr(slack_methods, "USERS_LIST_PAGE_CAP", 2)
    async with in_process(app_settings) as client:
        await installed(client)
        page = await client.get("/settings/privacy")
    names = re.findall(r'<option value="U[A-Z0-9]+">([^<]+)</option>', page.text)
    # Gus Visitor is the seeded guest (who may open requests, issue 15): a person all the same.
    assert names == ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Gus Visitor"]
