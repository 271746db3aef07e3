"""validation.phone's fast path for common Nigerian shapes gives exactly phonenumbers' answers.

phone() decides a number of a common shape itself (validation.plain_phone) and
hands any other to phone_by_library, the rule as it was before.  The fast path is
only allowed to be faster: for every input, phone()'s outcome (the E.164 number,
None, or the FieldProblem code) must be phone_by_library's.  Hypothesis looks for
a counterexample where one is likeliest, at the edges of the shapes: every number
range NG's metadata knows and the digits either side of each, national numbers a
digit short or long, the prefixes +234, 234 and 0 and their near misses (a
doubled 0, +2340, 009), separators, surrounding space, and other countries.
"""

from __future__ import annotations

from unittest import mock

import phonenumbers
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from app.jobs.seed import people
from app.services import validation
from tests.test_email_fast_path import outcome


def assert_same(value):
    expected = outcome(validation.phone_by_library, value)
    assert outcome(validation.phone, value) == expected
    return expected


def assert_same_counted(value):
    """assert_same inside a hypothesis test, counting the kinds of case."""
    expected = assert_same(value)
    # Shown by --hypothesis-show-statistics: how often each kind of case came up.
    if value is not None and validation.plain_phone(value.strip()) is not None:
        event("fast path")
    else:
        event("library: " + ("rejects" if isinstance(expected, tuple) else "accepts"))


#: The starts of national numbers: every 3-digit start of the leading digits NG
#: uses (2, 7, 8, 9: mobile 70x-72x/80x/81x/90x/91x, fixed lines 20x, toll-free
#: 800, UAN 700, and the unused codes beside them), every 4-digit start where the
#: metadata splits a range by its fourth digit (702x, 819x, 20xy), and the leading
#: digits no NG number has.  USED_STARTS are those inside or next to a range, drawn
#: twice as often as all the others, so that many numbers are valid.
NATIONAL_STARTS = [
    *(f"{lead}{i:02d}" for lead in "2789" for i in range(100)),
    *(f"702{d}" for d in "0123456789"),
    *(f"819{d}" for d in "0123456789"),
    *(f"20{i:02d}" for i in range(100)),
    *"013456",
]
USED_STARTS = [
    start
    for start in NATIONAL_STARTS
    if start[:2] in {"20", "70", "71", "72", "80", "81", "90", "91"}
]
#: What is written before the national number: the fast path's prefixes, then
#: near misses (the "0" kept after the code, a doubled 0, NG's international
#: prefix 009, a code a digit short or long, other codes).
PREFIXES = ["+234", "234", "0", ""]
NEAR_PREFIXES = [
    *("+2340", "2340", "00", "009234", "0092340", "+0", "+", "++234", "+23", "+2345"),
    *("23", "2345", "0234", "+44", "+1", "+233", "44", "1"),
]
#: Separators the shape allows (single space or hyphen) and ones it leaves to the
#: library: doubled, dots, slashes, brackets, a non-breaking space, a tab.
SEPARATORS = [" ", "-"]
ODD_SEPARATORS = ["  ", "--", " -", ".", "/", "(", ")", "\u00a0", "\t", "\u2011"]
#: What an edit puts in: letters (vanity numbers, an extension), a "+", a digit
#: from another script, a control character.
EDITS = ["x", "ext", "A", "#", ";", ",", "+", "\u0663", "\uff18", "\x00", "0"]
SPACE = ["", "", "", " ", "\n", "\t", "\u00a0", "\u3000"]


def one_in(n, rare, common):
    """``rare`` about once in ``n`` draws, else ``common``."""
    return st.integers(1, n).flatmap(lambda i: rare if i == 1 else common)


@st.composite
def separated(draw, digits):
    """``digits`` with separators at a few places, mostly the allowed ones."""
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        at = draw(st.integers(0, len(digits)))
        sep = draw(one_in(8, st.sampled_from(ODD_SEPARATORS), st.sampled_from(SEPARATORS)))
        digits = digits[:at] + sep + digits[at:]
    return digits


@st.composite
def near_plain(draw):
    """An NG number in a common shape at its edges, or a small edit away from it."""
    start = draw(
        st.sampled_from(draw(st.sampled_from([NATIONAL_STARTS, USED_STARTS, USED_STARTS])))
    )
    length = draw(st.sampled_from([10] * 20 + [9, 11, 8, 12, 13, 14, 15]))
    fill = draw(st.text("0123456789", min_size=0, max_size=20))
    national = (start + fill + "0" * 20)[: max(length, len(start))]
    prefix = draw(one_in(6, st.sampled_from(NEAR_PREFIXES), st.sampled_from(PREFIXES)))
    number = draw(separated(prefix + national))
    if not draw(st.integers(0, 7)):
        at = draw(st.integers(0, len(number)))
        number = number[:at] + draw(st.sampled_from(EDITS)) + number[at:]
    space = draw(st.sampled_from(SPACE))
    return space + number + draw(st.sampled_from(SPACE))


#: Every region's example numbers (all types), written in E.164, international
#: and national form: other countries' shapes next to NG's own.
EXAMPLES = sorted(
    {
        phonenumbers.format_number(number, form)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
        for form in (
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        )
    }
)


FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=5000, **FAST)
@given(near_plain())
@example("+2348031234567")
@example("2348031234567")
@example("08031234567")
@example("8031234567")
@example("0803 123 4567")
@example("0803-123-4567")
@example("+234 803 123 4567")
@example("+234-803-123-4567")
@example(" +2348031234567\n")
@example("+23408031234567")  # the national prefix kept after the code: the library drops it
@example("23408031234567")
@example("+234803123456")  # a digit short
@example("+23480312345678")  # a digit long
@example("0803123456")
@example("080312345678")
@example("00803123456")
@example("0092348031234567")  # NG's international prefix
@example("07021234567")
@example("07023123456")  # 7023 is no mobile range
@example("08191234567")
@example("08192234567")  # 8192 neither
@example("02033123456")  # fixed line
@example("02032123456")  # 2032 is no fixed-line range
@example("08001234567")  # toll-free, 10 digits
@example("080012345678")  # toll-free, 11 digits: left to the library
@example("07001234567")  # UAN
@example("2340201234567")  # "234" + a number starting 0
@example("2342033123456")
@example("2342012345")  # ten digits starting 234: a national number, not the code
@example("0803 123 4567 x12")
@example("0803.123.4567")
@example("(0803) 123 4567")
@example("0803  123 4567")
@example("\u0660\u0668\u0660\u0663\u0661\u0662\u0663\u0664\u0665\u0666\u0667")
@example("+44 20 7946 0958")
@example("+1 650 253 0000")
def test_near_plain_numbers_get_the_library_answer(value):
    assert_same_counted(value)


@settings(max_examples=2000, **FAST)
@given(st.sampled_from(EXAMPLES), st.sampled_from(["", "0", "+", "00"]))
def test_other_countries_get_the_library_answer(number, before):
    assert_same_counted(number)
    assert_same_counted(before + number.lstrip("+"))


@settings(max_examples=1000, **FAST)
@given(st.one_of(st.text(), st.text("+0123456789 -"), st.none()))
def test_any_text_gets_the_library_answer(value):
    assert_same_counted(value)


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("+2348031234567", "+2348031234567"),
        ("2348031234567", "+2348031234567"),
        ("08031234567", "+2348031234567"),
        ("8031234567", "+2348031234567"),
        (" 0803 123 4567 ", "+2348031234567"),
        ("+234-909-123-4567", "+2349091234567"),
        ("02033123456", "+2342033123456"),
        ("08001234567", "+2348001234567"),
    ],
)
def test_the_common_shapes_are_decided_without_the_library(value, e164):
    assert validation.plain_phone(value.strip()) == e164
    with mock.patch.object(validation.phonenumbers, "parse", side_effect=AssertionError):
        assert validation.phone(value) == e164


@pytest.mark.parametrize(
    "value",
    [
        "+23408031234567",  # valid, only outside the shape
        "080012345678",  # valid toll-free of 11 digits, outside the shape
        "08021234567 ext 1",
        "0803.123.4567",
        "+44 20 7946 0958",
        "07023123456",  # invalid: the library says so
        "0803123456",
        "",
    ],
)
def test_other_shapes_are_left_to_the_library(value):
    assert validation.plain_phone(value) is None


def test_the_metadata_is_as_the_fast_path_read_it():
    """Fails when a phonenumbers upgrade changes what plain_phone's argument assumes.

    The fast path then quietly decides nothing (correct, but slow): re-read the
    argument in plain_phone's docstring against the new metadata, run this file,
    and adjust _NG_AS_READ.
    """
    assert validation._NG_AS_READ


def test_every_seeded_phone_takes_the_fast_path():
    """The realistic numbers the benchmark uses are all of a common shape."""
    phones = [person["phone"] for person in people(1, 0, 2000) if person["phone"] is not None]
    for value in phones:
        assert_same(value)
    with mock.patch.object(validation.phonenumbers, "parse", side_effect=AssertionError):
        for value in phones:
            assert validation.phone(value) == value
