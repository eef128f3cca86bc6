"""Routing rules: which rule a Slack message falls under, whether its business hours are open,
and the custom attributes an Architect flow routes on.

Pure: no network, no database; the clock is passed in. Rules are tried in a stated order: the
message's channel, then a Slack Connect organisation the channel is shared with, then "all
DMs" for a DM, then the default. No rule matching means today's behaviour: the integration
chosen on the settings page for that kind of conversation, with no hints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MatchKind = Literal["channel", "connect_org", "dms", "default"]
# The order rules are tried in, most specific first.
ORDER: tuple[MatchKind, ...] = ("channel", "connect_org", "dms", "default")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Custom attribute names (documented in docs/external-contracts.md and infra/genesys/README.md).
RULE_ATTRIBUTE = "routingRule"
QUEUE_ATTRIBUTE = "routingQueue"
LANGUAGE_ATTRIBUTE = "routingLanguage"
SKILLS_ATTRIBUTE = "routingSkills"
PRIORITY_ATTRIBUTE = "routingPriority"
AFTER_HOURS_ATTRIBUTE = "afterHours"


def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called `name`, or None if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class BusinessHours:
    """Open from `opens` to `closes` local time on `days` (0 Monday … 6 Sunday). `closes` at
    or before `opens` spans midnight (the window belongs to the day it opens); equal times
    mean the whole day."""

    days: frozenset[int]
    opens: time
    closes: time
    time_zone: str

    def _zone(self) -> ZoneInfo:
        return zone(self.time_zone) or ZoneInfo("UTC")

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self._zone())
        now, today = local.time().replace(tzinfo=None), local.weekday()
        yesterday = (today - 1) % 7
        if self.opens == self.closes:
            return today in self.days
        if self.opens < self.closes:
            return today in self.days and self.opens <= now < self.closes
        return (today in self.days and now >= self.opens) or (
            yesterday in self.days and now < self.closes
        )

    def next_opening(self, moment: datetime) -> datetime:
        """The first opening after `moment` (UTC): the end of the closed period it is in."""
        tz = self._zone()
        local = moment.astimezone(tz)
        opens = time(0, 0) if self.opens == self.closes else self.opens
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            candidate = datetime.combine(day, opens, tzinfo=tz)
            if candidate > local:
                return candidate.astimezone(UTC)
        return (local + timedelta(days=7)).astimezone(UTC)  # no days: never reached

    def describe(self) -> str:
        days = ", ".join(DAY_NAMES[d] for d in sorted(self.days))
        return f"{days} {self.opens:%H:%M}-{self.closes:%H:%M} {self.time_zone}"


@dataclass(frozen=True)
class Rule:
    kind: MatchKind
    match_id: str = ""
    integration_id: str | None = None
    queue: str | None = None
    language: str | None = None
    skills: tuple[str, ...] = ()
    priority: int | None = None
    hours: BusinessHours | None = None


@dataclass(frozen=True)
class Routing:
    """What delivery does with one customer message."""

    rule: Rule | None
    after_hours: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


def choose(
    rules: Iterable[Rule],
    *,
    conversation_kind: str,
    channel_id: str,
    connect_org_ids: Sequence[str] = (),
) -> Rule | None:
    """The first matching rule in `ORDER`; None when none matches."""
    by_kind: dict[str, list[Rule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, []).append(rule)
    for rule in by_kind.get("channel", []):
        if conversation_kind == "thread" and rule.match_id == channel_id:
            return rule
    for org in connect_org_ids:
        for rule in by_kind.get("connect_org", []):
            if rule.match_id == org:
                return rule
    if conversation_kind == "dm" and by_kind.get("dms"):
        return by_kind["dms"][0]
    return by_kind["default"][0] if by_kind.get("default") else None


def route(
    rules: Iterable[Rule],
    *,
    conversation_kind: str,
    channel_id: str,
    connect_org_ids: Sequence[str] = (),
    written_at: datetime,
) -> Routing:
    """The rule for a message written at `written_at`, and the attributes it adds."""
    rule = choose(
        rules,
        conversation_kind=conversation_kind,
        channel_id=channel_id,
        connect_org_ids=connect_org_ids,
    )
    after_hours = bool(rule and rule.hours and not rule.hours.is_open(written_at))
    attributes: dict[str, str] = {RULE_ATTRIBUTE: rule.kind if rule else "default"}
    if rule is not None:
        hints = {
            QUEUE_ATTRIBUTE: rule.queue,
            LANGUAGE_ATTRIBUTE: rule.language,
            SKILLS_ATTRIBUTE: ",".join(rule.skills) or None,
            PRIORITY_ATTRIBUTE: str(rule.priority) if rule.priority is not None else None,
        }
        attributes.update({k: v for k, v in hints.items() if v})
    if after_hours:
        attributes[AFTER_HOURS_ATTRIBUTE] = "true"
    return Routing(rule, after_hours, attributes)
