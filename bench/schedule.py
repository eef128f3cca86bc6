"""The open-loop schedule: which message goes where, and when it is *meant* to be sent.

Open loop means the sending instants are fixed before the run and never wait for answers, so
a slow reply cannot hold back the next request and hide its own cost (coordinated omission).
Latency is measured from these intended instants. Messages go round-robin over the
conversations, so each conversation receives an evenly spaced sequence whose order can be
checked after the drain. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["to_genesys", "to_slack"]
ConversationKind = Literal["thread", "dm"]
BadKind = Literal["unsigned", "tampered", "stale", "bad_hmac"]
SLACK_BAD_KINDS: tuple[BadKind, ...] = ("unsigned", "tampered", "stale")


@dataclass(frozen=True)
class ConversationSpec:
    """Conversation `index` of a phase: a Slack thread in a bench channel, or a DM with a
    bench user. `slot` indexes the tenant's channel (thread) or user (DM) pool."""

    index: int
    tenant: int
    kind: ConversationKind
    slot: int


@dataclass(frozen=True)
class Planned:
    """One message to send. `position` orders the good messages of one conversation and
    direction; bad (unsigned or mis-signed) messages have `bad` set and no position."""

    seq: int
    direction: Direction
    conversation: int
    at: float
    position: int
    bad: BadKind | None = None


def offsets(rate: float, duration: float) -> list[float]:
    """Evenly spaced instants (seconds from the start) for `rate` per second over `duration`."""
    if rate <= 0 or duration <= 0:
        return []
    count = math.floor(rate * duration + 1e-9)
    return [i / rate for i in range(count)]


def conversations(count: int, *, tenants: int, channels: int, users: int) -> list[ConversationSpec]:
    """`count` conversations, alternating thread and DM, spread round-robin over tenants.

    Threads may share a channel (Slack posts are limited per channel, so spread them); a DM
    is one user's, so there must be a user per DM conversation of each tenant.
    """
    if tenants < 1 or channels < 1 or users < 1:
        raise ValueError("need at least one tenant, channel and user")
    specs: list[ConversationSpec] = []
    used: dict[tuple[int, ConversationKind], int] = {}
    for index in range(count):
        tenant = index % tenants
        kind: ConversationKind = "thread" if (index // tenants) % 2 == 0 else "dm"
        n = used.get((tenant, kind), 0)
        used[(tenant, kind)] = n + 1
        if kind == "dm" and n >= users:
            raise ValueError(f"{n + 1} DM conversations for a tenant but only {users} users")
        specs.append(ConversationSpec(index, tenant, kind, n % channels if kind == "thread" else n))
    return specs


def plan(
    *,
    first_seq: int,
    to_genesys_rate: float,
    to_slack_rate: float,
    duration: float,
    conversation_count: int,
    bad_every: int = 0,
) -> list[Planned]:
    """Both directions merged in time order. Every `bad_every`-th message of a direction is
    bad load (Slack: unsigned, tampered, stale in turn; Genesys: a wrong HMAC)."""
    if conversation_count < 1:
        raise ValueError("need at least one conversation")
    planned: list[Planned] = []
    seq = first_seq
    streams: tuple[tuple[Direction, float], ...] = (
        ("to_genesys", to_genesys_rate),
        ("to_slack", to_slack_rate),
    )
    for direction, rate in streams:
        positions: dict[int, int] = {}
        good = 0
        bad_count = 0
        for i, at in enumerate(offsets(rate, duration)):
            if bad_every and i % bad_every == bad_every - 1:
                kind: BadKind = (
                    SLACK_BAD_KINDS[bad_count % len(SLACK_BAD_KINDS)]
                    if direction == "to_genesys"
                    else "bad_hmac"
                )
                bad_count += 1
                conversation = i % conversation_count
                planned.append(Planned(seq, direction, conversation, at, -1, kind))
            else:
                conversation = good % conversation_count
                position = positions.get(conversation, 0)
                positions[conversation] = position + 1
                good += 1
                planned.append(Planned(seq, direction, conversation, at, position))
            seq += 1
    planned.sort(key=lambda p: (p.at, p.seq))
    return planned


@dataclass(frozen=True)
class Timestamps:
    """Slack `ts` of every customer message, and each thread conversation's root `ts`."""

    message_ts: dict[int, str]
    thread_ts: dict[int, str]


def to_slack_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def assign_ts(
    planned: Sequence[Planned], specs: Sequence[ConversationSpec], *, start_epoch: float
) -> Timestamps:
    """Slack `ts` values from the intended send instants: unique and increasing, so each
    conversation's source order is its send order. A thread's root is its first customer
    message; a thread that gets only agent replies still needs a root, so it gets one just
    before the phase starts."""
    message_ts: dict[int, str] = {}
    last = 0
    for p in sorted(planned, key=lambda p: (p.at, p.seq)):
        if p.direction != "to_genesys":
            continue
        micros = max(int((start_epoch + p.at) * 1_000_000), last + 1)
        last = micros
        message_ts[p.seq] = to_slack_ts(micros)
    thread_ts: dict[int, str] = {}
    for p in planned:
        first = p.direction == "to_genesys" and p.bad is None and p.position == 0
        if first and specs[p.conversation].kind == "thread":
            thread_ts[p.conversation] = message_ts[p.seq]
    before = int((start_epoch - 1) * 1_000_000)
    for spec in specs:
        if spec.kind == "thread" and spec.index not in thread_ts:
            thread_ts[spec.index] = to_slack_ts(before + spec.index)
    return Timestamps(message_ts, thread_ts)
