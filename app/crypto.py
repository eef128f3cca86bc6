"""Encryption of secrets at rest: AES-256-GCM, keyed from settings, bound to tenant and purpose.

Stored form: `v1:<key id>:<base64url(nonce || ciphertext || tag)>`. The associated data is
`<tenant id>|<purpose>`, so a ciphertext copied into another tenant's row, or from the bot
token column into the client-secret column, fails to decrypt instead of leaking. Several keys
may be configured: the first encrypts, all decrypt, and `rotate` re-encrypts under the first.
"""

from __future__ import annotations

import base64
import binascii
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored secret could not be decrypted: unknown key, tampered, or bound elsewhere.

    The message names the key id and purpose only, never any part of the value.
    """


class SecretBox:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._current_kid = keys[0][0]
        self._ciphers = {kid: AESGCM(key) for kid, key in keys}
        self._keys = [key for _, key in keys]

    @property
    def current_key_id(self) -> str:
        return self._current_kid

    @staticmethod
    def _aad(tenant_id: UUID, purpose: str) -> bytes:
        return f"{tenant_id}|{purpose}".encode()

    def encrypt(self, plaintext: str, *, tenant_id: UUID, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current_kid].encrypt(
            nonce, plaintext.encode(), self._aad(tenant_id, purpose)
        )
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}:{self._current_kid}:{blob}"

    def decrypt(self, stored: str, *, tenant_id: UUID, purpose: str) -> str:
        version, kid, blob = self._split(stored, purpose)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"{purpose}: encrypted with unknown key id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            plain = cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(tenant_id, purpose)
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError(
                f"{purpose}: ciphertext rejected (tampered or other tenant)"
            ) from exc
        _ = version
        return plain.decode()

    def derived_keys(self, purpose: str) -> list[bytes]:
        """A 32-byte key per configured key, for `purpose` alone (HKDF-SHA256, the purpose as
        its info), so a MAC key never equals an encryption key. The first is the current key's:
        sign with it, accept any, so links signed before a rotation still verify."""
        return [
            HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode()).derive(key)
            for key in self._keys
        ]

    def key_id_of(self, stored: str) -> str:
        return self._split(stored, "secret")[1]

    def needs_rotation(self, stored: str) -> bool:
        return self.key_id_of(stored) != self._current_kid

    def rotate(self, stored: str, *, tenant_id: UUID, purpose: str) -> str:
        """Re-encrypt under the current key; unchanged if it already uses it."""
        if not self.needs_rotation(stored):
            return stored
        return self.encrypt(
            self.decrypt(stored, tenant_id=tenant_id, purpose=purpose),
            tenant_id=tenant_id,
            purpose=purpose,
        )

    @staticmethod
    def _split(stored: str, purpose: str) -> tuple[str, str, str]:
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != _VERSION:
            raise DecryptionError(f"{purpose}: not a {_VERSION} ciphertext")
        return parts[0], parts[1], parts[2]


def generate_key() -> str:
    """A fresh base64url AES-256 key, for `ENCRYPTION_KEYS` (`kid:<this>`)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
