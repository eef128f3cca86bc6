"""Slack → Genesys: what a click or a pick on an agent's message answers.

Pure: no I/O. A button carries its answer in its `value` (`rendering.encode_button_value`); a
date picker or a select does not, so its `block_id` names the agent message and the picker,
and the answer is read from the stored message: a forged index, option or date is refused
with `InvalidButtonValue`, never passed on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.bridge.outbound import AgentMessage, AgentStructured, ButtonClick
from app.bridge.rendering import (
    CARD_BUTTON_ACTION,
    DATE,
    DATE_PICKER_ACTION,
    GENESYS_MESSAGE_ID,
    LIST_PICKER_ACTION,
    MAX_SELECT_OPTIONS,
    QUICK_REPLY_ACTION,
    InvalidButtonValue,
    parse_button_value,
)

Choose = Callable[[AgentMessage | AgentStructured], ButtonClick]


def answer_for(action: dict[str, Any]) -> tuple[str, Choose] | None:
    """The agent message an action answers and how to read its choice from that message;
    None for actions that are not answers (link buttons). Raises `InvalidButtonValue` for
    a value or block we did not write."""
    action_id = str(action.get("action_id") or "")
    if action_id.startswith((QUICK_REPLY_ACTION, CARD_BUTTON_ACTION)):
        click = parse_button_value(str(action.get("value") or ""))
        return click.genesys_message_id, lambda _: click
    if not action_id.startswith((DATE_PICKER_ACTION, LIST_PICKER_ACTION)):
        return None
    message_id, index = parse_picker_block(str(action.get("block_id") or ""), action_id)
    if action_id.startswith(DATE_PICKER_ACTION):
        date = str(action.get("selected_date") or "")

        def pick_date(message: AgentMessage | AgentStructured) -> ButtonClick:
            if not isinstance(message, AgentStructured):
                raise InvalidButtonValue("no pickers")
            return date_choice(message, index, date)

        return message_id, pick_date
    option = action.get("selected_option")
    value = str(option.get("value") or "") if isinstance(option, dict) else ""

    def pick_option(message: AgentMessage | AgentStructured) -> ButtonClick:
        if not isinstance(message, AgentStructured):
            raise InvalidButtonValue("no pickers")
        return list_choice(message, index, value)

    return message_id, pick_option


def parse_picker_block(block_id: str, action_id: str) -> tuple[str, int]:
    """The agent message and the picker's index a picker's `block_id` names; anything we did
    not write raises `InvalidButtonValue`."""
    prefix, _, message_id = block_id.partition(":")
    if prefix != action_id or not GENESYS_MESSAGE_ID.fullmatch(message_id):
        raise InvalidButtonValue("not a picker of ours")
    for start in (DATE_PICKER_ACTION, LIST_PICKER_ACTION):
        number = action_id.removeprefix(start)
        if action_id.startswith(start) and number.isdigit() and len(number) <= 3:
            return message_id, int(number)
    raise InvalidButtonValue("not a picker of ours")


def date_choice(message: AgentStructured, index: int, date: str) -> ButtonClick:
    """A date picked in Slack as the DatePicker's answer: the first time Genesys offered on
    that day (ISO 8601, as offered), else the day itself (external-contracts: UNCONFIRMED)."""
    if index >= len(message.date_pickers) or not DATE.fullmatch(date):
        raise InvalidButtonValue("no such date picker")
    picker = message.date_pickers[index]
    payload = next((at for at in picker.available if at[:10] == date), date)
    text = date
    if payload != date:
        try:
            text = datetime.fromisoformat(payload).strftime("%Y-%m-%d %H:%M UTC%z")
        except ValueError:
            text = payload
        text = text.replace("UTC+0000", "UTC")
    return ButtonClick(
        genesys_message_id=message.genesys_message_id, kind="DatePicker", payload=payload, text=text
    )


def list_choice(message: AgentStructured, index: int, option_value: str) -> ButtonClick:
    """An option chosen in Slack as the ListPicker's answer: a `Button` response carrying the
    item's title and `id` (external-contracts: UNCONFIRMED)."""
    if index >= len(message.list_pickers) or not option_value.isdigit():
        raise InvalidButtonValue("no such list picker")
    items = message.list_pickers[index].items
    number = int(option_value)
    if number >= min(len(items), MAX_SELECT_OPTIONS):
        raise InvalidButtonValue("no such option")
    item = items[number]
    return ButtonClick(
        genesys_message_id=message.genesys_message_id,
        kind="Button",
        payload=item.item_id,
        text=item.title,
    )
