import uuid

import pytest

from app.config import parse_encryption_keys
from app.crypto import DecryptionError, SecretBox
from tests.factories import OTHER_KEY, TEST_KEY


def box(spec: str) -> SecretBox:
    return SecretBox(parse_encryption_keys(spec))


def test_round_trip_and_no_plaintext_in_ciphertext() -> None:
    tenant = uuid.uuid4()
    sealed = box(f"k1:{TEST_KEY}").encrypt("xoxb-secret-token", tenant_id=tenant, purpose="bot")
    assert sealed.startswith("v1:k1:")
    assert "xoxb" not in sealed
    assert box(f"k1:{TEST_KEY}").decrypt(sealed, tenant_id=tenant, purpose="bot") == (
        "xoxb-secret-token"
    )


def test_same_plaintext_encrypts_differently() -> None:
    tenant = uuid.uuid4()
    b = box(f"k1:{TEST_KEY}")
    assert b.encrypt("x", tenant_id=tenant, purpose="p") != b.encrypt(
        "x", tenant_id=tenant, purpose="p"
    )


def test_ciphertext_is_bound_to_tenant_and_purpose() -> None:
    b = box(f"k1:{TEST_KEY}")
    tenant = uuid.uuid4()
    sealed = b.encrypt("secret", tenant_id=tenant, purpose="slack.bot_token")
    with pytest.raises(DecryptionError):
        b.decrypt(sealed, tenant_id=uuid.uuid4(), purpose="slack.bot_token")
    with pytest.raises(DecryptionError):
        b.decrypt(sealed, tenant_id=tenant, purpose="genesys.client_secret")


def test_tampered_ciphertext_is_rejected_without_echoing_it() -> None:
    b = box(f"k1:{TEST_KEY}")
    tenant = uuid.uuid4()
    sealed = b.encrypt("secret", tenant_id=tenant, purpose="p")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(DecryptionError) as caught:
        b.decrypt(tampered, tenant_id=tenant, purpose="p")
    assert tampered not in str(caught.value)


def test_rotation_reencrypts_under_newest_key_and_old_key_still_decrypts() -> None:
    tenant = uuid.uuid4()
    old = box(f"k1:{TEST_KEY}").encrypt("secret", tenant_id=tenant, purpose="p")
    both = box(f"k2:{OTHER_KEY},k1:{TEST_KEY}")
    assert both.needs_rotation(old)
    assert both.decrypt(old, tenant_id=tenant, purpose="p") == "secret"
    rotated = both.rotate(old, tenant_id=tenant, purpose="p")
    assert rotated.startswith("v1:k2:")
    assert not both.needs_rotation(rotated)
    with pytest.raises(DecryptionError):
        box(f"k1:{TEST_KEY}").decrypt(rotated, tenant_id=tenant, purpose="p")


def test_unknown_key_id_is_a_clear_error() -> None:
    tenant = uuid.uuid4()
    sealed = box(f"k9:{OTHER_KEY}").encrypt("secret", tenant_id=tenant, purpose="p")
    with pytest.raises(DecryptionError, match="unknown key id 'k9'"):
        box(f"k1:{TEST_KEY}").decrypt(sealed, tenant_id=tenant, purpose="p")
