"""What a delivery changes on its conversation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.bridge.messages import DeliveryOutcome
from app.bridge.outcomes import values_for_conversation
from app.db.models import Conversation


def conversation(integration_id: str | None, genesys_conversation_id: str | None) -> Conversation:
    return Conversation(
        genesys_integration_id=integration_id, genesys_conversation_id=genesys_conversation_id
    )


def test_a_delivery_on_another_integration_moves_the_conversation_and_forgets_the_old_one() -> None:
    old = conversation("int-old", "conv-old")

    assert values_for_conversation(old, DeliveryOutcome(genesys_integration_id="int-new")) == {
        "genesys_integration_id": "int-new",
        "genesys_conversation_id": None,
    }
    assert values_for_conversation(
        old, DeliveryOutcome(genesys_integration_id="int-new", genesys_conversation_id="conv-new")
    ) == {
        "genesys_integration_id": "int-new",
        "genesys_conversation_id": "conv-new",
        # A new Genesys conversation is an open one (the old may have ended).
        "ended_at": None,
    }
    # What the conversation already holds is not written again (a row update per message).
    assert (
        values_for_conversation(
            old,
            DeliveryOutcome(genesys_integration_id="int-old", genesys_conversation_id="conv-old"),
        )
        == {}
    )
    assert values_for_conversation(
        old, DeliveryOutcome(genesys_integration_id="int-old", genesys_conversation_id="conv-2")
    ) == {"genesys_conversation_id": "conv-2", "ended_at": None}
    assert values_for_conversation(old, DeliveryOutcome(slack_ts="1.2")) == {}


def test_a_message_after_an_end_opens_the_conversation_again() -> None:
    ended = conversation("int-1", "conv-1")
    ended.ended_at = datetime.now(UTC)
    ended.ended_genesys_conversation_id = "conv-1"
    # Genesys opened a new conversation: the old end stays recorded.
    assert values_for_conversation(
        ended, DeliveryOutcome(genesys_integration_id="int-1", genesys_conversation_id="conv-2")
    ) == {"genesys_conversation_id": "conv-2", "ended_at": None}
    # Genesys reopened the ended one: it is watched for its end again.
    assert values_for_conversation(
        ended, DeliveryOutcome(genesys_integration_id="int-1", genesys_conversation_id="conv-1")
    ) == {"ended_at": None, "ended_genesys_conversation_id": None}
    # A delivery that names no Genesys conversation changes nothing.
    assert values_for_conversation(ended, DeliveryOutcome(slack_ts="1.2")) == {}
