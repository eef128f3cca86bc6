"""Routing rules, pure: the order rules are tried in, business hours (overnight, zones,
whole days) and the attributes a message carries."""

from __future__ import annotations

from datetime import UTC, datetime, time

from app.bridge.rules import BusinessHours, Rule, choose, route

CHANNEL = Rule("channel", "C0BILL", integration_id="billing", queue="Billing")
ORG = Rule("connect_org", "T0PARTNER", queue="Partners")
DMS = Rule("dms", integration_id="dms", queue="Direct")
DEFAULT = Rule("default", queue="General", skills=("a", "b"), priority=3, language="fr")
ALL = [DEFAULT, DMS, ORG, CHANNEL]


def test_the_channel_rule_wins_over_the_connect_organisation_and_the_default() -> None:
    found = choose(
        ALL, conversation_kind="thread", channel_id="C0BILL", connect_org_ids=["T0PARTNER"]
    )
    assert found == CHANNEL


def test_a_connect_organisation_wins_over_the_default() -> None:
    found = choose(
        ALL, conversation_kind="thread", channel_id="C0XT", connect_org_ids=["T0PARTNER"]
    )
    assert found == ORG


def test_dms_follow_the_dm_rule_and_threads_do_not() -> None:
    assert choose(ALL, conversation_kind="dm", channel_id="D0ONE") == DMS
    assert choose(ALL, conversation_kind="thread", channel_id="C0OTHER") == DEFAULT


def test_a_channel_rule_never_matches_a_dm_and_no_rules_means_none() -> None:
    dm_channel = Rule("channel", "D0ONE")
    assert choose([dm_channel], conversation_kind="dm", channel_id="D0ONE") is None
    assert choose([], conversation_kind="thread", channel_id="C0BILL") is None


def test_attributes_are_flat_strings_and_only_the_hints_that_are_set() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    routed = route(ALL, conversation_kind="thread", channel_id="C0OTHER", written_at=now)
    assert routed.attributes == {
        "routingRule": "default",
        "routingQueue": "General",
        "routingLanguage": "fr",
        "routingSkills": "a,b",
        "routingPriority": "3",
    }
    bare = route([], conversation_kind="dm", channel_id="D0ONE", written_at=now)
    assert bare.rule is None and bare.attributes == {"routingRule": "default"}
    assert not bare.after_hours


WEEKDAYS = BusinessHours(frozenset(range(5)), time(9), time(17), "Europe/Paris")


def test_business_hours_are_read_in_the_rules_time_zone() -> None:
    # Thursday 3 December 2026: 08:30 UTC is 09:30 in Paris (open), 16:30 UTC is 17:30 (closed).
    assert WEEKDAYS.is_open(datetime(2026, 12, 3, 8, 30, tzinfo=UTC))
    assert not WEEKDAYS.is_open(datetime(2026, 12, 3, 16, 30, tzinfo=UTC))
    assert not WEEKDAYS.is_open(datetime(2026, 12, 5, 10, tzinfo=UTC))  # Saturday


def test_the_next_opening_ends_the_closed_period() -> None:
    friday_evening = datetime(2026, 12, 4, 18, tzinfo=UTC)
    assert WEEKDAYS.next_opening(friday_evening) == datetime(2026, 12, 7, 8, tzinfo=UTC)
    thursday_dawn = datetime(2026, 12, 3, 5, tzinfo=UTC)
    assert WEEKDAYS.next_opening(thursday_dawn) == datetime(2026, 12, 3, 8, tzinfo=UTC)


def test_an_overnight_window_belongs_to_the_day_it_opens() -> None:
    nights = BusinessHours(frozenset({0}), time(22), time(6), "UTC")  # Monday 22:00-06:00
    assert nights.is_open(datetime(2026, 11, 30, 23, tzinfo=UTC))  # Monday night
    assert nights.is_open(datetime(2026, 12, 1, 5, tzinfo=UTC))  # Tuesday early
    assert not nights.is_open(datetime(2026, 12, 1, 23, tzinfo=UTC))  # Tuesday night
    assert not nights.is_open(datetime(2026, 11, 30, 5, tzinfo=UTC))  # Monday early


def test_equal_times_mean_the_whole_day() -> None:
    weekends = BusinessHours(frozenset({5, 6}), time(0), time(0), "UTC")
    assert weekends.is_open(datetime(2026, 12, 5, 3, tzinfo=UTC))
    assert not weekends.is_open(datetime(2026, 12, 4, 23, tzinfo=UTC))
    assert weekends.next_opening(datetime(2026, 12, 4, 23, tzinfo=UTC)) == datetime(
        2026, 12, 5, tzinfo=UTC
    )


def test_after_hours_marks_the_message() -> None:
    closed = Rule("default", hours=WEEKDAYS)
    routed = route(
        [closed],
        conversation_kind="thread",
        channel_id="C0ANY",
        written_at=datetime(2026, 12, 5, 10, tzinfo=UTC),
    )
    assert routed.after_hours
    assert routed.attributes == {"routingRule": "default", "afterHours": "true"}
