"""Downloading a customer's Slack file, for the signed links Genesys fetches (`app.web.files`).

`files.info` (scope `files:read`) says what the file is: its name, Slack's content type, its
size and `url_private_download`. The bytes are then streamed from that URL with the bot token
(`Authorization: Bearer`), never stored. Only Slack's file host is fetched
(`SLACK_FILES_URL`: scheme, host and port must match exactly), so a URL in an event or an
answer cannot point us elsewhere (SSRF); redirects are followed by hand, each hop checked
against the same allow-list, at most `MAX_REDIRECTS`. The token is sent to that host only.
Slack answers a download it refuses with 200 and its HTML sign-in page (external-contracts
§S1), so an HTML answer for a file that is not HTML counts as refused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from app.config import Settings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class SlackFileInfo:
    """What `files.info` says about one file."""

    slack_file_id: str
    name: str | None
    mimetype: str
    size: int | None
    download_url: str | None
    # Slack Connect files from another org, external (Google Drive…) links, tombstones:
    # not hosted by Slack, nothing to download.
    hosted: bool


class FileUnavailable(Exception):
    """Slack would not give us the bytes; `.reason` is a code, never a token or a URL."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


@dataclass
class Download:
    content_type: str
    content_length: int | None
    _response: httpx.Response

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        """The body, stopped once more than `limit` bytes came (the reader sees a short body
        rather than a file over Genesys' limit)."""
        seen = 0
        try:
            async for chunk in self._response.aiter_bytes():
                seen += len(chunk)
                if seen > limit:
                    log.warning("slack file over the size limit, cut off")
                    return
                yield chunk
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


class SlackFileHost:
    def __init__(self, settings: Settings) -> None:
        self._allowed = _origin(str(settings.slack_files_url))
        self._http: httpx.AsyncClient | None = None

    def allowed(self, url: str | None) -> bool:
        if not url:
            return False
        scheme, host, _ = origin = _origin(url)
        return scheme in ("https", "http") and bool(host) and origin == self._allowed

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def open(self, info: SlackFileInfo, *, token: str) -> Download:
        """Start streaming the file; the caller reads `chunks` (which closes the response)."""
        url = info.download_url
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                raise FileUnavailable("host_not_allowed")
            assert url is not None
            request = self._client().build_request(
                "GET", url, headers={"Authorization": f"Bearer {token}"}
            )
            try:
                response = await self._client().send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FileUnavailable(type(exc).__name__, retryable=True) from None
            if response.is_redirect:
                await response.aclose()
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                await response.aclose()
                raise FileUnavailable(
                    f"http_{response.status_code}", retryable=response.status_code >= 500
                )
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            if content_type == "text/html" and info.mimetype != "text/html":
                await response.aclose()
                raise FileUnavailable("sign_in_page")
            length = response.headers.get("content-length")
            return Download(
                content_type=content_type,
                content_length=int(length) if length and length.isdigit() else None,
                _response=response,
            )
        raise FileUnavailable("too_many_redirects")
