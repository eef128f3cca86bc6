"""The parsed message as stored beside its raw payload, so it is parsed once, at ingest.

Pure: JSON in, the parser's own dataclasses out (pydantic validates them back, nested types
and all). A stored form that no longer validates (written by an older version of these
dataclasses) reads as None, and the caller parses the raw payload instead, as it does for
rows from before the column existed.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.bridge.outbound import AgentMessage, AgentStructured
from app.bridge.routing import SlackMessage

_SLACK = TypeAdapter(SlackMessage)
_AGENT_TEXT = TypeAdapter(AgentMessage)
_AGENT_STRUCTURED = TypeAdapter(AgentStructured)


def from_slack(message: SlackMessage) -> dict[str, Any]:
    dumped: dict[str, Any] = _SLACK.dump_python(message, mode="json")
    return dumped


def to_slack_message(stored: dict[str, object] | None) -> SlackMessage | None:
    if stored is None:
        return None
    try:
        return _SLACK.validate_python(stored)
    except ValidationError:
        return None


def from_agent(message: AgentMessage | AgentStructured) -> dict[str, Any]:
    adapter: TypeAdapter[Any] = (
        _AGENT_STRUCTURED if isinstance(message, AgentStructured) else _AGENT_TEXT
    )
    dumped: dict[str, Any] = adapter.dump_python(message, mode="json")
    return dumped


def to_agent_message(
    stored: dict[str, object] | None, *, structured: bool
) -> AgentMessage | AgentStructured | None:
    if stored is None:
        return None
    try:
        if structured:
            return _AGENT_STRUCTURED.validate_python(stored)
        return _AGENT_TEXT.validate_python(stored)
    except ValidationError:
        return None
