"""The worker's pace: what happens beside a delivery must never hold the next one back.

The ✓ reaction on a customer's message is cosmetic; it is sent after Genesys accepted the
message, within `reactions.add`'s rate tier. A slow `reactions.add` (held here by a `delay`
fault at the Slack simulator) must not delay the next message of the same conversation.
"""

from __future__ import annotations

import time

from sandbox.faults import FaultSpec
from tests.e2e.ledger import genesys_texts, wait_until
from tests.e2e.stack import System
from tests.e2e.traffic import SlackPeople, thread_id

REACTION_DELAY_SECONDS = 2.0


async def test_a_slow_reaction_never_delays_the_next_message(bridge: System) -> None:
    slack = SlackPeople(bridge)
    acme = bridge.acme.spec
    bridge.slack.faults.arm(
        FaultSpec(route="reactions.add", kind="delay", delay=REACTION_DELAY_SECONDS, for_seconds=60)
    )
    root = await slack.mention(acme, "Pace: first")
    thread = thread_id(acme, acme.support_channel, root.ts)
    for n in range(1, 5):
        await slack.send(slack.thread_reply(acme, thread_ts=root.ts, text=f"Pace: reply {n}"))
    sent_at = time.monotonic()
    expected = ["Pace: first", *(f"Pace: reply {n}" for n in range(1, 5))]
    # Inline, each ✓ would hold the conversation for its 2 s: the last reply would arrive
    # about 8 s after the first. Off the delivery path, all five arrive at once.
    await wait_until(
        lambda: genesys_texts(bridge.genesys, thread) == expected,
        REACTION_DELAY_SECONDS * 1.5,
        what="all five messages at Genesys while reactions.add is slow",
    )
    assert time.monotonic() - sent_at < REACTION_DELAY_SECONDS * 1.5
    # The ✓ still comes, later.

    def reacted() -> bool:
        message = bridge.slack.find_message(root.slack_channel_id, root.ts)
        return message is not None and "white_check_mark" in message.reactions

    await wait_until(reacted, 30, what="the ✓ on the first message")
