"""Agent files → customer, end to end: an agent's attachment is downloaded from the simulated
Genesys with the tenant's token (a redirect to signed storage, which refuses the token) and
uploaded into the Slack thread or DM with Slack's external upload flow, as a Slack file with its
name and bytes; Genesys gets a Delivered receipt. A temporary failure is retried without a
duplicate; an upload that fails for good leaves a notice in the thread and a Failed receipt."""

from __future__ import annotations

from sandbox.faults import FaultSpec
from sandbox.genesys_agent import AgentReply
from sandbox.genesys_webhook import sample_pdf, sample_png
from sandbox.slack_records import SlackMessage
from tests.e2e.ledger import receipts, slack_posts
from tests.e2e.stack import System
from tests.e2e.traffic import Agents, SlackPeople, dm_id, thread_id

FILES_WRITE = "files:write"


def _files(system: System, post: SlackMessage) -> list[tuple[str, str, bytes]]:
    found = [system.slack.files[file_id] for file_id in post.file_ids]
    return [(f.name, f.mimetype, f.content) for f in found]


def _completed_uploads(system: System, channel: str, thread_ts: str) -> int:
    """Successful `files.completeUploadExternal` calls sharing into one thread."""
    return sum(
        1
        for c in system.slack.calls
        if c.method == "files.completeUploadExternal"
        and c.ok
        and c.params.get("channel_id") == channel
        and c.params.get("thread_ts") == thread_ts
    )


async def test_an_agent_pdf_lands_in_the_thread_as_a_slack_file(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Could you send me the invoice?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    pdf = sample_pdf("Invoice 42")
    storage_before = bridge.genesys.stats.api_calls.get("storage.get", 0)
    reports = await agents.reply(
        acme.mentions_integration_id,
        thread,
        "",
        kind="file",
        filename="invoice-42.pdf",
        content=pdf,
    )
    assert [r.outcome for r in reports] == ["delivered"]
    await bridge.drain()

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert len(posts) == 1, [p.text for p in posts]
    assert _files(bridge, posts[0]) == [("invoice-42.pdf", "application/pdf", pdf)]
    assert "api-downloads" not in posts[0].text
    # Fetched through the redirect to storage, which refuses a forwarded Genesys token.
    assert bridge.genesys.stats.api_calls.get("storage.get", 0) - storage_before == 1
    assert [r["status"] for r in receipts(bridge.genesys, reports[0].message_id)] == ["Delivered"]


async def test_an_agent_image_reaches_a_dm_and_text_after_it_keeps_its_place(
    bridge: System,
) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    dm = await slack.dm(acme, "What does the part look like?")
    direct = dm_id(acme, acme.customer)
    png = sample_png(20, 16)
    sent = await agents.reply(
        acme.dms_integration_id, direct, "", kind="attachment", filename="part.png", content=png
    )
    after = await agents.reply(acme.dms_integration_id, direct, "That is the part.")
    await bridge.drain()

    posts = slack_posts(bridge.slack, dm.slack_channel_id, None)
    bot_posts = [p for p in posts if p.ts > dm.ts]
    assert [(p.file_ids != [], p.text) for p in bot_posts] == [
        (True, ""),
        (False, "That is the part."),
    ]
    assert _files(bridge, bot_posts[0]) == [("part.png", "image/png", png)]
    for report in sent + after:
        assert [r["status"] for r in receipts(bridge.genesys, report.message_id)] == ["Delivered"]


async def test_a_temporary_failure_is_retried_without_a_second_file(bridge: System) -> None:
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "The manual, please")
    thread = thread_id(acme, acme.support_channel, root.ts)
    bridge.genesys.faults.arm(FaultSpec(route="downloads.get", kind="status", status=503, times=1))
    bridge.slack.faults.arm(FaultSpec(route="files.upload", kind="status", status=500, times=1))
    reports = await agents.reply(
        acme.mentions_integration_id, thread, "", kind="file", filename="manual.pdf"
    )
    await bridge.drain()

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert [[name for name, _, _ in _files(bridge, p)] for p in posts] == [["manual.pdf"]]
    assert _completed_uploads(bridge, acme.support_channel, root.ts) == 1
    assert [r["status"] for r in receipts(bridge.genesys, reports[0].message_id)] == ["Delivered"]


async def test_an_upload_that_fails_for_good_leaves_a_notice_and_a_failed_receipt(
    bridge: System,
) -> None:
    """The install's token lacks `files:write` (Slack answers `missing_scope`, which retrying
    cannot fix): the thread gets a notice naming the file, Genesys a Failed receipt with a
    reason, and the agent's next message still arrives after the notice."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    tokens = [t for t in bridge.slack.tokens.values() if t.slack_team_id == acme.slack_team_id]
    for token in tokens:
        token.scopes = token.scopes - {FILES_WRITE}
    try:
        root = await slack.mention(acme, "Send me the contract")
        thread = thread_id(acme, acme.support_channel, root.ts)
        failed = await agents.reply(
            acme.mentions_integration_id, thread, "", kind="file", filename="contract.pdf"
        )
        await bridge.drain()
        later = await agents.reply(acme.mentions_integration_id, thread, "Did the file arrive?")
        await bridge.drain()
    finally:
        for token in tokens:
            token.scopes = token.scopes | {FILES_WRITE}

    posts = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert len(posts) == 2, [p.text for p in posts]
    notice, text = posts
    assert notice.file_ids == [] and "contract.pdf" in notice.text
    assert "could not be passed on" in notice.text
    assert text.text == "Did the file arrive?"
    (receipt,) = receipts(bridge.genesys, failed[0].message_id)
    assert receipt["status"] == "Failed"
    reasons = receipt.get("reasons")
    assert isinstance(reasons, list) and reasons and reasons[0]["code"] == "GeneralError"
    assert "missing_scope" in str(reasons[0].get("message"))
    assert [r["status"] for r in receipts(bridge.genesys, later[0].message_id)] == ["Delivered"]


async def test_a_media_url_off_the_regions_downloads_host_is_never_fetched(
    bridge: System,
) -> None:
    """A webhook naming another host (here the simulated Slack's API) as the attachment URL:
    nothing is fetched with the tenant's token, the thread gets the notice, the agent a
    Failed receipt."""
    slack, agents = SlackPeople(bridge), Agents(bridge)
    acme = bridge.acme.spec
    root = await slack.mention(acme, "Anything for me?")
    thread = thread_id(acme, acme.support_channel, root.ts)
    await bridge.drain()
    payload = agents.agent.prepare(
        AgentReply(
            integration_id=acme.mentions_integration_id,
            to_id=thread,
            kind="file",
            filename="lure.pdf",
        ),
        base_url=bridge.sims.genesys_url,
    )
    payload["content"][0]["attachment"]["url"] = f"{bridge.sims.slack_url}/api/auth.test"
    calls_before = len(bridge.slack.calls)
    report = await agents.push(payload)
    assert report.outcome == "delivered"
    await bridge.drain()

    assert not [c for c in bridge.slack.calls[calls_before:] if c.method == "auth.test"]
    [notice] = slack_posts(bridge.slack, acme.support_channel, root.ts)
    assert "lure.pdf" in notice.text and notice.file_ids == []
    (receipt,) = receipts(bridge.genesys, report.message_id)
    assert receipt["status"] == "Failed"
