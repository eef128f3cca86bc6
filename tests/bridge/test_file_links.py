"""Signed file links: only our keys, only these values, only until the expiry."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from app.bridge.file_links import FileLinks, LinkCheck
from app.crypto import SecretBox
from app.tenants.purposes import FILE_LINK_SIGNING

TENANT = uuid.UUID("00000000-0000-0000-0000-00000000aaaa")
OTHER = uuid.UUID("00000000-0000-0000-0000-00000000bbbb")
NOW = 1_800_000_000.0


def parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    _, _, tenant, file_id = split.path.split("/")
    query = parse_qs(split.query)
    return tenant, file_id, query["expires"][0], query["sig"][0]


def check(links: FileLinks, url: str, *, now: float = NOW, **change: str) -> LinkCheck:
    tenant, file_id, expires, sig = parts(url)
    values = {"tenant_id": tenant, "slack_file_id": file_id, "expires": expires, "signature": sig}
    values.update(change)
    return links.check(now=now, **values)


def links_for(box: SecretBox, ttl: int = 3600) -> FileLinks:
    return FileLinks.from_keys(box, base_url="https://sb.test/", ttl_seconds=ttl)


def test_a_link_verifies_until_it_expires() -> None:
    links = links_for(SecretBox([("k1", b"a" * 32)]))
    url = links.url(tenant_id=TENANT, slack_file_id="F0ABC", now=NOW)

    assert url.startswith(f"https://sb.test/files/{TENANT}/F0ABC?expires=")
    assert check(links, url) == LinkCheck.VALID
    assert check(links, url, now=NOW + 3601) == LinkCheck.EXPIRED


def test_any_change_breaks_the_signature() -> None:
    links = links_for(SecretBox([("k1", b"a" * 32)]))
    url = links.url(tenant_id=TENANT, slack_file_id="F0ABC", now=NOW)
    _, _, expires, sig = parts(url)

    assert check(links, url, tenant_id=str(OTHER)) == LinkCheck.INVALID
    assert check(links, url, slack_file_id="F0ABD") == LinkCheck.INVALID
    assert check(links, url, expires=str(int(expires) + 1)) == LinkCheck.INVALID
    assert check(links, url, signature=sig[:-1] + ("A" if sig[-1] != "A" else "B")) == (
        LinkCheck.INVALID
    )
    assert check(links, url, signature="") == LinkCheck.INVALID
    assert check(links, url, expires="-5") == LinkCheck.INVALID


def test_a_forged_old_link_is_invalid_not_expired() -> None:
    ours = links_for(SecretBox([("k1", b"a" * 32)]))
    theirs = links_for(SecretBox([("k1", b"b" * 32)]), ttl=-60)
    url = theirs.url(tenant_id=TENANT, slack_file_id="F0ABC", now=NOW)

    assert check(ours, url) == LinkCheck.INVALID


def test_links_survive_a_key_rotation_and_use_a_key_of_their_own() -> None:
    old = SecretBox([("k1", b"a" * 32)])
    rotated = SecretBox([("k2", b"c" * 32), ("k1", b"a" * 32)])
    url = links_for(old).url(tenant_id=TENANT, slack_file_id="F0ABC", now=NOW)

    assert check(links_for(rotated), url) == LinkCheck.VALID
    derived = old.derived_keys(FILE_LINK_SIGNING)
    assert derived[0] != b"a" * 32 and len(derived[0]) == 32
    assert old.derived_keys("another.purpose")[0] != derived[0]
