"""Digits, Persian spellings and phone numbers as people in Tehran type them."""

from __future__ import annotations

import pytest

from core.text import ascii_digits, normalize_persian, persian_digits
from crm.phones import PhoneNumberError, display_phone, phone_kind, to_e164


def test_persian_and_arabic_digits_become_ascii():
    assert ascii_digits("۰۱۲۳۴۵۶۷۸۹ ٠١٢٣٤٥٦٧٨٩ 42") == "0123456789 0123456789 42"


def test_ascii_digits_show_as_persian():
    assert persian_digits("1404/09/02") == "۱۴۰۴/۰۹/۰۲"


def test_arabic_letter_forms_and_zwnj_fold_together():
    assert normalize_persian("كيان\u200cپور  ۱۲") == normalize_persian("کیان پور 12") == "کیان پور 12"


@pytest.mark.parametrize(
    "raw",
    [
        "0912 345 6789",
        "+98 912 345 6789",
        "00989123456789",
        "9123456789",
        "۰۹۱۲۳۴۵۶۷۸۹",
        "٠٩١٢-٣٤٥-٦٧٨٩",
        "(0912) 345.6789",
    ],
)
def test_every_common_spelling_of_a_mobile_is_one_number(raw):
    assert to_e164(raw, "IR") == "+989123456789"


def test_tehran_landline_with_area_code():
    assert to_e164("021 8888 1234", "IR") == "+982188881234"
    assert phone_kind("+982188881234") == "landline"
    assert phone_kind("+989123456789") == "mobile"


def test_foreign_number_keeps_its_country():
    assert to_e164("+44 20 7946 0958", "IR") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12", "0912", "+98 912 345 6789 1234 5678 9999 0000 1111"])
def test_non_numbers_are_refused_with_a_message(raw):
    with pytest.raises(PhoneNumberError):
        to_e164(raw, "IR")


def test_display_is_the_national_format():
    assert display_phone("+989123456789") == "0912 345 6789"
