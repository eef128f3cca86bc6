"""`download_media` against the Genesys simulator in process: the tenant's token goes to the
region's downloads host only, the redirect to signed storage is followed without it, URLs off
that host are refused before any request, and the size cap holds while streaming."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from app.genesys.client import GenesysClient
from app.genesys.downloads import (
    DownloadRefused,
    DownloadTooLarge,
    download_media,
    media_url_allowed,
)
from app.genesys.errors import GenesysAuthError, GenesysNotFound, GenesysUnavailable
from app.genesys.regions import hosts_for
from sandbox.faults import FaultSpec
from sandbox.genesys_agent import Agent, AgentReply
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_webhook import sample_pdf
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)

SIM = "http://genesys.sim"
DOWNLOADS = f"{SIM}/api-downloads.{{domain}}"


class Recording(httpx.AsyncBaseTransport):
    """The simulator's ASGI app, with each request's URL and whether it carried a token."""

    def __init__(self, world: GenesysWorld) -> None:
        self.inner = httpx.ASGITransport(app=create_genesys_sandbox(world))
        self.seen: list[tuple[str, bool]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.path, "authorization" in request.headers))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def world() -> GenesysWorld:
    return GenesysWorld.seeded()


@pytest.fixture
def transport(world: GenesysWorld) -> Recording:
    return Recording(world)


@pytest.fixture
async def client(transport: Recording) -> AsyncIterator[GenesysClient]:
    hosts = hosts_for(
        "us_east_1", api_override=SIM, login_override=SIM, downloads_override=DOWNLOADS
    )
    async with GenesysClient(
        hosts,
        client_id=SANDBOX_ORG_CLIENT_ID,
        client_secret=SANDBOX_ORG_CLIENT_SECRET,
        transport=transport,
    ) as made:
        yield made


def agent_file(world: GenesysWorld, content: bytes, filename: str = "guide.pdf") -> str:
    reply = AgentReply(
        integration_id=SANDBOX_DMS_INTEGRATION_ID,
        to_id="T1:U1",
        kind="file",
        filename=filename,
        content_base64=base64.b64encode(content).decode(),
    )
    payload = Agent(world).prepare(reply, base_url=SIM)
    url: str = payload["content"][0]["attachment"]["url"]
    return url


async def test_the_token_goes_to_the_downloads_host_and_not_to_storage(
    world: GenesysWorld, client: GenesysClient, transport: Recording
) -> None:
    pdf = sample_pdf("Guide")
    url = agent_file(world, pdf)
    downloaded = await download_media(client, url, max_bytes=len(pdf))
    assert downloaded.content == pdf
    assert downloaded.content_type == "application/pdf"
    fetches = [(path, auth) for path, auth in transport.seen if "oauth" not in path]
    assert [auth for _, auth in fetches] == [True, False]
    assert fetches[0][0].startswith("/api-downloads.mypurecloud.com/api/v2/downloads/")
    assert fetches[1][0].startswith("/storage.")


async def test_a_file_over_the_cap_is_given_up(world: GenesysWorld, client: GenesysClient) -> None:
    url = agent_file(world, b"x" * 2048)
    with pytest.raises(DownloadTooLarge):
        await download_media(client, url, max_bytes=2047)


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.test/api-downloads.mypurecloud.com/api/v2/downloads/abc",
        f"{SIM}/api-downloads.mypurecloud.ie/api/v2/downloads/abc",  # another region
        f"{SIM}/api.mypurecloud.com/api/v2/downloads/abc",  # the API host
        f"{SIM}/api-downloads.mypurecloud.com/api/v2/users/me",
        f"{SIM}/api-downloads.mypurecloud.com/api/v2/downloads/../../oauth/token",
        f"{SIM}/api-downloads.mypurecloud.com/api/v2/downloads/%2e%2e",
        "http://user@genesys.sim/api-downloads.mypurecloud.com/api/v2/downloads/abc",
    ],
)
async def test_urls_off_the_regions_downloads_host_are_refused_before_any_request(
    url: str, client: GenesysClient, transport: Recording
) -> None:
    with pytest.raises(DownloadRefused):
        await download_media(client, url, max_bytes=1000)
    assert transport.seen == []


def test_the_real_region_host_is_the_default() -> None:
    hosts = hosts_for("eu_west_1", api_override=None, login_override=None)
    assert hosts.downloads_base == "https://api-downloads.mypurecloud.ie"
    assert media_url_allowed(
        "https://api-downloads.mypurecloud.ie/api/v2/downloads/pce1234456", hosts.downloads_base
    )
    assert not media_url_allowed(
        "http://api-downloads.mypurecloud.ie/api/v2/downloads/pce1234456", hosts.downloads_base
    )


async def test_an_unknown_download_and_an_outage_keep_their_meaning(
    world: GenesysWorld, client: GenesysClient
) -> None:
    url = agent_file(world, b"abc")
    missing = url.rsplit("/", 1)[0] + "/no-such-download"
    with pytest.raises(GenesysNotFound):
        await download_media(client, missing, max_bytes=100)
    world.faults.arm(FaultSpec(route="downloads.get", kind="status", status=503, times=1))
    with pytest.raises(GenesysUnavailable):
        await download_media(client, url, max_bytes=100)
    assert (await download_media(client, url, max_bytes=100)).content == b"abc"


REAL_MEDIA = "https://api-downloads.mypurecloud.com/api/v2/downloads/pce1234456"


def genesys_answering(location: str, seen: list[tuple[str, bool]]) -> httpx.MockTransport:
    """Genesys at the HTTP boundary on real host names: a token, and a download that redirects
    to `location`; every other host answers the file."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), "authorization" in request.headers))
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        if request.url.host == "api-downloads.mypurecloud.com":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, content=b"file", headers={"Content-Type": "text/plain"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "location",
    [
        "http://storage.example/x",  # https downgraded
        "https://10.0.0.7/x",  # an address, not a host name
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
        "ftp://storage.example/x",
        "https://user:pw@storage.example/x",
        REAL_MEDIA,  # a loop
    ],
)
async def test_redirects_off_the_rules_are_refused(location: str) -> None:
    seen: list[tuple[str, bool]] = []
    hosts = hosts_for("us_east_1", api_override=None, login_override=None)
    async with GenesysClient(
        hosts, client_id="id", client_secret="secret", transport=genesys_answering(location, seen)
    ) as client:
        with pytest.raises(DownloadRefused):
            await download_media(client, REAL_MEDIA, max_bytes=100)
    assert all(url.startswith("https://api-downloads.") or "oauth" in url for url, _ in seen)


async def test_a_storage_host_on_https_is_followed_without_the_token() -> None:
    seen: list[tuple[str, bool]] = []
    storage = "https://prod-downloads.s3.amazonaws.com/abc?X-Amz-Signature=s"
    hosts = hosts_for("us_east_1", api_override=None, login_override=None)
    async with GenesysClient(
        hosts, client_id="id", client_secret="secret", transport=genesys_answering(storage, seen)
    ) as client:
        downloaded = await download_media(client, REAL_MEDIA, max_bytes=100)
    assert downloaded.content == b"file"
    fetched = [(url, auth) for url, auth in seen if "oauth" not in url]
    assert fetched == [(f"{REAL_MEDIA}?redirectToAuth=false", True), (storage, False)]


async def test_a_redirect_to_sign_in_is_an_auth_failure_not_a_file() -> None:
    seen: list[tuple[str, bool]] = []
    sign_in = "https://login.mypurecloud.com/authorize?client_id=x"
    hosts = hosts_for("us_east_1", api_override=None, login_override=None)
    async with GenesysClient(
        hosts, client_id="id", client_secret="secret", transport=genesys_answering(sign_in, seen)
    ) as client:
        with pytest.raises(GenesysAuthError):
            await download_media(client, REAL_MEDIA, max_bytes=100)
    assert not [url for url, _ in seen if url.startswith("https://login.mypurecloud.com/auth")]
