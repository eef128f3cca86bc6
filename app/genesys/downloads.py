"""Fetching an agent's attachment from Genesys Cloud with the tenant's token.

An outbound attachment's `url` is `https://api-downloads.{domain}/api/v2/downloads/{id}`
(external-contracts §G9). That endpoint is authenticated and answers with a redirect to a
signed, short-lived storage URL on another host (SDK DownloadsApi). So:

- Only a URL on the tenant's own region downloads host, with exactly that path, is fetched
  (the host comes from the stored region, never from the payload): no SSRF through a webhook.
- The bearer token goes only to that downloads base. A redirect elsewhere (the storage host) is
  followed without it: a signed storage URL carries its own credential, and a token sent
  there would leak to a host that does not need it (and presigned storage refuses a second
  credential anyway).
- `redirectToAuth=false` is asked for (the SDK's default is true: a refused token would be
  redirected to the sign-in page, an HTML 200 that must never become the customer's file); a
  redirect to the region's login host is refused all the same, as an auth failure.
- A redirect must stay on https (unless the downloads base itself is http, as in the sandbox)
  and must name a host, not an IP address, unless it stays on the downloads host's origin; at
  most `MAX_REDIRECTS` are followed.
- The body is streamed into memory and given up as soon as it passes `max_bytes`; nothing is
  written to disk. Failures leave as the `genesys.errors` tree (too large and refused URLs as
  `GenesysRejected` subclasses, which retrying cannot fix).

Only status codes and the download's id are logged, never a URL's signature or the bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import dataclass

import httpx

from app.genesys.client import GenesysClient
from app.genesys.errors import (
    GenesysAuthError,
    GenesysRejected,
    GenesysUnavailable,
    error_for_response,
)

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0
TOTAL_TIMEOUT_SECONDS = 30.0
# An error answer is read only this far (it may be an HTML page, never the file).
ERROR_BODY_LIMIT = 64 * 1024

_DOWNLOAD_ID = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}")


class DownloadRefused(GenesysRejected):
    """The URL is not one this tenant's media may come from, or a redirect left the rules."""


class DownloadTooLarge(GenesysRejected):
    """The file is larger than the caller's cap."""


@dataclass(frozen=True)
class DownloadedFile:
    content: bytes
    content_type: str | None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _under(url: httpx.URL, base: httpx.URL) -> bool:
    """`url` is on `base`'s origin and inside its path (the sandbox's hosts are prefixes)."""
    prefix = base.path.rstrip("/") + "/"
    return _origin(url) == _origin(base) and not url.userinfo and url.path.startswith(prefix)


def media_url_allowed(url: str, downloads_base: str | None) -> bool:
    """Exactly `{downloads_base}/api/v2/downloads/{id}` (a query is kept), nothing else."""
    if not downloads_base:
        return False
    try:
        target, base = httpx.URL(url), httpx.URL(downloads_base)
    except (httpx.InvalidURL, TypeError):
        return False
    if target.scheme not in ("http", "https") or not _under(target, base):
        return False
    if target.fragment:
        return False
    prefix = base.path.rstrip("/") + "/api/v2/downloads/"
    raw_path = target.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
    if not raw_path.startswith(prefix) or "%" in raw_path:
        return False
    download_id = raw_path[len(prefix) :]
    return bool(_DOWNLOAD_ID.fullmatch(download_id)) and download_id not in (".", "..")


def _redirect_allowed(target: httpx.URL, base: httpx.URL) -> bool:
    if target.scheme not in ("http", "https") or target.userinfo:
        return False
    if _origin(target) == _origin(base):
        return True
    if base.scheme == "https" and target.scheme != "https":
        return False
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        return bool(target.host)
    return False


def _signs_in(target: httpx.URL, login: httpx.URL, base: httpx.URL) -> bool:
    """A redirect to the region's login host: the token was not accepted. (Where one
    override serves every host from one root, as in a test, the login host cannot be told.)"""
    distinct = bool(login.path.strip("/")) or _origin(login) != _origin(base)
    return distinct and _origin(target) == _origin(login) and target.path.startswith(login.path)


def _download_id(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0][:64]


async def _error(response: httpx.Response, operation: str) -> Exception:
    """The typed error for a non-2xx answer, its body read only up to `ERROR_BODY_LIMIT`."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    bounded = httpx.Response(
        response.status_code,
        headers=response.headers,
        content=bytes(body[:ERROR_BODY_LIMIT]),
        request=response.request,
    )
    return error_for_response(bounded, operation=operation)


async def _body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise DownloadTooLarge(f"the attachment is larger than {max_bytes} bytes")
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) > max_bytes:
            raise DownloadTooLarge(f"the attachment is larger than {max_bytes} bytes")
    return bytes(content)


async def download_media(client: GenesysClient, url: str, *, max_bytes: int) -> DownloadedFile:
    """The attachment at `url`, fetched as described above. Raises `DownloadRefused` before
    any request for a URL off the tenant's downloads host."""
    downloads_base = client.hosts.downloads_base
    if not media_url_allowed(url, downloads_base):
        raise DownloadRefused("the attachment URL is not on the region's downloads host")
    assert downloads_base is not None
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT_SECONDS):
            return await _fetch(client, url, httpx.URL(downloads_base), max_bytes)
    except TimeoutError:
        raise GenesysUnavailable("Genesys did not send the attachment in time") from None
    except httpx.TimeoutException:
        raise GenesysUnavailable("Genesys did not send the attachment in time") from None
    except httpx.TransportError as exc:
        raise GenesysUnavailable(f"could not fetch the attachment ({type(exc).__name__})") from None


async def _fetch(
    client: GenesysClient, url: str, base: httpx.URL, max_bytes: int
) -> DownloadedFile:
    timeout = httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    download_id = _download_id(url)
    async with httpx.AsyncClient(
        transport=client.transport, timeout=timeout, follow_redirects=False
    ) as http:
        target = httpx.URL(url).copy_set_param("redirectToAuth", "false")
        login = httpx.URL(client.hosts.login_base)
        refreshed = False
        redirects = 0
        while True:
            token = await client.bearer_token() if _under(target, base) else None
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.stream("GET", target, headers=headers) as response:
                if response.status_code == 401 and token is not None and not refreshed:
                    refreshed = True
                    await client.token_refused(token)
                    continue
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    redirects += 1
                    try:
                        following = target.join(location)
                    except httpx.InvalidURL:
                        following = None
                    if (
                        following is None
                        or redirects > MAX_REDIRECTS
                        or not _redirect_allowed(following, base)
                    ):
                        log.warning(
                            "genesys download redirect refused",
                            extra={"genesys_download_id": download_id, "redirects": redirects},
                        )
                        raise DownloadRefused("the attachment download redirected off the rules")
                    if _signs_in(following, login, base):
                        raise GenesysAuthError("the attachment download was sent to sign in")
                    target = following
                    continue
                if not response.is_success:
                    error = await _error(response, "attachment download")
                    log.warning(
                        "genesys download failed",
                        extra={
                            "genesys_download_id": download_id,
                            "status": response.status_code,
                            "on_downloads_host": token is not None,
                        },
                    )
                    raise error
                content = await _body(response, max_bytes)
                return DownloadedFile(content, response.headers.get("content-type"))
