"""The ✓ pacer: never waits for Slack, stays within the tier, drops what Slack refuses."""

from __future__ import annotations

from app.bridge.reactions import ACK_REACTION, ReactionPacer
from app.slack.errors import SlackRateLimited
from tests.fakes import FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reactions_beyond_the_tier_wait_for_the_window_and_offering_never_waits() -> None:
    slack, clock = FakeSlack(), Clock()
    pacer = ReactionPacer(slack, per_minute=3, clock=clock)
    for n in range(5):
        pacer.offer("xoxb", team_id="T1", channel="C1", ts=f"1.{n}")
    pacer.offer("xoxb", team_id="T2", channel="C2", ts="2.0")
    await pacer.wait_idle(0.2)

    # Three of T1's in this minute; T2 has a tier of its own.
    assert slack.reactions == [
        ("C1", "1.0", ACK_REACTION),
        ("C1", "1.1", ACK_REACTION),
        ("C1", "1.2", ACK_REACTION),
        ("C2", "2.0", ACK_REACTION),
    ]
    await pacer.aclose(0)


async def test_a_429_drops_the_reaction_and_pauses_the_workspace() -> None:
    slack, clock = FakeSlack(), Clock()
    pacer = ReactionPacer(slack, clock=clock)
    slack.reaction_failures.append(SlackRateLimited("ratelimited", retry_after=30))
    pacer.offer("xoxb", team_id="T1", channel="C1", ts="1.0")
    pacer.offer("xoxb", team_id="T1", channel="C1", ts="1.1")
    await pacer.wait_idle(0.2)

    assert slack.reactions == []
    assert pacer.dropped == 1
    await pacer.aclose(0)
