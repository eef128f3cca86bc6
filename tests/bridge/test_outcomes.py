"""What a delivery changes on its conversation (pure)."""

from __future__ import annotations

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
    ) == {"genesys_integration_id": "int-new", "genesys_conversation_id": "conv-new"}
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
    ) == {"genesys_conversation_id": "conv-2"}
    assert values_for_conversation(old, DeliveryOutcome(slack_ts="1.2")) == {}
