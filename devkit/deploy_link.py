"""The Deploy to Heroku link for a fork, built from the repository's own URL.

Heroku's deploy page takes the repository as `template=`; a hard-coded account in the README
would deploy someone else's copy (or nothing). The link is derived from the checkout's
`origin` remote instead, and only public HTTPS GitHub-style URLs come out, because Heroku
fetches the template anonymously.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import quote

DEPLOY_PAGE = "https://heroku.com/deploy"
_SCP_STYLE = re.compile(r"^git@(?P<host>[\w.-]+):(?P<path>[\w.-]+/[\w.-]+?)(?:\.git)?/?$")
_HTTPS = re.compile(
    r"^(?:https|ssh)://(?:[^@/]+@)?(?P<host>[\w.-]+)(?::\d+)?/(?P<path>[\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)


def public_repository_url(remote: str) -> str:
    """`git@github.com:me/switchboard.git` or `https://…/me/switchboard.git` → the HTTPS page.
    Credentials in the remote are dropped: they must never end up in a shared link."""
    remote = remote.strip()
    match = _SCP_STYLE.match(remote) or _HTTPS.match(remote)
    if match is None:
        raise ValueError(f"not a repository URL Heroku can fetch: {remote!r}")
    return f"https://{match['host']}/{match['path']}"


def deploy_link(remote: str) -> str:
    return f"{DEPLOY_PAGE}?template={quote(public_repository_url(remote), safe=':/')}"


def origin_url() -> str:
    result = subprocess.run(
        ["git", "remote", "get-url", "origin"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise ValueError("this checkout has no `origin` remote; pass --repo URL")
    return result.stdout.strip()
