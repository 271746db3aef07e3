"""Input rules for customer fields: normalise a value or say what is wrong.

Each rule returns the normalised value (None for an optional field left empty)
or raises :class:`FieldProblem`.  Whole inputs are checked at once so that a
caller sees every problem in one answer, and nothing is read or written first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    DNS_LABEL_LENGTH_LIMIT,
    DOMAIN_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    LOCAL_PART_MAX_LENGTH,
)

from app.services.errors import InvalidInput, UserError

NAME_MAX = 200
COMPANY_MAX = 200
ADDRESS_MAX = 500
EMAIL_MAX = 254
PHONE_MAX = 32
TIN_MAX = 20
_TIN = re.compile(r"^[0-9]+(-[0-9]+)?$")
#: The 65 code points of Unicode category Cc (control characters); the Unicode
#: stability policy fixes that set.  One regex search instead of a category
#: lookup per character (tests compare both over every code point).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

#: The plain shape nearly every address has, which email-validator (called as in
#: email_by_library) always accepts and normalises to the address with its domain
#: lower-cased (UTS 46 mapping; an ASCII local part is kept as given).  A local
#: part of dot-separated atoms of letters, digits and ``_+-`` (a subset of its
#: dot-atom rule), at most 64 long: the library checks 64 only when strict, and a
#: longer one is rare enough to leave to it.  A domain of at most 253 characters
#: (the 254 of the whole already implies it); labels of letters and digits joined
#: by single hyphens (so no hyphen at a label's ends and no ``--``: neither its
#: R-LDH rule nor Punycode applies), at most 63 each; at least one dot; a TLD of
#: letters only (the library wants a final letter).  ASCII classes only (never
#: ``\w`` or ``\d``) in the lookaheads as in the parts, so Unicode, whose
#: normalisation the library owns, never matches.  The total length and the
#: special-use names are checked in plain_email.  The library's other options
#: (globally_deliverable, test_environment, allow_*) only widen what it accepts or
#: do not touch this shape, so the shape holds whatever their module defaults.
_PLAIN_EMAIL = re.compile(
    rf"(?=[A-Za-z0-9_+.-]{{1,{LOCAL_PART_MAX_LENGTH}}}@)"
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    rf"@(?=[A-Za-z0-9.-]{{1,{DOMAIN_MAX_LENGTH}}}\Z)"
    rf"(?:(?=[A-Za-z0-9-]{{1,{DNS_LABEL_LENGTH_LIMIT}}}\.)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+"
    rf"[A-Za-z]{{1,{DNS_LABEL_LENGTH_LIMIT}}}"
)
#: email-validator rejects a domain equal to a special-use name or ending in
#: ``.name``.  On a plain address (a single @, no @ in the domain) that is the
#: lower-cased address ending in ``@name`` or ``.name``: one C-level endswith.
#: Built from the library's own list, so an upgrade that adds a name stays in step
#: (read once here, whereas the library reads it at every call: code that changes
#: the list at run time would have to rebuild this).
_SPECIAL_USE_ENDINGS = tuple(
    sep + name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES for sep in ("@", ".")
)
#: Ours (TOO_LONG) and the library's limit on the whole address, whichever is less.
_PLAIN_MAX = min(EMAIL_MAX, EMAIL_MAX_LENGTH)

#: Nigeria's numbering plan as phonenumbers knows it: plain_phone reads its
#: patterns from here, so a metadata update moves both ways at once.
_NG = phonenumbers.PhoneMetadata.metadata_for_region("NG")
#: The common written shapes: ASCII digits in groups split by single spaces or
#: hyphens, perhaps after one "+".  phonenumbers.parse drops exactly these
#: separators (none of them can start an extension), so what is left to decide is
#: the digit string alone.
_PLAIN_PHONE = re.compile(r"\+?[0-9]+(?:[ -][0-9]+)*")
_NG_CODE = str(_NG.country_code)
_NG_E164_PREFIX = "+" + _NG_CODE
#: The one national length the fast path decides: every NG mobile and fixed-line
#: number has it; longer toll-free and UAN numbers go to the library.
_NG_NSN_LENGTH = 10
_NG_GENERAL = re.compile(_NG.general_desc.national_number_pattern)
_NG_IDD = re.compile(_NG.international_prefix or "(?!)")


def _valid_national_numbers(metadata: phonenumbers.PhoneMetadata, length: int) -> re.Pattern[str]:
    """A regex whose fullmatch on a national number of ``length`` digits says is_valid_number.

    is_valid_number asks whether the number's type is not UNKNOWN: it must fit the
    general description and at least one type's (each a length set, where an empty
    set means any length, and a pattern).  The mobile pattern is skipped when the
    metadata says it equals the fixed-line one, as the library does.  Built once
    from the metadata instead of the library's chain of up to eleven matches.
    """

    def fits(desc: phonenumbers.PhoneNumberDesc | None) -> bool:
        return (
            desc is not None
            and bool(desc.national_number_pattern)
            and (not desc.possible_length or length in desc.possible_length)
        )

    types = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        types.append(metadata.mobile)
    patterns = [f"(?:{desc.national_number_pattern})" for desc in types if fits(desc)]
    if not fits(metadata.general_desc) or not patterns:
        return re.compile("(?!)")
    return re.compile(
        rf"(?=(?:{metadata.general_desc.national_number_pattern})\Z)(?:{'|'.join(patterns)})"
    )


#: What plain_phone's argument (in its docstring) takes from the metadata beyond
#: the patterns: country code 234 is NG's alone and no shorter code is a prefix
#: of it; the national prefix is one "0" that parsing just drops; 10 digits is not
#: a local-only length.  If an upgrade changes any of it, the fast path decides
#: nothing (every phone goes to the library) until someone re-reads the argument;
#: tests/test_phone_fast_path.py fails loudly then.
_NG_AS_READ = (
    phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(_NG.country_code) == ("NG",)
    and not any(
        int(_NG_CODE[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        for size in range(1, len(_NG_CODE))
    )
    and _NG.national_prefix_for_parsing == "0"
    and not _NG.national_prefix_transform_rule
    and _NG_NSN_LENGTH not in _NG.general_desc.possible_length_local_only
)
_NG_VALID = _valid_national_numbers(_NG, _NG_NSN_LENGTH) if _NG_AS_READ else re.compile("(?!)")


class FieldProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _clean(value: str, label: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise FieldProblem("TOO_LONG", f"{label} must be at most {limit} characters")
    if CONTROL.search(value):
        raise FieldProblem("INVALID", f"{label} must not contain control characters")
    return value


def name(value: str | None) -> str:
    if value is None or not value.strip():
        raise FieldProblem("BLANK", "Name is required")
    value = _clean(value, "Name", NAME_MAX)
    if len(value.lower()) > NAME_MAX:  # "İ".lower() is two characters: the sort key must fit
        raise FieldProblem("TOO_LONG", f"Name must be at most {NAME_MAX} characters")
    return value


def _plain_or_library(
    value: str | None,
    plain: Callable[[str], str | None],
    library: Callable[[str | None], Any],
) -> Any:
    """A fast rule's answer for the stripped value, else the library rule's.

    The fast rule only ever answers when it is sure (None is "ask the library",
    never a verdict), so the outcome is always the library's: tested per rule
    against the library on generated inputs.
    """
    if value is not None:
        answer = plain(value.strip())
        if answer is not None:
            return answer
    return library(value)


def email(value: str | None) -> str:
    """An address of the plain shape is decided here; any other goes to email-validator.

    The library costs about 23 us an address, a large share of a bulk call's CPU per
    row; plain_email gives the same answer for the common shape in about 0.7 us
    (bench/email_rule.py), and tests/test_email_fast_path.py compares the two on
    generated addresses.
    """
    return _plain_or_library(value, plain_email, email_by_library)


def plain_email(value: str) -> str | None:
    """The normalised address when the stripped ``value`` has the plain shape, else None.

    None is never a verdict, only "ask the library": so the shape may be narrower
    than what the library accepts, never wider, and what it returns must equal the
    library's ``normalized.lower()``, which for this shape is the address lower-cased
    (the library keeps an ASCII local part as given and lower-cases the domain; we
    lower-case the rest).  A match also passes email_by_library's own checks
    (length, control characters), which come before the library's.
    """
    if len(value) > _PLAIN_MAX or _PLAIN_EMAIL.fullmatch(value) is None:
        return None
    lowered = value.lower()
    if lowered.endswith(_SPECIAL_USE_ENDINGS):
        return None
    return lowered


def email_by_library(value: str | None) -> str:
    """The whole email rule through email-validator: every address plain_email leaves."""
    if value is None or not value.strip():
        raise FieldProblem("BLANK", "Email is required")
    value = _clean(value, "Email", EMAIL_MAX)
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise FieldProblem("INVALID", "Email is not a valid address") from None
    return checked.normalized.lower()


def phone(value: str | None) -> str | None:
    """A Nigerian number of a common shape is decided here; any other goes to phonenumbers.

    The library costs about 21 us a number, about 15 % of a bulk row's server CPU;
    plain_phone gives the same answer for the common shapes in about 1 us
    (bench/phone_rule.py), and tests/test_phone_fast_path.py compares the two on
    generated numbers.
    """
    return _plain_or_library(value, plain_phone, phone_by_library)


def plain_phone(value: str) -> str | None:
    """The E.164 form when the stripped ``value`` is a valid NG number of a common shape, else None.

    None is never a verdict, only "ask the library": an invalid number, too, is
    left to it.  The shapes are ``+234N``, ``234N``, ``0N`` and ``N`` alone, for a
    national number N of 10 digits not starting with 0, with single spaces or
    hyphens between digits.  What phonenumbers.parse(value, "NG") makes of each,
    once it has dropped the separators:

    - ``+234N``: country code 234 (neither 2 nor 23 is one), national number N
      (the national prefix "0" does not start it).
    - Without "+", NG's international prefix ("009") is tried first: we leave
      every number it matches to the library.
    - ``234N``: the library drops "234" as NG's own code when the whole does not
      fit NG's general description and N does (any valid N does); when the
      whole does fit, we leave it to the library.
    - ``0N``: no country code, so NG's 234; the "0" is dropped as the national
      prefix whenever N fits the general description and 10 digits is a
      possible length, which any valid N does.
    - ``N``: no country code, so 234; N is kept whole: a valid N is of a possible
      length (not too long), so the check for a leading "234" keeps it.

    So for a valid N the number is 234 / N, with no leading zeros, and
    is_valid_number on it is _NG_VALID's answer; its E.164 form is "+234" + N.
    An invalid N would be INVALID too, but is left to the library.  The length
    and control-character checks of phone_by_library pass on every such shape.
    """
    if len(value) > PHONE_MAX or _PLAIN_PHONE.fullmatch(value) is None:
        return None
    digits = value.replace(" ", "").replace("-", "")
    if digits[0] == "+":
        if len(digits) != len(_NG_E164_PREFIX) + _NG_NSN_LENGTH:
            return None
        if not digits.startswith(_NG_E164_PREFIX):
            return None
        national = digits[len(_NG_E164_PREFIX) :]
    elif _NG_IDD.match(digits) is not None:
        return None
    elif len(digits) == len(_NG_CODE) + _NG_NSN_LENGTH and digits.startswith(_NG_CODE):
        if _NG_GENERAL.fullmatch(digits) is not None:
            return None
        national = digits[len(_NG_CODE) :]
    elif len(digits) == 1 + _NG_NSN_LENGTH and digits[0] == "0":
        national = digits[1:]
    elif len(digits) == _NG_NSN_LENGTH:
        national = digits
    else:
        return None
    if national[0] == "0" or _NG_VALID.fullmatch(national) is None:
        return None
    return _NG_E164_PREFIX + national


def phone_by_library(value: str | None) -> str | None:
    """The whole phone rule through phonenumbers: every number plain_phone leaves."""
    if value is None or not value.strip():
        return None
    value = _clean(value, "Phone", PHONE_MAX)
    try:
        number = phonenumbers.parse(value, "NG")
    except phonenumbers.NumberParseException:
        raise FieldProblem("INVALID", "Phone is not a valid phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldProblem("INVALID", "Phone is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def tin(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = _clean(value, "TIN", TIN_MAX)
    digits = sum(ch.isdigit() for ch in value)
    if not _TIN.match(value) or not 8 <= digits <= 15:
        raise FieldProblem("INVALID", "TIN must be 8 to 15 digits with at most one hyphen")
    return value


def address(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return _clean(value, "Address", ADDRESS_MAX)


def company_name(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return _clean(value, "Company name", COMPANY_MAX)


#: service field name -> (API input name, rule)
RULES: dict[str, tuple[str, Callable[[str | None], str | None]]] = {
    "name": ("name", name),
    "email": ("email", email),
    "phone": ("phone", phone),
    "address": ("address", address),
    "company_name": ("companyName", company_name),
    "tin": ("tin", tin),
}


def check(values: Mapping[str, str | None], path: tuple[str, ...] = ("input",)) -> dict:
    """Apply the rule of every given field; raise InvalidInput listing all problems."""
    clean, errors = check_each(values, path)
    if errors:
        raise InvalidInput(errors)
    return clean


def check_each(
    values: Mapping[str, str | None], path: tuple[str, ...] = ("input",)
) -> tuple[dict[str, str | None], list[UserError]]:
    """The good values and the problems of the others, field by field.

    An import (app.services.imports) keeps a customer whose optional phone is
    bad and leaves only that value out; the API refuses the whole input
    (``check``).  Both read the same rules here.
    """
    clean: dict[str, str | None] = {}
    errors: list[UserError] = []
    for key, value in values.items():
        api_name, rule = RULES[key]
        if value is not None and not isinstance(value, str):
            errors.append(UserError((*path, api_name), "INVALID", f"{api_name} must be a string"))
            continue
        try:
            clean[key] = rule(value)
        except FieldProblem as problem:
            errors.append(UserError((*path, api_name), problem.code, problem.message))
    return clean, errors
