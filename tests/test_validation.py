"""Field rules: normalisation and the code of every problem."""

from __future__ import annotations

import pytest

from app.services import validation
from app.services.errors import InvalidInput


def codes(values: dict) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validation.check(values)
    return {error.field[-1]: error.code for error in caught.value.errors}


def test_email_is_trimmed_lowercased_and_validated():
    assert validation.email("  Ada.Obi@Example.COM ") == "ada.obi@example.com"
    for bad in ("ada", "ada@", "@example.com", "a b@example.com", "ada@example"):
        with pytest.raises(validation.FieldProblem) as caught:
            validation.email(bad)
        assert caught.value.code == "INVALID"
    with pytest.raises(validation.FieldProblem) as caught:
        validation.email("   ")
    assert caught.value.code == "BLANK"
    with pytest.raises(validation.FieldProblem) as caught:
        validation.email("a" * 250 + "@example.com")
    assert caught.value.code == "TOO_LONG"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("08012345678", "+2348012345678"),
        ("0801 234 5678", "+2348012345678"),
        ("+2348012345678", "+2348012345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_becomes_e164_with_nigeria_as_default(raw, e164):
    assert validation.phone(raw) == e164


@pytest.mark.parametrize("bad", ["12", "not a phone", "0801234567890123", "+999 1234"])
def test_unparseable_phone_is_invalid(bad):
    with pytest.raises(validation.FieldProblem) as caught:
        validation.phone(bad)
    assert caught.value.code == "INVALID"


def test_tin_rules():
    assert validation.tin(" 12345678-0001 ") == "12345678-0001"
    assert validation.tin("1234567890") == "1234567890"
    for bad in ("1234", "12-34-56789", "ABCDEFGH", "-12345678", "12345678-"):
        with pytest.raises(validation.FieldProblem) as caught:
            validation.tin(bad)
        assert caught.value.code == "INVALID"


def test_blank_optional_fields_clear():
    for rule in (validation.phone, validation.tin, validation.address, validation.company_name):
        assert rule("") is None
        assert rule("   ") is None
        assert rule(None) is None


def test_lengths():
    assert validation.name("  " + "n" * 200 + " ") == "n" * 200
    assert codes({"name": "n" * 201}) == {"name": "TOO_LONG"}
    assert codes({"company_name": "c" * 201}) == {"companyName": "TOO_LONG"}
    assert codes({"address": "a" * 501}) == {"address": "TOO_LONG"}
    assert validation.address("a" * 500) == "a" * 500


def test_all_problems_are_reported_at_once_with_paths():
    with pytest.raises(InvalidInput) as caught:
        validation.check({"name": " ", "email": "nope", "phone": "12", "tin": "x"})
    found = {(tuple(e.field), e.code) for e in caught.value.errors}
    assert found == {
        (("input", "name"), "BLANK"),
        (("input", "email"), "INVALID"),
        (("input", "phone"), "INVALID"),
        (("input", "tin"), "INVALID"),
    }


def test_messages_never_echo_the_value():
    secret = "ada.secret.address@nowhere"
    with pytest.raises(InvalidInput) as caught:
        validation.check({"email": secret + "@", "phone": secret, "tin": secret})
    for error in caught.value.errors:
        assert secret not in error.message


def test_control_characters_are_invalid():
    assert codes({"name": "Ada\x00Obi"}) == {"name": "INVALID"}


def test_control_characters_are_exactly_unicode_category_cc():
    import sys
    import unicodedata

    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert bool(validation.CONTROL.search(ch)) == (unicodedata.category(ch) == "Cc"), code


def test_a_name_whose_lowercase_is_longer_is_too_long():
    assert codes({"name": "İ" * 150}) == {"name": "TOO_LONG"}  # lowercases to 300 characters
    assert validation.name("İ" * 100) == "İ" * 100


def test_database_url_keeps_tls_or_refuses():
    from app.settings import ConfigError, parse_database_url

    assert parse_database_url("postgresql://u:p@db/x?sslmode=verify-full")["ssl"] == "verify-full"
    for bad in ("postgresql://u@db/x?sslmode=maybe", "postgresql://u@db/x?sslrootcert=/ca.pem"):
        with pytest.raises(ConfigError):
            parse_database_url(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cust_", True),
        ("cust_" + "a" * 35, True),  # 40 characters: the longest an id may be
        ("cust_" + "a" * 36, False),
        ("cust", False),
        ("custX0abc", False),
        ("biz_0abc", False),
        ("cust_0abc!", False),
        ("cust_0abc\n", False),  # no trailing line feed slips through
        ("cust_ab cd", False),
        ("cust_abé", False),  # base62 is ASCII only
        ("cust_٣", False),  # nor other digits
    ],
)
def test_an_id_is_its_prefix_then_base62(value, expected):
    from app.ids import new_id, well_formed

    assert well_formed(value, "cust") is expected
    assert well_formed(new_id("cust"), "cust")
