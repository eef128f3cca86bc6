from __future__ import annotations

from typing import Any

import pytest

from app.bridge.answers import answer_for
from app.bridge.outbound import AgentMessage, AgentStructured, DatePicker, ListItem, ListPicker
from app.bridge.rendering import InvalidButtonValue, encode_button_value

MESSAGE_ID = "d7d58935af65a45e5234ac77de017a0a"
ENVELOPE: dict[str, Any] = {
    "genesys_message_id": MESSAGE_ID,
    "genesys_integration_id": "e6b352de-ecd0-49c7-94de-7787418869bc",
    "external_user_id": "T0ACME:U0JANE",
}
OFFER = AgentStructured(
    **ENVELOPE,
    date_pickers=(DatePicker("When?", available=("2026-12-04T10:00:00Z",)),),
    list_pickers=(ListPicker("Plan?", items=(ListItem("basic", "Basic"),)),),
)


def test_each_kind_of_action_is_read_as_its_answer() -> None:
    value = encode_button_value(genesys_message_id=MESSAGE_ID, kind="Button", payload="b", text="B")
    assert value is not None
    button = answer_for({"action_id": "sb_btn_0", "value": value})
    date = answer_for(
        {
            "action_id": "sb_date_0",
            "block_id": f"sb_date_0:{MESSAGE_ID}",
            "selected_date": "2026-12-04",
        }
    )
    option = answer_for(
        {
            "action_id": "sb_list_0",
            "block_id": f"sb_list_0:{MESSAGE_ID}",
            "selected_option": {"value": "0"},
        }
    )

    assert button is not None and date is not None and option is not None
    assert [found[0] for found in (button, date, option)] == [MESSAGE_ID] * 3
    assert button[1](OFFER).payload == "b"
    assert (date[1](OFFER).kind, date[1](OFFER).payload) == ("DatePicker", "2026-12-04T10:00:00Z")
    assert (option[1](OFFER).kind, option[1](OFFER).payload) == ("Button", "basic")
    assert answer_for({"action_id": "sb_link_0"}) is None


def test_forged_pickers_are_refused() -> None:
    text_only = AgentMessage(**ENVELOPE, text="no pickers here")
    forged_block = {"action_id": "sb_date_0", "block_id": "sb_date_0:../../x", "selected_date": "x"}
    with pytest.raises(InvalidButtonValue):
        answer_for(forged_block)
    other_picker = answer_for(
        {
            "action_id": "sb_date_7",
            "block_id": f"sb_date_7:{MESSAGE_ID}",
            "selected_date": "2026-12-04",
        }
    )
    no_option = answer_for({"action_id": "sb_list_0", "block_id": f"sb_list_0:{MESSAGE_ID}"})
    assert other_picker is not None and no_option is not None
    for choose, message in (
        (other_picker[1], OFFER),
        (no_option[1], OFFER),
        (other_picker[1], text_only),
    ):
        with pytest.raises(InvalidButtonValue):
            choose(message)
