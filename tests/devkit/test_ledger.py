"""The invariant of devkit.harness.ledger: lost, duplicated, out of order, judged fairly."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, strategies as st

from devkit.harness.ledger import Arrival, Sent, Window, judge, judge_texts


def sent(seq: int, position: int, intended: float, acked: float | None, key: str = "c") -> Sent:
    return Sent(seq=seq, key=key, position=position, intended=intended, acked_at=acked)


def test_everything_delivered_once_in_order_is_ok() -> None:
    verdict = judge(
        [sent(1, 0, 0.0, 0.1), sent(2, 1, 1.0, 1.1)],
        [Arrival(1, 0.5), Arrival(2, 1.5)],
    )
    assert verdict.ok and verdict.delivered == 2 and verdict.lost == 0


def test_lost_counts_what_never_arrived_and_whether_it_was_acknowledged() -> None:
    verdict = judge([sent(1, 0, 0.0, 0.1), sent(2, 1, 1.0, None)], [])
    assert verdict.lost == 2 and verdict.never_acked == 1 and not verdict.ok
    assert verdict.samples["lost"] == [1, 2]


def test_arrivals_of_other_messages_are_ignored() -> None:
    verdict = judge([sent(1, 0, 0.0, 0.1)], [Arrival(1, 0.5), Arrival(99, 0.6)])
    assert verdict.ok and verdict.duplicates == 0


def test_a_second_copy_is_a_duplicate_unless_it_repeats_the_same_genesys_message_id() -> None:
    same_id = judge([sent(1, 0, 0.0, 0.1)], [Arrival(1, 0.5, "m1"), Arrival(1, 0.9, "m1")])
    assert same_id.ok and same_id.resends == 1 and same_id.duplicates == 0
    slack = judge([sent(1, 0, 0.0, 0.1)], [Arrival(1, 0.5), Arrival(1, 0.9)])
    assert slack.duplicates == 1 and not slack.ok


def test_a_repeat_straddling_a_crash_is_explained_and_does_not_fail() -> None:
    arrivals = [Arrival(1, 10.0), Arrival(1, 50.0)]
    crash = [Window(start=9.0, end=11.0)]
    verdict = judge([sent(1, 0, 0.0, 0.1)], arrivals, windows=crash)
    assert verdict.duplicates == 1 and verdict.explained_duplicates == 1 and verdict.ok
    outside = judge([sent(1, 0, 0.0, 0.1)], arrivals, windows=[Window(20.0, 30.0)])
    assert outside.unexplained_duplicates == 1 and not outside.ok


def test_order_is_judged_when_the_earlier_message_was_acknowledged_first() -> None:
    verdict = judge(
        [sent(1, 0, 0.0, 0.1), sent(2, 1, 1.0, 1.1)],
        [Arrival(1, 2.0), Arrival(2, 1.5)],
    )
    assert verdict.out_of_order == 1 and verdict.samples["out_of_order"] == [2]


def test_concurrent_messages_are_not_judged_for_order() -> None:
    # 1 was still being retried (acknowledged at 5.0) when 2 went out at 1.0.
    verdict = judge(
        [sent(1, 0, 0.0, 5.0), sent(2, 1, 1.0, 1.1)],
        [Arrival(1, 6.0), Arrival(2, 1.5)],
    )
    assert verdict.out_of_order == 0 and verdict.concurrent_pairs == 1 and verdict.ok


def test_order_is_per_conversation() -> None:
    verdict = judge(
        [sent(1, 0, 0.0, 0.1, key="a"), sent(2, 0, 1.0, 1.1, key="b")],
        [Arrival(1, 3.0), Arrival(2, 1.5)],
    )
    assert verdict.ok


def test_merge_adds_counts() -> None:
    a = judge([sent(1, 0, 0.0, 0.1)], [])
    b = judge([sent(2, 0, 0.0, 0.1)], [Arrival(2, 1.0)])
    merged = a.merge(b)
    assert merged.expected == 2 and merged.lost == 1 and merged.delivered == 1


texts = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=7)


@given(sent=texts, received=texts)
def test_texts_are_clean_exactly_when_received_equals_sent(
    sent: list[str], received: list[str]
) -> None:
    verdict = judge_texts(sent, received)
    assert verdict.ok == (received == sent)
    assert verdict.lost == sum((Counter(sent) - Counter(received)).values())
    assert verdict.duplicates == sum((Counter(received) - Counter(sent)).values())


def test_texts_swapped_are_out_of_order_not_lost() -> None:
    verdict = judge_texts(["one", "two", "three"], ["one", "three", "two"])
    assert (verdict.lost, verdict.duplicates) == (0, 0)
    assert verdict.out_of_order == 1 and not verdict.ok


def test_a_text_never_sent_counts_as_a_duplicate() -> None:
    verdict = judge_texts(["one"], ["one", "stray"])
    assert verdict.duplicates == 1 and not verdict.ok
