"""The cipher, the keys and the blind index, without a database."""

from __future__ import annotations

import base64
import secrets

import pytest

from app.crypto.blind import BlindIndex
from app.crypto.cipher import Cipher, DecryptionError, header_of
from app.crypto.keys import KeySet, check_value, generate_env_lines
from app.settings import ConfigError


def b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def keyset(spec: str | None = None, index: str | None = None) -> KeySet:
    return KeySet.parse(spec or f"k1:{b64()}", index or b64())


def test_round_trip_and_random_nonce():
    cipher = Cipher(keyset())
    a = cipher.seal("customer", "email", "cust_1", "ada@example.com")
    b = cipher.seal("customer", "email", "cust_1", "ada@example.com")
    assert a != b  # a fresh nonce every time
    assert b"ada" not in a
    assert cipher.open("customer", "email", "cust_1", a) == "ada@example.com"
    assert cipher.open("customer", "email", "cust_1", b) == "ada@example.com"


def test_layout_has_version_and_key_id():
    cipher = Cipher(keyset(f"k7:{b64()}"))
    sealed = cipher.seal("customer", "phone", "cust_1", "+2348012345678")
    assert sealed[0] == 1
    assert header_of(sealed) == (1, "k7")


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_tampering_is_detected(position):
    cipher = Cipher(keyset())
    sealed = bytearray(cipher.seal("customer", "tin", "cust_1", "12345678-0001"))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.open("customer", "tin", "cust_1", bytes(sealed))


def test_value_moved_to_another_row_or_column_does_not_open():
    cipher = Cipher(keyset())
    sealed = cipher.seal("customer", "email", "cust_1", "ada@example.com")
    with pytest.raises(DecryptionError):
        cipher.open("customer", "email", "cust_2", sealed)
    with pytest.raises(DecryptionError):
        cipher.open("customer", "address", "cust_1", sealed)


def test_wrong_key_does_not_open():
    sealed = Cipher(keyset(f"k1:{b64()}")).seal("customer", "email", "cust_1", "x@y.ng")
    with pytest.raises(DecryptionError):
        Cipher(keyset(f"k1:{b64()}")).open("customer", "email", "cust_1", sealed)
    with pytest.raises(DecryptionError):  # a key id that is not configured
        Cipher(keyset(f"k2:{b64()}")).open("customer", "email", "cust_1", sealed)


def test_rotation_list_first_encrypts_all_decrypt():
    old, new, index = b64(), b64(), b64()
    before = Cipher(KeySet.parse(f"k1:{old}", index))
    sealed_old = before.seal("customer", "email", "cust_1", "old@example.com")
    after = Cipher(KeySet.parse(f"k2:{new},k1:{old}", index))
    assert after.open("customer", "email", "cust_1", sealed_old) == "old@example.com"
    sealed_new = after.seal("customer", "email", "cust_1", "new@example.com")
    assert header_of(sealed_new) == (1, "k2")
    with pytest.raises(DecryptionError):
        before.open("customer", "email", "cust_1", sealed_new)


@pytest.mark.parametrize(
    "spec",
    ["", "k1", "k1:notbase64!", f"k1:{base64.b64encode(b'short').decode()}", f"bad id:{b64()}"],
)
def test_malformed_encryption_keys_are_refused(spec):
    with pytest.raises(ConfigError):
        KeySet.parse(spec, b64())


def test_duplicate_key_id_and_bad_index_key_are_refused():
    key = b64()
    with pytest.raises(ConfigError):
        KeySet.parse(f"k1:{key},k1:{key}", b64())
    with pytest.raises(ConfigError):
        KeySet.parse(f"k1:{key}", "abc")


def test_keys_never_show_in_repr():
    key = b64()
    keys = KeySet.parse(f"k1:{key}", b64())
    assert key not in repr(keys)


def test_blind_index_is_keyed_and_per_business():
    a, b = keyset(), keyset()
    index_a, index_b = BlindIndex(a.index, "customer/email"), BlindIndex(b.index, "customer/email")
    digest = index_a.digest("biz_1", "ada@example.com")
    assert digest == index_a.digest("biz_1", "ada@example.com")
    assert digest != index_b.digest("biz_1", "ada@example.com")  # another key
    assert digest != index_a.digest("biz_2", "ada@example.com")  # another business
    assert len(digest) == 64


def test_blind_index_is_hmac_sha256_hex_of_business_and_value():
    """Stored email hashes depend on these exact bytes: the fast HMAC must not change them."""
    import hmac
    from hashlib import sha256

    from app.crypto.keys import derive

    keys = keyset()
    key = derive(keys.index, "finora/v1/blind/customer/email")
    for business, value in (("biz_1", "ada@example.com"), ("biz_2", "zoë@ex.ng"), ("", "")):
        expected = hmac.new(key, f"{business}\x00{value}".encode(), sha256).hexdigest()
        assert BlindIndex(keys.index, "customer/email").digest(business, value) == expected


def test_check_value_identifies_key_without_revealing_it():
    key = secrets.token_bytes(32)
    assert check_value(key) == check_value(key)
    assert check_value(key) != check_value(secrets.token_bytes(32))
    assert key.hex() not in check_value(key)


def test_generated_lines_parse():
    lines = dict(line.split("=", 1) for line in generate_env_lines())
    keys = KeySet.parse(lines["FINORA_ENCRYPTION_KEYS"], lines["FINORA_INDEX_KEY"])
    assert keys.active_id.startswith("k")


def test_prefixed_hmac_is_hmac_sha256_of_prefix_and_message():
    """The search tokens' fast HMAC gives hmac.digest's bytes, for every key length."""
    import hmac
    import os

    from app.crypto.prefixed import PrefixedHmac

    for key_length in (0, 1, 32, 63, 64, 65, 200):
        key = os.urandom(key_length)
        for prefix in (b"", b"biz_1\x00email\x00"):
            mac = PrefixedHmac(key, prefix)
            for message in (b"", b"a", "zoë".encode(), os.urandom(100)):
                assert mac.digest(message) == hmac.digest(key, prefix + message, "sha256")
