"""The invariant every run ends with: nothing lost, nothing duplicated, order kept.

"Sent" is the sender's record of each good message (when it was meant to go out and when the
app acknowledged it); "received" is what the simulators saw arrive. Pure: the judgement is a
function of those two lists. The benchmark judges its load with `judge`; the e2e tests, which
send one message at a time, judge the texts of one conversation with `judge_texts`.

Order is only owed where it was knowable. Message `a` precedes `b` of the same conversation
when `a` was acknowledged before `b` was first sent; if `a` was still being retried when `b`
went out, Slack and Genesys themselves promise no order, and the pair is counted as
concurrent instead of judged.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

SAMPLE_LIMIT = 10


@dataclass(frozen=True)
class Sent:
    seq: int
    key: Hashable  # (direction, conversation): the unit order is judged in
    position: int
    intended: float  # epoch seconds
    acked_at: float | None  # epoch of the first 2xx, None if never acknowledged


@dataclass(frozen=True)
class Arrival:
    seq: int
    at: float  # epoch seconds, taken by the simulator on receipt
    message_id: str | None = None  # Genesys `channel.messageId`; None for Slack posts


@dataclass(frozen=True)
class Window:
    """A span in which a crash or an outage may make delivery repeat itself (at-least-once):
    a call that reached the far side before its outcome could be written down."""

    start: float
    end: float


@dataclass
class Verdict:
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    never_acked: int = 0
    duplicates: int = 0
    explained_duplicates: int = 0
    resends: int = 0
    out_of_order: int = 0
    concurrent_pairs: int = 0
    samples: dict[str, list[int]] = field(default_factory=dict)

    @property
    def unexplained_duplicates(self) -> int:
        return self.duplicates - self.explained_duplicates

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.unexplained_duplicates == 0 and self.out_of_order == 0

    def merge(self, other: Verdict) -> Verdict:
        merged = Verdict(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in (
                    "expected",
                    "delivered",
                    "lost",
                    "never_acked",
                    "duplicates",
                    "explained_duplicates",
                    "resends",
                    "out_of_order",
                    "concurrent_pairs",
                )
            }
        )
        for source in (self.samples, other.samples):
            for name, seqs in source.items():
                merged.samples.setdefault(name, []).extend(seqs)
        merged.samples = {k: v[:SAMPLE_LIMIT] for k, v in merged.samples.items()}
        return merged

    def as_json(self) -> dict[str, object]:
        return {
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost,
            "never_acked": self.never_acked,
            "duplicates": self.duplicates,
            "explained_duplicates": self.explained_duplicates,
            "unexplained_duplicates": self.unexplained_duplicates,
            "resends_same_message_id": self.resends,
            "out_of_order": self.out_of_order,
            "concurrent_pairs": self.concurrent_pairs,
            "ok": self.ok,
            "samples": self.samples,
        }


def _note(verdict: Verdict, name: str, seq: int) -> None:
    bucket = verdict.samples.setdefault(name, [])
    if len(bucket) < SAMPLE_LIMIT:
        bucket.append(seq)


def judge(
    sent: Sequence[Sent], arrivals: Sequence[Arrival], *, windows: Sequence[Window] = ()
) -> Verdict:
    verdict = Verdict(expected=len(sent))
    by_seq: dict[int, list[Arrival]] = defaultdict(list)
    expected = {s.seq for s in sent}
    for arrival in arrivals:
        if arrival.seq in expected:
            by_seq[arrival.seq].append(arrival)
    first: dict[int, float] = {}
    for s in sent:
        got = sorted(by_seq.get(s.seq, []), key=lambda a: a.at)
        if not got:
            verdict.lost += 1
            _note(verdict, "lost", s.seq)
            if s.acked_at is None:
                verdict.never_acked += 1
            continue
        verdict.delivered += 1
        first[s.seq] = got[0].at
        for extra in got[1:]:
            if extra.message_id is not None and extra.message_id == got[0].message_id:
                verdict.resends += 1
                continue
            verdict.duplicates += 1
            _note(verdict, "duplicates", s.seq)
            if len(got) == 2 and any(w.start <= got[0].at <= w.end < extra.at for w in windows):
                verdict.explained_duplicates += 1
    groups: dict[Hashable, list[Sent]] = defaultdict(list)
    for s in sent:
        groups[s.key].append(s)
    for members in groups.values():
        _judge_order(members, first, verdict)
    return verdict


def _judge_order(members: list[Sent], first: dict[int, float], verdict: Verdict) -> None:
    """`b` is out of order if some `a` acknowledged before `b` was sent arrived after `b`."""
    acked = sorted((s for s in members if s.acked_at is not None), key=lambda s: s.acked_at or 0)
    ack_times = [s.acked_at or 0.0 for s in acked]
    latest: list[float] = []  # running max of first arrival over `acked`, in ack order
    running = float("-inf")
    for s in acked:
        running = max(running, first.get(s.seq, float("-inf")))
        latest.append(running)
    ordered = sorted(members, key=lambda s: s.position)
    for index, b in enumerate(ordered):
        before = bisect.bisect_right(ack_times, b.intended)
        verdict.concurrent_pairs += index - sum(
            1 for a in ordered[:index] if a.acked_at is not None and a.acked_at <= b.intended
        )
        if b.seq not in first or before == 0:
            continue
        if latest[before - 1] > first[b.seq]:
            verdict.out_of_order += 1
            _note(verdict, "out_of_order", b.seq)


def judge_texts(sent: Sequence[str], received: Sequence[str]) -> Verdict:
    """One conversation whose messages were each acknowledged before the next was sent, so
    all of its order is owed: the verdict is clean exactly when `received == sent`.

    The k-th arrival of a text is taken as the k-th message sent with that text; arrivals
    beyond those, and texts never sent, count as duplicates.
    """
    seqs: dict[str, list[int]] = defaultdict(list)
    for seq, text in enumerate(sent):
        seqs[text].append(seq)
    # Sent at `seq`, acknowledged half a tick later, before the next one went out.
    messages = [Sent(seq, "", seq, float(seq), seq + 0.5) for seq in range(len(sent))]
    arrivals: list[Arrival] = []
    taken: Counter[str] = Counter()
    strays = 0
    for at, text in enumerate(received):
        owners = seqs.get(text)
        if not owners:
            strays += 1
            continue
        arrivals.append(Arrival(owners[min(taken[text], len(owners) - 1)], float(len(sent) + at)))
        taken[text] += 1
    verdict = judge(messages, arrivals)
    verdict.duplicates += strays
    return verdict
