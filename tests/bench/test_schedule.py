"""The open-loop schedule of bench.schedule: instants fixed in advance, round-robin."""

from __future__ import annotations

import pytest

from bench.schedule import assign_ts, conversations, offsets, plan


def test_offsets_are_evenly_spaced_and_do_not_depend_on_answers() -> None:
    assert offsets(4, 1) == [0.0, 0.25, 0.5, 0.75]
    assert len(offsets(800, 5)) == 4000
    assert offsets(0, 10) == []


def test_plan_merges_both_directions_in_time_order() -> None:
    planned = plan(
        first_seq=100, to_genesys_rate=10, to_slack_rate=5, duration=2, conversation_count=3
    )
    assert len(planned) == 30
    assert [p.at for p in planned] == sorted(p.at for p in planned)
    assert len({p.seq for p in planned}) == 30 and min(p.seq for p in planned) == 100


def test_each_conversation_gets_an_ordered_sequence() -> None:
    planned = plan(
        first_seq=1, to_genesys_rate=6, to_slack_rate=0, duration=2, conversation_count=3
    )
    for conversation in range(3):
        mine = [p for p in planned if p.conversation == conversation]
        assert [p.position for p in mine] == [0, 1, 2, 3]
        assert [p.at for p in mine] == sorted(p.at for p in mine)


def test_bad_load_is_mixed_in_and_left_out_of_positions() -> None:
    planned = plan(
        first_seq=1,
        to_genesys_rate=10,
        to_slack_rate=10,
        duration=3,
        conversation_count=2,
        bad_every=5,
    )
    bad = [p for p in planned if p.bad is not None]
    assert len(bad) == 12
    assert {p.bad for p in bad if p.direction == "to_genesys"} == {"unsigned", "tampered", "stale"}
    assert {p.bad for p in bad if p.direction == "to_slack"} == {"bad_hmac"}
    good = [p for p in planned if p.bad is None and p.direction == "to_genesys"]
    assert sorted(p.position for p in good if p.conversation == 0) == list(range(12))


def test_conversations_alternate_threads_and_dms_over_tenants() -> None:
    specs = conversations(8, tenants=2, channels=10, users=10)
    assert [s.tenant for s in specs] == [0, 1, 0, 1, 0, 1, 0, 1]
    assert [s.kind for s in specs] == ["thread", "thread", "dm", "dm"] * 2
    assert {s.slot for s in specs if s.kind == "dm" and s.tenant == 0} == {0, 1}
    with pytest.raises(ValueError):
        conversations(8, tenants=1, channels=10, users=3)


def test_slack_ts_follow_send_order_and_threads_get_their_root() -> None:
    specs = conversations(2, tenants=1, channels=5, users=5)
    planned = plan(
        first_seq=1, to_genesys_rate=4, to_slack_rate=2, duration=1, conversation_count=2
    )
    stamps = assign_ts(planned, specs, start_epoch=1_700_000_000.0)
    customer = [p for p in planned if p.direction == "to_genesys"]
    ts = [stamps.message_ts[p.seq] for p in customer]
    assert ts == sorted(ts, key=float) and len(set(ts)) == len(ts)
    root = next(p for p in customer if p.conversation == 0 and p.position == 0)
    assert stamps.thread_ts[0] == stamps.message_ts[root.seq]
    assert 1 not in stamps.thread_ts  # conversation 1 is a DM


def test_a_thread_with_only_agent_replies_still_has_a_root_before_the_start() -> None:
    specs = conversations(1, tenants=1, channels=5, users=5)
    planned = plan(
        first_seq=1, to_genesys_rate=0, to_slack_rate=2, duration=1, conversation_count=1
    )
    stamps = assign_ts(planned, specs, start_epoch=1_700_000_000.0)
    assert float(stamps.thread_ts[0]) < 1_700_000_000.0
