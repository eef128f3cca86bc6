"""A customer's message with files, through the flush loop with fakes at the ports: the text,
then one message per file, each with its own stable `messageId`; a retry after a partial
failure resends nothing Genesys took; refused files are named and the customer told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge.delivery import Delivery
from app.bridge.file_links import FileLinks, LinkCheck
from app.bridge.ingest import Ingest
from app.bridge.messages import IngestOutcomeKind, Status
from app.bridge.retries import RetryLater
from app.crypto import SecretBox
from app.db.models import BridgeMessage, SlackInstallation
from app.genesys.errors import GenesysUnavailable
from app.genesys.messages import InboundAccepted
from app.slack.files import SlackFileInfo
from tests.bridge.conftest import Onboarded
from tests.bridge.test_delivery import flush, latest, reread
from tests.bridge.test_ingest import ROOT_TS, envelope, mention
from tests.fakes import FakeGenesys, FakeSlack

Sessions = async_sessionmaker[AsyncSession]
BASE = "https://sb.test"


@dataclass
class FailingOnce(FakeGenesys):
    """Fails the `fail_at`-th inbound message once (1-based), as a 503."""

    fail_at: int = 0
    calls: int = 0

    async def send_inbound_message(
        self, tenant_id: Any, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        self.calls += 1
        if self.calls == self.fail_at:
            raise GenesysUnavailable("503 from Genesys", status=503)
        return await super().send_inbound_message(tenant_id, integration_id, body)


def with_files(*files: tuple[str, str, str, int]) -> dict[str, Any]:
    event = mention("<@U0BOT> see attached")
    event["files"] = [
        {"id": file_id, "name": name, "mimetype": mime, "size": size}
        for file_id, name, mime, size in files
    ]
    return event


async def ingest(sessions: Sessions, box: SecretBox, event: dict[str, Any]) -> BridgeMessage:
    outcome = await Ingest(sessions=sessions, box=box).slack_event(envelope(event))
    assert outcome.kind == IngestOutcomeKind.ACCEPTED
    return await latest(sessions)


@pytest.fixture
async def readable(sessions: Sessions, onboarded: Onboarded) -> Onboarded:
    async with sessions.begin() as session:
        await session.execute(
            update(SlackInstallation)
            .where(SlackInstallation.tenant_id == onboarded.tenant.id)
            .values(bot_scopes=["chat:write", "files:read"])
        )
    return onboarded


def delivery_with(
    sessions: Sessions, box: SecretBox, genesys: FakeGenesys, slack: FakeSlack
) -> Delivery:
    return Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        file_links=FileLinks.from_keys(box, base_url=BASE),
    )


async def test_text_then_one_message_per_file_with_signed_links(
    sessions: Sessions, box: SecretBox, readable: Onboarded
) -> None:
    genesys, slack = FakeGenesys(), FakeSlack()
    row = await ingest(
        sessions,
        box,
        with_files(("F0PNG", "a.png", "image/png", 10), ("F0PDF", "b.pdf", "application/pdf", 20)),
    )

    await flush(delivery_with(sessions, box, genesys, slack), row)

    bodies = [s.body for s in genesys.sent]
    assert [b["channel"]["messageId"] for b in bodies] == [
        row.dedupe_key,
        f"{row.dedupe_key}:file:1",
        f"{row.dedupe_key}:file:2",
    ]
    assert bodies[0]["text"] == "see attached" and "content" not in bodies[0]
    links = FileLinks.from_keys(box, base_url=BASE)
    for body, file_id in zip(bodies[1:], ("F0PNG", "F0PDF"), strict=True):
        (item,) = body["content"]
        url = urlsplit(item["attachment"]["url"])
        query = dict(part.split("=", 1) for part in url.query.split("&"))
        assert url.path == f"/files/{readable.tenant.id}/{file_id}"
        assert (
            links.check(
                tenant_id=str(readable.tenant.id),
                slack_file_id=file_id,
                expires=query["expires"],
                signature=query["sig"],
            )
            == LinkCheck.VALID
        )
    done = await reread(sessions, row.id)
    assert (done.status, done.parts_sent, done.genesys_message_id) == (
        Status.DELIVERED,
        3,
        "gm-1",
    )
    assert slack.posted == []


async def test_a_retry_resumes_after_the_parts_genesys_took(
    sessions: Sessions, box: SecretBox, readable: Onboarded
) -> None:
    genesys, slack = FailingOnce(fail_at=2), FakeSlack()
    row = await ingest(
        sessions,
        box,
        with_files(("F0PNG", "a.png", "image/png", 10), ("F0PDF", "b.pdf", "application/pdf", 20)),
    )
    delivery = delivery_with(sessions, box, genesys, slack)

    with pytest.raises(RetryLater):
        await flush(delivery, row)
    waiting = await reread(sessions, row.id)
    assert (waiting.status, waiting.parts_sent, waiting.genesys_message_id) == (
        Status.PENDING,
        1,
        "gm-1",
    )
    await flush(delivery, row)

    ids = [s.body["channel"]["messageId"] for s in genesys.sent]
    assert ids == [row.dedupe_key, f"{row.dedupe_key}:file:1", f"{row.dedupe_key}:file:2"]
    done = await reread(sessions, row.id)
    assert (done.status, done.parts_sent, done.genesys_message_id) == (
        Status.DELIVERED,
        3,
        "gm-1",
    )


async def test_an_oversized_file_is_named_and_the_customer_told(
    sessions: Sessions, box: SecretBox, readable: Onboarded
) -> None:
    genesys, slack = FakeGenesys(), FakeSlack()
    row = await ingest(
        sessions,
        box,
        with_files(
            ("F0BIG", "huge.mov", "video/quicktime", 25_000_001), ("F0OK", "ok.png", "image/png", 5)
        ),
    )

    await flush(delivery_with(sessions, box, genesys, slack), row)

    bodies = [s.body for s in genesys.sent]
    assert len(bodies) == 2
    assert "huge.mov (over the 25 MB limit)" in bodies[0]["text"]
    assert bodies[1]["content"][0]["attachment"]["filename"] == "ok.png"
    assert len(slack.posted) == 1
    assert "huge.mov" in slack.posted[0].text
    assert (slack.posted[0].channel, slack.posted[0].thread_ts) == ("C0SUPPORT", ROOT_TS)
    assert (await reread(sessions, row.id)).parts_sent == 3


async def test_slack_connect_stubs_are_completed_from_files_info(
    sessions: Sessions, box: SecretBox, readable: Onboarded
) -> None:
    genesys, slack = FakeGenesys(), FakeSlack()
    slack.files = {
        "F0CV": SlackFileInfo("F0CV", "cv.pdf", "application/pdf", 1200, "https://f/x", True),
        "F0BIG": SlackFileInfo("F0BIG", "big.zip", "application/zip", 26_000_000, None, True),
    }
    event = mention("<@U0BOT> from a shared channel")
    event["files"] = [
        {"id": "F0CV", "file_access": "check_file_info"},
        {"id": "F0BIG", "file_access": "check_file_info"},
    ]
    row = await ingest(sessions, box, event)

    await flush(delivery_with(sessions, box, genesys, slack), row)

    text, cv = (s.body for s in genesys.sent)
    assert "big.zip (over the 25 MB limit)" in text["text"]
    attachment = cv["content"][0]["attachment"]
    assert (attachment["filename"], attachment["mime"], attachment["mediaType"]) == (
        "cv.pdf",
        "application/pdf",
        "File",
    )
    assert [p.text for p in slack.posted] and "big.zip" in slack.posted[0].text
