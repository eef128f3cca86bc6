"""The routing rules page's side of things: what an admin can pick, and saving what they picked.

Channels are offered by name from Slack's channel list (`conversations.list`, cached by the
Slack adapter), Slack Connect organisations from the channels shared with them, integrations
from the tenant's own. Every input is checked here and refused with a sentence per field
(`FieldErrors`); each change is audited with IDs and field names only. Delivery reads the
rules (`store.routing_rules`), so a change applies to every message not sent yet.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import rules
from app.bridge.ports import SlackChannels
from app.bridge.store import rule_of
from app.crypto import SecretBox
from app.db.models import RoutingRule, Tenant
from app.slack.directory import ChannelChoice
from app.slack.errors import SlackError
from app.tenants import store as tenants_store
from app.tenants.integrations import FieldErrors
from app.tenants.purposes import SLACK_BOT_TOKEN

MAX_QUEUE_LENGTH = 200
MAX_SKILLS = 20
MAX_SKILL_LENGTH = 100
MAX_PRIORITY = 999
MAX_AWAY_MESSAGE_LENGTH = 1000
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::00)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MATCH_LABELS = {
    "dms": "All DMs",
    "default": "Everything else (default)",
}


@dataclass(frozen=True)
class Choices:
    """What the page offers: `matches` maps a form value to its label."""

    channels: list[ChannelChoice] = field(default_factory=list)
    orgs: dict[str, str] = field(default_factory=dict)
    integrations: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def matches(self) -> dict[str, str]:
        found = {f"channel:{c.slack_channel_id}": f"#{c.name}" for c in self.channels}
        found.update(
            {f"connect_org:{t}": f"{name} (Slack Connect)" for t, name in self.orgs.items()}
        )
        found.update(MATCH_LABELS)
        return found


@dataclass(frozen=True)
class RuleView:
    id: uuid.UUID
    order: int
    match_kind: str
    match_label: str
    integration_label: str
    hints: str
    hours: str


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clock(value: str) -> time | None:
    match = _CLOCK.fullmatch(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_rule(
    form: Mapping[str, object], days: Sequence[object], choices: Choices
) -> dict[str, object]:
    """The columns of a rule from the form, or `FieldErrors` naming each bad field."""
    errors: dict[str, str] = {}
    match = _text(form.get("match"))
    kind, _, match_id = match.partition(":")
    if match not in choices.matches or kind not in rules.ORDER:
        errors["match"] = "Choose a channel, a Slack Connect organisation, all DMs or the default."
    integration = _text(form.get("integration"))
    if integration and integration not in choices.integrations:
        errors["integration"] = "Choose one of this workspace's Open Messaging integrations."
    queue = _text(form.get("queue"))
    if len(queue) > MAX_QUEUE_LENGTH or _CONTROL.search(queue):
        errors["queue"] = f"A queue name is one line of at most {MAX_QUEUE_LENGTH} characters."
    language = _text(form.get("language"))
    if language and (len(language) > 35 or not _LANGUAGE.fullmatch(language)):
        errors["language"] = "Write a language tag such as en, en-US or fr-CA."
    skills = [s.strip() for s in _text(form.get("skills")).split(",") if s.strip()]
    if len(skills) > MAX_SKILLS or any(
        len(s) > MAX_SKILL_LENGTH or _CONTROL.search(s) for s in skills
    ):
        errors["skills"] = (
            f"List at most {MAX_SKILLS} skills, separated by commas, "
            f"each at most {MAX_SKILL_LENGTH} characters."
        )
    priority_text = _text(form.get("priority"))
    priority: int | None = None
    if priority_text:
        if priority_text.isdigit() and int(priority_text) <= MAX_PRIORITY:
            priority = int(priority_text)
        else:
            errors["priority"] = f"A priority is a whole number from 0 to {MAX_PRIORITY}."
    chosen_days = sorted(
        {int(d) for d in days if isinstance(d, str) and d.isdigit() and int(d) < 7}
    )
    if len(chosen_days) != len({d for d in days if isinstance(d, str)}):
        errors["hours"] = "Days are Monday to Sunday."
    opens_text, closes_text = _text(form.get("hours_from")), _text(form.get("hours_to"))
    zone_name = _text(form.get("time_zone"))
    opens, closes = _clock(opens_text), _clock(closes_text)
    if chosen_days:
        if opens is None or closes is None:
            errors["hours"] = "Give the opening and closing times as HH:MM (24-hour clock)."
        elif not zone_name or len(zone_name) > 64 or rules.zone(zone_name) is None:
            errors["time_zone"] = "Write an IANA time zone such as Europe/Paris or UTC."
    elif opens_text or closes_text:
        errors["hours"] = "Tick the days the business hours apply to, or leave the times empty."
    if errors:
        raise FieldErrors(errors)
    name = choices.matches[match]
    return {
        "match_kind": kind,
        "match_id": match_id,
        "match_name": (choices.orgs.get(match_id, "") if kind == "connect_org" else name)[:200],
        "genesys_integration_id": integration or None,
        "queue": queue or None,
        "language": language or None,
        "skills": skills,
        "priority": priority,
        "hours_days": chosen_days,
        "hours_from": opens if chosen_days else None,
        "hours_to": closes if chosen_days else None,
        "time_zone": zone_name if chosen_days else None,
    }


def describe(row: RoutingRule, integrations: Mapping[str, str]) -> RuleView:
    rule = rule_of(row)
    hints = [
        f"{label}: {value}"
        for label, value in (
            ("queue", row.queue),
            ("language", row.language),
            ("skills", ", ".join(row.skills)),
            ("priority", None if row.priority is None else str(row.priority)),
        )
        if value
    ]
    if row.match_kind == "channel":
        label = row.match_name or row.match_id
    elif row.match_kind == "connect_org":
        label = f"{row.match_name or row.match_id} (Slack Connect)"
    else:
        label = MATCH_LABELS[row.match_kind]
    integration = row.genesys_integration_id
    return RuleView(
        id=row.id,
        order=rules.ORDER.index(rule.kind) + 1,
        match_kind=row.match_kind,
        match_label=label,
        integration_label=(
            integrations.get(integration, integration)
            if integration
            else "As chosen on the settings page"
        ),
        hints="; ".join(hints) or "none",
        hours=rule.hours.describe() if rule.hours else "always open",
    )


class RoutingSetup:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox, slack: SlackChannels
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._slack = slack

    async def choices(self, tenant_id: uuid.UUID, *, refresh: bool = False) -> Choices:
        async with self._sessions() as session:
            installation = await tenants_store.get_installation(session, tenant_id=tenant_id)
            rows = await tenants_store.list_tenant_integrations(
                session, tenant_id=tenant_id, include_previous=True
            )
        integrations = {r.genesys_integration_id: r.name or r.genesys_integration_id for r in rows}
        if installation is None or installation.bot_token_enc is None:
            return Choices(integrations=integrations, problem="Slack is not installed.")
        token = self._box.decrypt(
            installation.bot_token_enc, tenant_id=tenant_id, purpose=SLACK_BOT_TOKEN
        )
        scope = (
            installation.slack_enterprise_id
            if installation.is_enterprise_install
            else installation.slack_team_id
        ) or ""
        try:
            channels = await self._slack.list_channels(
                token, team_id=installation.slack_team_id, scope=scope, refresh=refresh
            )
        except SlackError as exc:
            return Choices(
                integrations=integrations,
                problem=f"Slack did not list the channels ({exc.error}); "
                "DM and default rules can still be saved.",
            )
        orgs: dict[str, str] = {}
        for channel in channels:
            for org in channel.connect_orgs:
                orgs.setdefault(org.slack_team_id, org.name or org.slack_team_id)
        return Choices(channels=channels, orgs=orgs, integrations=integrations)

    async def overview(
        self, tenant_id: uuid.UUID, integrations: Mapping[str, str]
    ) -> tuple[list[RuleView], str | None]:
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(RoutingRule).where(RoutingRule.tenant_id == tenant_id)
                    )
                )
                .scalars()
                .all()
            )
            away = (
                await session.execute(select(Tenant.away_message).where(Tenant.id == tenant_id))
            ).scalar_one_or_none()
        views = sorted(
            (describe(row, integrations) for row in rows), key=lambda v: (v.order, v.match_label)
        )
        return views, away

    async def rule_form(self, tenant_id: uuid.UUID, rule_id: str) -> dict[str, object] | None:
        """A saved rule as the form's entries, to change it; None if the tenant has no such
        rule."""
        try:
            wanted = uuid.UUID(rule_id)
        except ValueError:
            return None
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(RoutingRule).where(
                        RoutingRule.tenant_id == tenant_id, RoutingRule.id == wanted
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            return None
        clock = "{:%H:%M}".format
        return {
            "match": f"{row.match_kind}:{row.match_id}" if row.match_id else row.match_kind,
            "integration": row.genesys_integration_id or "",
            "queue": row.queue or "",
            "language": row.language or "",
            "skills": ", ".join(row.skills),
            "priority": "" if row.priority is None else str(row.priority),
            "days": [str(d) for d in row.hours_days],
            "hours_from": clock(row.hours_from) if row.hours_from else "",
            "hours_to": clock(row.hours_to) if row.hours_to else "",
            "time_zone": row.time_zone or "",
        }

    async def save_rule(
        self,
        *,
        tenant_id: uuid.UUID,
        actor_slack_user_id: str,
        form: Mapping[str, object],
        days: Sequence[object],
        choices: Choices,
    ) -> None:
        values = parse_rule(form, days, choices)
        async with self._sessions.begin() as session:
            integration = values["genesys_integration_id"]
            if integration is not None:
                owner = await tenants_store.integration_owner(
                    session, genesys_integration_id=str(integration)
                )
                if owner != tenant_id:
                    raise FieldErrors(
                        {"integration": "Choose one of this workspace's integrations."}
                    )
            inserting = insert(RoutingRule).values(tenant_id=tenant_id, **values)
            statement = inserting.on_conflict_do_update(
                index_elements=["tenant_id", "match_kind", "match_id"],
                set_={
                    k: inserting.excluded[k] for k in values if k not in ("match_kind", "match_id")
                }
                | {"updated_at": func.now()},
            ).returning(RoutingRule.id)
            rule_id = (await session.execute(statement)).scalar_one()
            await tenants_store.record_audit(
                session,
                tenant_id=tenant_id,
                action="routing.rule_saved",
                actor_slack_user_id=actor_slack_user_id,
                fields=[f"rule:{rule_id}", f"match:{values['match_kind']}"]
                + [k for k, v in values.items() if v and k not in ("match_kind", "match_id")],
            )

    async def delete_rule(
        self, *, tenant_id: uuid.UUID, actor_slack_user_id: str, rule_id: uuid.UUID
    ) -> bool:
        async with self._sessions.begin() as session:
            gone = (
                await session.execute(
                    delete(RoutingRule)
                    .where(RoutingRule.tenant_id == tenant_id, RoutingRule.id == rule_id)
                    .returning(RoutingRule.match_kind)
                )
            ).scalar_one_or_none()
            if gone is None:
                return False
            await tenants_store.record_audit(
                session,
                tenant_id=tenant_id,
                action="routing.rule_deleted",
                actor_slack_user_id=actor_slack_user_id,
                fields=[f"rule:{rule_id}", f"match:{gone}"],
            )
        return True

    async def save_away_message(
        self, *, tenant_id: uuid.UUID, actor_slack_user_id: str, text: object
    ) -> None:
        message = text.strip() if isinstance(text, str) else ""
        if len(message) > MAX_AWAY_MESSAGE_LENGTH or "\x00" in message:
            raise FieldErrors(
                {
                    "away_message": "The away message is at most "
                    f"{MAX_AWAY_MESSAGE_LENGTH} characters."
                }
            )
        async with self._sessions.begin() as session:
            await session.execute(
                update(Tenant).where(Tenant.id == tenant_id).values(away_message=message or None)
            )
            await tenants_store.record_audit(
                session,
                tenant_id=tenant_id,
                action="routing.away_message_saved",
                actor_slack_user_id=actor_slack_user_id,
                fields=["away_message"],
            )
