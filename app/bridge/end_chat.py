"""The customer's End chat button, as pure Block Kit: offered under the agent's first reply
of each Genesys conversation, where the tenant's Genesys client may end conversations.

Its value is the Genesys conversation id it ends; a click is stored at ingest and sent by the
worker (`to_genesys`), which ends the conversation through the Conversations API and then
takes the same "closed" path as an end the agent made (`conversation_end`).
"""

from __future__ import annotations

from typing import Any

END_CHAT_ACTION = "sb_end_chat"

# Slack's limits: a section's text, blocks in a message.
SECTION_LIMIT = 3000
MAX_BLOCKS = 50
END_CHAT_LABEL = "End chat"


def end_chat_block(genesys_conversation_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "sb_end_chat",
        "elements": [
            {
                "type": "button",
                "action_id": END_CHAT_ACTION,
                "text": {"type": "plain_text", "text": END_CHAT_LABEL},
                "value": genesys_conversation_id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "End this chat?"},
                    "text": {
                        "type": "plain_text",
                        "text": "Support will see that you ended it. Writing here again "
                        "starts a new chat.",
                    },
                    "confirm": {"type": "plain_text", "text": END_CHAT_LABEL},
                    "deny": {"type": "plain_text", "text": "Keep it open"},
                },
            }
        ],
    }


def _interactive(block: dict[str, Any]) -> bool:
    return block.get("type") in ("actions", "input") or "accessory" in block


def with_end_chat(
    text: str, blocks: list[dict[str, Any]] | None, genesys_conversation_id: str
) -> list[dict[str, Any]] | None:
    """The post's blocks with the button last; None when it does not fit (a plain text longer
    than a section holds, a message already at Slack's block limit) or when the message has
    choices of its own (quick replies, a card, a picker: a click rewrites such a message
    without its buttons): the next reply offers it instead."""
    if blocks is None:
        if not text.strip() or len(text) > SECTION_LIMIT:
            return None
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if len(blocks) >= MAX_BLOCKS or any(_interactive(block) for block in blocks):
        return None
    return [*blocks, end_chat_block(genesys_conversation_id)]
