"""An agent's file through the flush loop, with fakes at the ports: downloaded through the
Genesys port, shared through Slack's upload flow in one message that carries the agent's
words, and on failure retried, or replaced by a notice with a Failed receipt."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bridge import dead_letters
from app.bridge.delivery import Delivery
from app.bridge.file_links import FileLinks
from app.bridge.ingest import Ingest
from app.bridge.messages import IngestOutcomeKind, Kind, Status
from app.bridge.notices import AGENT_FILE_PASSED_ON_LATER
from app.bridge.retries import RetryLater
from app.bridge.to_slack import AGENT_FILE_MAX_BYTES
from app.crypto import SecretBox
from app.genesys.errors import GenesysUnavailable
from app.slack.errors import SlackRejected
from tests.bridge.conftest import Onboarded
from tests.bridge.test_delivery import THREAD_KEY, flush, latest, reread
from tests.bridge.test_ingest import ROOT_TS, agent_text, rows, webhook
from tests.fakes import FakeGenesys, FakeSlack, FakeTokens

Sessions = async_sessionmaker[AsyncSession]
URL = "https://api-downloads.mypurecloud.com/api/v2/downloads/dl-1"


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
def genesys() -> FakeGenesys:
    return FakeGenesys(media={URL: b"%PDF-1.4 tiny"})


@pytest.fixture
def delivery(
    sessions: Sessions, box: SecretBox, slack: FakeSlack, genesys: FakeGenesys
) -> Delivery:
    return Delivery(
        sessions=sessions,
        box=box,
        slack=slack,
        genesys=genesys,
        tokens=FakeTokens(),
        file_links=FileLinks.from_keys(box, base_url="https://sb.test"),
    )


def agent_file(integration_id: str, *, text: str = "", size: int | None = None) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "id": "dl-1",
        "mediaType": "File",
        "mime": "application/pdf",
        "filename": "../quote <v2>.pdf",
        "url": URL,
    }
    if size is not None:
        attachment["contentSizeBytes"] = size
    payload = agent_text(integration_id, THREAD_KEY, id=str(uuid.uuid4()), text=text)
    payload["content"] = [{"contentType": "Attachment", "attachment": attachment}]
    return payload


async def an_agent_file(sessions: Sessions, box: SecretBox, onboarded: Onboarded, **kw: Any) -> Any:
    ingest = Ingest(sessions=sessions, box=box)
    payload = agent_file(onboarded.integration.genesys_integration_id, **kw)
    assert (await webhook(ingest, payload)).kind == IngestOutcomeKind.ACCEPTED
    return await latest(sessions)


async def test_the_file_is_shared_in_the_thread_with_the_agents_words(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    row = await an_agent_file(sessions, box, onboarded, text="Here is <your> quote")
    await flush(delivery, row)

    [(channel, thread_ts, files, comment)] = slack.uploads
    assert (channel, thread_ts) == ("C0SUPPORT", ROOT_TS)
    assert [(f.filename, f.content) for f in files] == [("_quote <v2>.pdf", b"%PDF-1.4 tiny")]
    assert comment == "Here is &lt;your&gt; quote"
    assert slack.posted == []
    done = await reread(sessions, row.id)
    assert done.status == Status.DELIVERED
    [receipt] = genesys.sent
    assert receipt.body["status"] == "Delivered"


async def test_a_file_over_the_cap_is_not_fetched_and_leaves_a_notice(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    genesys.media.clear()  # a download would fail differently
    row = await an_agent_file(
        sessions, box, onboarded, text="The big one", size=AGENT_FILE_MAX_BYTES + 1
    )
    await flush(delivery, row)

    dead = await reread(sessions, row.id)
    assert (dead.status, dead.last_error) == (Status.DEAD, "file_too_large")
    [notice] = slack.posted
    assert notice.thread_ts == ROOT_TS
    assert notice.text.startswith("The big one\n\n:warning: Support sent _quote &lt;v2&gt;.pdf")
    [receipt] = genesys.sent
    assert receipt.body["status"] == "Failed"
    assert receipt.body["reasons"][0]["code"] == "InvalidMediaContentLength"
    kinds = [(r.kind, r.status) for r in await rows(sessions)]
    assert (Kind.NOTICE, Status.DELIVERED) in kinds


async def test_a_download_outage_is_retried_and_then_delivered_once(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    row = await an_agent_file(sessions, box, onboarded)
    genesys.download_failures.append(GenesysUnavailable("down", status=503))
    with pytest.raises(RetryLater):
        await flush(delivery, row)
    waiting = await reread(sessions, row.id)
    assert (waiting.status, waiting.last_error) == (
        Status.PENDING,
        "genesys_download:GenesysUnavailable",
    )
    assert slack.uploads == [] and slack.posted == []

    await flush(delivery, row)
    assert len(slack.uploads) == 1
    assert (await reread(sessions, row.id)).status == Status.DELIVERED


async def test_slack_refusing_the_upload_leaves_a_notice_and_a_failed_receipt(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    row = await an_agent_file(sessions, box, onboarded)
    slack.upload_failures.append(SlackRejected("missing_scope"))
    await flush(delivery, row)

    dead = await reread(sessions, row.id)
    assert (dead.status, dead.last_error) == (Status.DEAD, "slack:missing_scope")
    [notice] = slack.posted
    assert "could not be passed on here" in notice.text
    [receipt] = genesys.sent
    assert receipt.body["status"] == "Failed"
    assert receipt.body["reasons"][0] == {
        "code": "GeneralError",
        "message": "Slack refused the file (missing_scope)",
    }


async def test_a_replayed_file_turns_its_notice_around(
    sessions: Sessions,
    box: SecretBox,
    onboarded: Onboarded,
    delivery: Delivery,
    slack: FakeSlack,
    genesys: FakeGenesys,
) -> None:
    row = await an_agent_file(sessions, box, onboarded)
    slack.upload_failures.append(SlackRejected("missing_scope"))
    await flush(delivery, row)
    [notice] = slack.posted
    assert "could not be passed on" in notice.text

    async with sessions.begin() as session:
        replayed = await dead_letters.replay(session, message_ids=[row.id])
    assert replayed.messages == 1
    await flush(delivery, row)

    assert len(slack.uploads) == 1
    assert (await reread(sessions, row.id)).status == Status.DELIVERED
    [(_, _, text)] = slack.updated
    assert text == AGENT_FILE_PASSED_ON_LATER
