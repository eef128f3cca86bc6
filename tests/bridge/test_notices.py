"""Which failures are an admin's to fix, and what the admin is told (pure)."""

from __future__ import annotations

import pytest

from app.bridge.notices import SETUP_ALERT_HEADLINE, is_setup_problem, setup_alert_text


@pytest.mark.parametrize(
    ("reason", "setup"),
    [
        ("genesys_not_connected", True),
        ("GenesysAuthError", True),
        ("GenesysPermissionError:403", True),
        ("GenesysNotFound:404", True),
        ("GenesysRejected:400", False),
        ("GenesysUnavailable", False),
        ("GenesysRateLimited", False),
        ("unparseable:malformed", False),
    ],
)
def test_only_what_an_admin_must_fix_is_a_set_up_problem(reason: str, setup: bool) -> None:
    assert is_setup_problem(reason) is setup


def test_the_admin_alert_names_the_cause_and_the_fix_and_nothing_else() -> None:
    text = setup_alert_text(
        "GenesysNotFound:404", conversation_kind="dm", setup_url="https://sb.example/onboarding"
    )

    assert text.startswith(SETUP_ALERT_HEADLINE)
    assert "integration chosen for DMs" in text
    assert text.endswith("https://sb.example/onboarding (This alert is sent at most once an hour.)")
    unplaced = setup_alert_text("genesys_not_connected", conversation_kind="thread", setup_url=None)
    assert "chosen for channel mentions" in unplaced
    assert "None" not in unplaced
