"""Where a workspace's set-up stands, step by step, as the settings page shows it.

Pure: it reads rows the page already loaded. Each step is done, needs attention, or not
started, with one sentence that says why, so an admin who comes back weeks later sees at a
glance what changed (a refused webhook, credentials saved but never tested) instead of
re-reading every form. "Live" means a person's mention or DM would reach an agent now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.db.models import GenesysConnection, GenesysIntegration


class StepState(StrEnum):
    DONE = "done"
    ATTENTION = "attention"
    NOT_STARTED = "not-started"


@dataclass(frozen=True)
class Step:
    anchor: str
    title: str
    state: StepState
    why: str


@dataclass(frozen=True)
class SetupState:
    steps: tuple[Step, ...]

    @property
    def live(self) -> bool:
        """Steps 1 to 3 done: connected, wired both ways, and proven by a passing test."""
        return all(step.state == StepState.DONE for step in self.steps[:3])


def _genesys(connection: GenesysConnection | None) -> Step:
    if connection is None:
        return Step("genesys", "Genesys Cloud org", StepState.NOT_STARTED, "Not connected yet.")
    return Step("genesys", "Genesys Cloud org", StepState.DONE, "Connected.")


def _integrations(
    connection: GenesysConnection | None, chosen: Sequence[GenesysIntegration]
) -> Step:
    title = "Open Messaging integrations"
    mentions = any(i.for_mentions for i in chosen)
    dms = any(i.for_dms for i in chosen)
    if connection is None or not (mentions or dms):
        return Step("integrations", title, StepState.NOT_STARTED, "None chosen yet.")
    if not (mentions and dms):
        missing = "direct messages" if mentions else "channel mentions"
        return Step("integrations", title, StepState.ATTENTION, f"None chosen for {missing}.")
    refused = [
        i
        for i in chosen
        if i.last_refused_at is not None
        and (i.last_verified_at is None or i.last_refused_at > i.last_verified_at)
    ]
    if refused:
        return Step(
            "integrations",
            title,
            StepState.ATTENTION,
            "Genesys' last webhook was refused: its secret does not match. Rotate the secret "
            "or paste it again.",
        )
    return Step("integrations", title, StepState.DONE, "Chosen for mentions and DMs.")


def _test(connection: GenesysConnection | None, chosen: Sequence[GenesysIntegration]) -> Step:
    """Saving credentials verifies the token grant (and stamps `last_verified_at`), but only a
    test after the integrations are chosen proves the whole path; any later change to the
    credentials or a webhook secret asks for the test again."""
    title = "Connection test"
    if connection is None or not chosen:
        return Step("test", title, StepState.NOT_STARTED, "Choose the integrations first.")
    verified = connection.last_verified_at
    changed = [connection.credentials_updated_at, *(i.webhook_secret_set_at for i in chosen)]
    if verified is None or any(moment > verified for moment in changed if moment is not None):
        return Step("test", title, StepState.NOT_STARTED, "Not run since the set-up changed.")
    return Step("test", title, StepState.DONE, "Passed.")


def _failures(dead_letters: int) -> Step:
    if dead_letters:
        plural = "message" if dead_letters == 1 else "messages"
        return Step(
            "failures",
            "Delivery",
            StepState.ATTENTION,
            f"{dead_letters} {plural} could not be delivered. Replay or discard them.",
        )
    return Step("failures", "Delivery", StepState.DONE, "No failed messages.")


def setup_state(
    *,
    connection: GenesysConnection | None,
    chosen: Sequence[GenesysIntegration],
    dead_letters: int,
) -> SetupState:
    return SetupState(
        (
            _genesys(connection),
            _integrations(connection, chosen),
            _test(connection, chosen),
            _failures(dead_letters),
        )
    )
