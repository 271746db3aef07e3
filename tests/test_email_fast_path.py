"""validation.email's plain-address fast path gives exactly email-validator's answers.

email() decides an address of the plain shape itself (validation.plain_email) and
hands any other to email_by_library, the rule as it was before.  The fast path is
only allowed to be faster: for every input, email()'s outcome (the normalised
address, or the FieldProblem code) must be email_by_library's.  Hypothesis looks
for a counterexample where one is likeliest, at the edges of the shape: lengths at
the limits, hyphens and dots at label ends, special-use and numeric TLDs, case,
Punycode, a little Unicode.
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.jobs.seed import people
from app.services import validation


def outcome(rule, value):
    try:
        return rule(value)
    except validation.FieldProblem as problem:
        return ("FieldProblem", problem.code)


def assert_same(value):
    expected = outcome(validation.email_by_library, value)
    assert outcome(validation.email, value) == expected
    # Shown by --hypothesis-show-statistics: how often each kind of case came up.
    if value is not None and validation.plain_email(value.strip()) is not None:
        event("fast path")
    else:
        event("library: " + ("rejects" if isinstance(expected, tuple) else "accepts"))


ALNUM = "abcxyzABCXYZ0189"
PLAIN_TLDS = ["com", "COM", "Ng", "io", "c", "museum", "co.uk"]
ODD_TLDS = [
    # Special-use names, as the domain, as its end, or only nearly its end.
    *("test", "TEST", "local", "localhost", "invalid", "onion", "arpa", "Arpa"),
    *("in-addr.arpa", "xtest", "testx", "local-x", "onion.com", "test.com"),
    # TLDs that are not letters only, or not a label at all.
    *("123", "1a", "a1", "a-b", "-com", "com-", "xn--p1ai", "XN--P1AI", ""),
    *("\uff43\uff4f\uff4d", "c\u00f6m", "com."),
]
#: Labels the library treats specially: Punycode (valid, invalid, not IDNA 2008),
#: R-LDH ("ab--"), and hyphens where the shape allows none.
ODD_LABELS = [
    *("xn--bcher-kva", "XN--BCHER-KVA", "xn--80ak6aa92e", "xn--ls8h", "xn--a", "xn--"),
    *("ab--cd", "a--b", "-ab", "ab-", "a-", "-"),
]
#: What an edit puts into a plain address: characters the shape leaves to the
#: library (other atext, quotes, @, space, controls, a dot or hyphen out of place)
#: and Punycode's prefix.
EDITS = [*".-_+@ \"'!#~()\n\t\x00", *("xn--", "--", "..", ".-", "-.")]
#: Letters and digits outside ASCII whose normalisation is not plain lower-casing,
#: somewhere in the library (NFC of the local part; UTS 46 mapping, IDNA and Bidi
#: in the domain): Kelvin and Angstrom signs, long s, dotted I, dotless i, sharp s,
#: a ligature, a CJK compatibility ideograph, Greek with oxia, Hangul jamo that
#: compose, superscript two, fullwidth a, Arabic-Indic three, e with a combining
#: accent, and fullwidth and ideographic full stops.
UNICODE = [
    *"\u212a\u212b\u017f\u0130\u0131\u00df\ufb00\uf900\u1f71\u00b2\uff41\u0663",
    *("\u1100\u1161", "e\u0301", "\uff0e", "\u3002"),
]


def joined(chars, sep, most):
    """Runs of ``chars`` joined by single ``sep``: a dot-atom or a hostname label."""
    runs = st.lists(st.text(chars, min_size=1, max_size=6), min_size=1, max_size=most)
    return runs.map(sep.join)


def one_in(n, rare, common):
    """``rare`` about once in ``n`` draws, else ``common``."""
    return st.integers(1, n).flatmap(lambda i: rare if i == 1 else common)


@st.composite
def longer(draw, part, fill):
    """Sometimes ``part`` padded to a length around the limit of 63 or 64."""
    if draw(st.integers(0, 3)):
        return part
    return fill * max(draw(st.integers(58, 70)) - len(part), 0) + part


@st.composite
def edited(draw, address, choices):
    """``address`` with one of ``choices`` put in at some place, or over one character."""
    at = draw(st.integers(0, len(address)))
    cut = draw(st.integers(0, 1))
    return address[:at] + draw(st.sampled_from(choices)) + address[at + cut :]


@st.composite
def near_plain(draw):
    """An address of the plain shape at its limits, or a small edit away from it."""
    local = draw(longer(draw(joined(ALNUM + "_+-", ".", 3)), "l"))
    label = one_in(6, st.sampled_from(ODD_LABELS), joined(ALNUM, "-", 2))
    labels = draw(st.lists(label, min_size=0, max_size=3))
    long_tld = st.integers(58, 70).map(lambda n: "t" * n)
    tld = draw(
        one_in(3, one_in(5, long_tld, st.sampled_from(ODD_TLDS)), st.sampled_from(PLAIN_TLDS))
    )
    domain = ".".join([*(draw(longer(label, "d")) for label in labels), tld])
    if not draw(st.integers(0, 3)):
        # Pad with whole labels to a total length around the 254 limit.
        missing = draw(st.integers(240, 262)) - len(local) - 1 - len(domain)
        while missing > 1:
            size = min(missing - 1, draw(st.integers(1, 66)))
            domain = "p" * size + "." + domain
            missing -= size + 1
        local = "q" * max(missing, 0) + local
    address = f"{local}@{domain}"
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2]))):
        address = draw(edited(address, EDITS))
    if not draw(st.integers(0, 3)):
        address = draw(edited(address, UNICODE))
    case = draw(st.sampled_from([str, str, str, str.upper, str.title, str.swapcase]))
    space = draw(st.sampled_from(["", "", "", " ", "\n"]))
    return space + case(address) + space


FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=3000, **FAST)
@given(near_plain())
@example("john.doe+tag@Example.COM")
@example("a" * 64 + "@example.com")
@example("a" * 65 + "@example.com")  # the library checks 64 only when strict
@example("a@" + "b" * 63 + ".com")
@example("a@" + "b" * 64 + ".com")
@example("a@b." + "c" * 63)
@example("a@b." + "c" * 64)
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 61)  # 254 in all
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 62)  # 255
@example("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60)  # 254
@example("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 61)  # 255
@example("a@b.c")
@example("a@example.com.")
@example("a@.example.com")
@example("a@example..com")
@example("a@-example.com")
@example("a@example-.com")
@example("a@ex--ample.com")
@example("a@xn--80ak6aa92e.com")
@example("a@example.xn--p1ai")
@example("a@com")
@example("a@example.123")
@example("a@example.a1")
@example("a@example.1a")
@example("a@1.2.3.4")
@example("a@x.test")
@example("a@test")
@example("a@x.xtest")
@example("a@test.com")
@example("a@SUB.LOCALHOST")
@example("a@x.in-addr.arpa")
@example(".a@example.com")
@example("a.@example.com")
@example("a..b@example.com")
@example("Info@Example.com")  # a role name the library lower-cases itself
@example("\u212a@example.com")  # Kelvin sign: lower-cases to ASCII k
@example("a@example.com\n")
@example('"a"@example.com')
@example("Ada <a@example.com>")
@example("a@[127.0.0.1]")
def test_near_plain_addresses_get_the_library_answer(value):
    assert_same(value)


@settings(max_examples=1000, **FAST)
@given(st.emails())
def test_hypothesis_emails_get_the_library_answer(value):
    assert_same(value)


@settings(max_examples=1000, **FAST)
@given(st.one_of(st.text(), st.none()))
def test_any_text_gets_the_library_answer(value):
    assert_same(value)


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("john.doe+tag@Example.COM", "john.doe+tag@example.com"),
        ("  Ada.Obi@Example.COM ", "ada.obi@example.com"),
        ("first_last-1@mail.co.uk", "first_last-1@mail.co.uk"),
        ("x@123.example-host.ng", "x@123.example-host.ng"),
    ],
)
def test_the_plain_shape_is_decided_without_the_library(value, normalised):
    assert validation.plain_email(value.strip()) == normalised
    with mock.patch.object(validation, "validate_email", side_effect=AssertionError):
        assert validation.email(value) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "a@x.test",
        "a@example.xn--p1ai",
        "a@ex--ample.com",
        "a@example.com.",
        "a@example.123",
        "é@example.com",
        '"a"@example.com',
        "o'brien@example.com",  # valid, only outside the shape
        "a" * 65 + "@example.com",
    ],
)
def test_other_shapes_are_left_to_the_library(value):
    assert validation.plain_email(value) is None


def test_every_seeded_address_takes_the_fast_path():
    """The realistic addresses the benchmark uses are all of the plain shape."""
    with mock.patch.object(validation, "validate_email", wraps=validation.validate_email) as lib:
        for person in people(1, 0, 2000):
            assert validation.email(person["email"]) == person["email"]
    assert lib.call_count == 0
