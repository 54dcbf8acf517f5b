"""Phone numbers as callers and agents write them, brought to E.164."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from core.text import ascii_digits

_SEPARATORS = re.compile(r"[\s\-().\u200c\u200f\u200e/]")


class PhoneNumberError(ValueError):
    """Text that is not a phone number Cabdesk can dial."""


def to_e164(raw: str, region: str) -> str:
    """Normalise any common spelling of a number (``0912…``, ``+98 912…``, ``0098…``, Persian digits)."""
    text = _SEPARATORS.sub("", ascii_digits(raw or "").strip())
    if not text:
        raise PhoneNumberError("empty phone number")
    if len(text) > 32:
        raise PhoneNumberError("too long to be a phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
        if not phonenumbers.is_valid_number(number) and not text.startswith(("+", "0")):
            # Iranian callers often drop the trunk 0: "9123456789".
            number = phonenumbers.parse("0" + text, region)
    except NumberParseException:
        raise PhoneNumberError(f"not a phone number: {raw!r}") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberError(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_kind(e164: str) -> str:
    """``mobile`` or ``landline`` (what the numbering plan says; unknown counts as landline)."""
    number_type = phonenumbers.number_type(phonenumbers.parse(e164))
    mobile = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
    return "mobile" if number_type in mobile else "landline"


def display_phone(e164: str) -> str:
    """A number as people in its own country write it."""
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)
