"""The customer's End chat button, as pure Block Kit: offered under the agent's first reply
of each Genesys conversation, where the tenant's Genesys client may end conversations.

Its value is the Genesys conversation id it ends; a click is stored at ingest and sent by the
worker (`to_genesys`), which ends the conversation through the Conversations API and then
takes the same "closed" path as an end the agent made (`conversation_end`).
"""

from __future__ import annotations

END_CHAT_ACTION = "sb_end_chat"
