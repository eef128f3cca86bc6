"""The workspace's people by name, for the privacy page's picker (`users.list`, cached).

Only names and IDs are kept, in this process's memory for `PEOPLE_TTL_SECONDS`; bots, deleted
accounts and Slackbot are left out. An erasure drops the person from the cached list at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError

from app.config import Settings
from app.slack.app import build_web_client
from app.slack.errors import error_for_exception

PEOPLE_TTL_SECONDS = 300.0
# Slack recommends no more than 200 per page (docs/external-contracts.md, users.list).
PAGE_SIZE = 200
# A workspace larger than this is not listed in full; the picker says so.
MAX_PEOPLE = 5000
SLACKBOT = "USLACKBOT"


@dataclass(frozen=True)
class SlackPerson:
    slack_user_id: str
    name: str


@dataclass(frozen=True)
class People:
    people: list[SlackPerson]
    complete: bool


class PeopleDirectory:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cache: dict[str, tuple[float, People]] = {}

    async def list(self, *, cache_key: str, token: str, team_id: str | None) -> People:
        """Everyone in the workspace, sorted by name. Failures raise `SlackError`."""
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        client = build_web_client(self._settings, token)
        found: list[SlackPerson] = []
        cursor: str | None = None
        complete = False
        try:
            while len(found) < MAX_PEOPLE:
                page = (
                    await client.users_list(limit=PAGE_SIZE, cursor=cursor, team_id=team_id)
                ).data
                assert isinstance(page, dict)
                for member in page.get("members") or []:
                    person = _person(member)
                    if person is not None:
                        found.append(person)
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    complete = True
                    break
        except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
            raise error_for_exception(exc) from None
        people = People(sorted(found, key=lambda p: (p.name.casefold(), p.slack_user_id)), complete)
        self._cache[cache_key] = (time.monotonic() + PEOPLE_TTL_SECONDS, people)
        return people

    def forget(self, cache_key: str, slack_user_id: str) -> None:
        cached = self._cache.get(cache_key)
        if cached is not None:
            kept = [p for p in cached[1].people if p.slack_user_id != slack_user_id]
            self._cache[cache_key] = (cached[0], People(kept, cached[1].complete))


def _person(member: object) -> SlackPerson | None:
    if not isinstance(member, dict):
        return None
    user_id = member.get("id")
    if not isinstance(user_id, str) or user_id == SLACKBOT:
        return None
    if member.get("deleted") or member.get("is_bot"):
        return None
    profile = member.get("profile") if isinstance(member.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    name = (
        member.get("real_name")
        or profile.get("real_name")
        or profile.get("display_name")
        or member.get("name")
        or user_id
    )
    return SlackPerson(slack_user_id=user_id, name=str(name))
