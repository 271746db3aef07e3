"""Input rules for customer fields: normalise a value or say what is wrong.

Each rule returns the normalised value (None for an optional field left empty)
or raises :class:`FieldProblem`.  Whole inputs are checked at once so that a
caller sees every problem in one answer, and nothing is read or written first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import phonenumbers
from email_validator import EmailNotValidError, validate_email

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
