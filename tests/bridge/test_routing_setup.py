"""What the routing rules form accepts, and the sentence each refused field gets."""

from __future__ import annotations

from datetime import time

import pytest

from app.bridge.routing_setup import Choices, parse_rule
from app.slack.directory import ChannelChoice, ConnectOrg
from app.tenants.integrations import FieldErrors

CHOICES = Choices(
    channels=[
        ChannelChoice("C0BILL", "billing"),
        ChannelChoice("C0XT", "ext", connect_orgs=(ConnectOrg("T0PART", "Partner"),)),
    ],
    orgs={"T0PART": "Partner"},
    integrations={"int-1": "Slack DMs"},
)


def test_a_full_rule_is_parsed() -> None:
    form = {
        "match": "channel:C0BILL",
        "integration": "int-1",
        "queue": " Billing ",
        "language": "en-US",
        "skills": "invoices, refunds,,",
        "priority": "5",
        "hours_from": "09:00",
        "hours_to": "17:30",
        "time_zone": "Europe/Paris",
    }
    values = parse_rule(form, ["0", "4"], CHOICES)
    assert values["match_kind"] == "channel" and values["match_id"] == "C0BILL"
    assert values["match_name"] == "#billing"
    assert values["skills"] == ["invoices", "refunds"]
    assert values["priority"] == 5
    assert values["hours_days"] == [0, 4]
    assert (values["hours_from"], values["hours_to"]) == (time(9), time(17, 30))


def test_an_organisation_and_the_default_are_matches_too() -> None:
    org = parse_rule({"match": "connect_org:T0PART"}, [], CHOICES)
    assert (org["match_kind"], org["match_id"], org["match_name"]) == (
        "connect_org",
        "T0PART",
        "Partner",
    )
    default = parse_rule({"match": "default"}, [], CHOICES)
    assert (default["match_kind"], default["match_id"]) == ("default", "")
    assert default["genesys_integration_id"] is None and default["hours_days"] == []


@pytest.mark.parametrize(
    ("form", "days", "field"),
    [
        ({"match": "channel:C0UNKNOWN"}, [], "match"),
        ({"match": "everything"}, [], "match"),
        ({"match": "dms", "integration": "someone-elses"}, [], "integration"),
        ({"match": "dms", "language": "english please"}, [], "language"),
        ({"match": "dms", "priority": "-1"}, [], "priority"),
        ({"match": "dms", "priority": "1000"}, [], "priority"),
        ({"match": "dms", "skills": ",".join(["s"] * 21)}, [], "skills"),
        ({"match": "dms", "queue": "two\nlines"}, [], "queue"),
        (
            {"match": "dms", "hours_from": "9", "hours_to": "17:00", "time_zone": "UTC"},
            ["1"],
            "hours",
        ),
        (
            {"match": "dms", "hours_from": "09:00", "hours_to": "17:00", "time_zone": "Mars/Base"},
            ["1"],
            "time_zone",
        ),
        ({"match": "dms", "hours_from": "09:00", "hours_to": "17:00"}, [], "hours"),
        (
            {"match": "dms", "hours_from": "09:00", "hours_to": "17:00", "time_zone": "UTC"},
            ["7"],
            "hours",
        ),
    ],
)
def test_bad_input_names_its_field(form: dict[str, object], days: list[object], field: str) -> None:
    with pytest.raises(FieldErrors) as refused:
        parse_rule(form, days, CHOICES)
    assert field in refused.value.errors
