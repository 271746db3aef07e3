"""Input rules for customer fields: normalise a value or say what is wrong.

Each rule returns the normalised value (None for an optional field left empty)
or raises :class:`FieldProblem`.  Whole inputs are checked at once so that a
caller sees every problem in one answer, and nothing is read or written first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

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


def email(value: str | None) -> str:
    """An address of the plain shape is decided here; any other goes to email-validator.

    The library costs about 23 us an address, a large share of a bulk call's CPU per
    row; plain_email gives the same answer for the common shape in about 0.7 us
    (bench/email_rule.py), and tests/test_email_fast_path.py compares the two on
    generated addresses.
    """
    if value is not None:
        plain = plain_email(value.strip())
        if plain is not None:
            return plain
    return email_by_library(value)


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
    if errors:
        raise InvalidInput(errors)
    return clean
