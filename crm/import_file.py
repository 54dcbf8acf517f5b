"""Reading an office's subscriber CSV: delimiter, header names in Persian or English, cells cleaned.

The importer (``crm.importer``) decides what each row means; this module only turns the file into
(line number, cells) records and the header into the columns the importer knows.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from typing import TextIO

from core.text import normalize_persian

COLUMN_ALIASES = {
    "id": ["id", "شناسه"],  # an export's own id: read past, the new database gives new ids
    "name": ["name", "fullname", "firstname", "نام", "نامونامخانوادگی", "نامکامل", "نامکوچک", "ناممشترک"],
    "last_name": ["lastname", "surname", "familyname", "family", "نامخانوادگی", "فامیلی"],
    "phone": [
        "phone",
        "phones",
        "mobile",
        "tel",
        "telephone",
        "cell",
        "number",
        "تلفن",
        "تلفنها",
        "تلفنهمراه",
        "تلفنثابت",
        "موبایل",
        "همراه",
        "شماره",
        "شمارهتلفن",
        "شمارهتماس",
    ],
    "address": ["address", "addresstext", "نشانی", "آدرس"],
    "address_label": ["addresslabel", "label", "عنوان", "عنواننشانی", "برچسب"],
    "unit": ["unit", "واحد"],
    "landmark": ["landmark", "نشانه"],
    "driver_notes": ["drivernotes", "توضیحراننده"],
    "lat": ["lat", "latitude", "عرض", "عرضجغرافیایی"],
    "lon": ["lon", "lng", "long", "longitude", "طول", "طولجغرافیایی"],
    "notes": ["notes", "note", "comments", "توضیحات", "یادداشت"],
    "language": ["language", "lang", "زبان"],
    "tier": ["tier", "سطح"],
    "barred": ["barred", "مسدود"],
    "barred_reason": ["barredreason", "دلیلمسدودی"],
    "sms_opt_out": ["smsoptout", "nosms", "لغوپیامک"],
}
DELIMITERS = ("\t", ";", ",")
_HEADER_NOISE = re.compile(r"[\s_\-.:/()]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What crm.exporter puts before a cell that a spreadsheet would run as a formula.
_FORMULA_GUARD = re.compile(r"^'(?=[=+\-@\t\r])")


class ImportFileError(ValueError):
    """A file that cannot be imported at all: unreadable, empty, or without name and phone columns."""


def _header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", normalize_persian(text.replace("\ufeff", "")))


_ALIASES = {_header_key(alias): name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}


def map_header(header: list[str]) -> tuple[dict[str, list[int]], list[str]]:
    """Which column holds what (phone may repeat), and the titles nobody knows; ImportFileError if unusable."""
    columns: dict[str, list[int]] = {}
    ignored = []
    for index, title in enumerate(header):
        key = _header_key(title)
        name = _ALIASES.get(key)
        if name is None and _ALIASES.get(key.rstrip("0123456789")) == "phone":  # phone2, تلفن ۲
            name = "phone"
        if name is None:
            if title.strip():
                ignored.append(title.strip())
            continue
        if name != "phone" and name in columns:
            raise ImportFileError(f"two columns for {name}: {header[columns[name][0]]!r} and {title!r}")
        columns.setdefault(name, []).append(index)
    missing = [what for what in ("name", "phone") if what not in columns]
    if missing:
        found = ", ".join(repr(t) for t in header if t.strip()) or "none"
        raise ImportFileError(f"no {' and no '.join(missing)} column in the header (columns found: {found})")
    return columns, ignored


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_records(stream: TextIO) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """The delimiter and an iterator of (first line number, cells) of every record, header first."""
    first = stream.readline()
    skipped = 0  # blank lines before the header, which the csv reader does not see
    while first and not first.strip("\ufeff \t\r\n"):
        first = stream.readline()
        skipped += 1
    if not first:
        raise ImportFileError("the file is empty")
    first = first.lstrip("\ufeff")
    delimiter = _delimiter(first)
    reader = csv.reader(itertools.chain([first], stream), delimiter=delimiter)

    def generate() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1 + skipped
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"line {start}: {exc}") from None
            yield start, cells

    return delimiter, generate()


def check_file(stream: TextIO) -> None:
    """Read a whole file without touching the database: ImportFileError if it cannot be imported."""
    _, records = read_records(stream)
    map_header(next(records)[1])
    for _ in records:
        pass


def strip_control(value: str) -> str:
    """A cell without control characters."""
    return _CONTROL.sub("", value)


def clean_cell(value: str) -> str:
    """A cell without control characters or the export's formula guard."""
    return _FORMULA_GUARD.sub("", _CONTROL.sub("", value))


def one_line(value: str) -> str:
    """A cell cleaned and folded onto one line."""
    return " ".join(clean_cell(value).split())
