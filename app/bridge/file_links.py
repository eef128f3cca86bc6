"""Signed, expiring links to a customer's Slack file, which Genesys fetches from our web app.

Genesys takes an attachment only as a URL it can fetch, and Slack's own URLs need the bot token
(external-contracts §G4), so the worker hands Genesys `…/files/<tenant>/<file>?expires=&sig=`
and the web app (`app.web.files`) streams the file from Slack when the link is fetched. The
signature is an HMAC-SHA256 over tenant, file and expiry, with a key derived from our key
material for this purpose alone (`SecretBox.derived_keys`); it is checked in constant time.

Pure: no I/O; the clock is passed in where it matters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Sequence
from enum import StrEnum
from urllib.parse import quote

from app.crypto import SecretBox
from app.tenants.purposes import FILE_LINK_SIGNING

# Whether Genesys copies an attachment at once or fetches it when the agent opens it is
# UNCONFIRMED (external-contracts §G4), so a link lives as long as a messaging conversation is
# likely to stay open: 7 days.
FILE_LINK_TTL_SECONDS = 7 * 24 * 3600
# Slack file IDs are `F` and upper-case letters and digits.
SLACK_FILE_ID = re.compile(r"F[A-Z0-9]{2,40}\Z")


class LinkCheck(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class FileLinks:
    def __init__(
        self, keys: Sequence[bytes], *, base_url: str, ttl_seconds: int = FILE_LINK_TTL_SECONDS
    ) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = list(keys)
        self._base_url = base_url.rstrip("/")
        self._ttl = ttl_seconds

    @classmethod
    def from_keys(
        cls, box: SecretBox, *, base_url: str, ttl_seconds: int = FILE_LINK_TTL_SECONDS
    ) -> FileLinks:
        return cls(box.derived_keys(FILE_LINK_SIGNING), base_url=base_url, ttl_seconds=ttl_seconds)

    @staticmethod
    def _message(tenant_id: str, slack_file_id: str, expires: int) -> bytes:
        return f"v1|{tenant_id}|{slack_file_id}|{expires}".encode()

    def _signature(self, key: bytes, tenant_id: str, slack_file_id: str, expires: int) -> str:
        digest = hmac.new(key, self._message(tenant_id, slack_file_id, expires), hashlib.sha256)
        return _b64(digest.digest())

    def url(self, *, tenant_id: uuid.UUID, slack_file_id: str, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self._ttl
        signature = self._signature(self._keys[0], str(tenant_id), slack_file_id, expires)
        return (
            f"{self._base_url}/files/{tenant_id}/{quote(slack_file_id, safe='')}"
            f"?expires={expires}&sig={signature}"
        )

    def check(
        self,
        *,
        tenant_id: str,
        slack_file_id: str,
        expires: str | None,
        signature: str | None,
        now: float | None = None,
    ) -> LinkCheck:
        """VALID only for a signature one of our keys made over exactly these values, before
        its expiry; a link that is both forged and old is INVALID, not EXPIRED."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            return LinkCheck.INVALID
        when = int(expires)
        genuine = any(
            hmac.compare_digest(
                self._signature(key, tenant_id, slack_file_id, when).encode(), signature.encode()
            )
            for key in self._keys
        )
        if not genuine:
            return LinkCheck.INVALID
        if when < (now if now is not None else time.time()):
            return LinkCheck.EXPIRED
        return LinkCheck.VALID
