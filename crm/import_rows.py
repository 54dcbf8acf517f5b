"""Reading one row of a subscriber CSV: its numbers, flags, texts and address, checked and placed.

``crm.importer`` decides what each checked row does to the subscriber book; this module writes nothing. It
looks up zones (one index per chunk) and the offline gazetteer, and parses each distinct number once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers

from config import LOCALES
from core.text import ascii_digits, normalize_persian
from crm.import_file import clean_cell, one_line, strip_control
from crm.models import Tier
from crm.phones import PhoneNumberError, to_e164
from crm.services import ADDRESS_LIMITS, NAME_MAX, NOTES_MAX
from geo.gazetteer import places_by_name, search_text
from geo.points import PointError, check_in_service_area, check_point, service_area_km
from geo.zones import ZoneIndex, km_from_zones, zone_entry_at, zone_index

BARRED_REASON_MAX = 500

# The spellings offices use in the language, tier and yes/no columns.
LANGUAGES = {"fa": "fa", "farsi": "fa", "persian": "fa", "فارسی": "fa", "en": "en", "english": "en", "انگلیسی": "en"}
TRUE = {"1", "true", "yes", "y", "x", "بله", "آری", "بلی", "دارد"}
FALSE = {"", "0", "false", "no", "n", "خیر", "نه", "ندارد"}
DEFAULT_LABEL = {"fa": "نشانی", "en": "Address"}
NEEDS_A_PIN = {"fa": "نشانی بدون نقشه (نیاز به سنجاق)", "en": "Address (needs a pin)"}
_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}

_PHONE_SPLIT = re.compile(r"[,;/\n\r|،؛]+")


@dataclass
class Row:
    """One data row, read and checked, with no database object yet (so it can be applied again)."""

    line: int
    name: str = ""
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (e164, kind), in file order
    notes: str = ""
    language: str | None = None
    tier: str | None = None
    barred: bool = False
    barred_reason: str = ""
    sms_opt_out: bool = False
    address: dict | None = None
    unplaced: str = ""  # an address that could not be placed, for the notes
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def too_long(what: str, text: str, maximum: int) -> str | None:
    """Why a text is too long for its field, or None if it fits."""
    if len(text) > maximum:
        return f"{what} is {len(text)} characters long (at most {maximum})"
    return None


class RowReader:
    """Reads and checks the rows of one import, with what it has looked up cached across them."""

    def __init__(self, region: str, locale: str):
        self.region = region
        self.locale = locale
        self._numbers: dict[str, tuple[str, str] | None] = {}  # one piece of a phone cell → (e164, kind)
        self._places: dict[str, dict | None] = {}
        self._names: dict[str, dict] | None = None
        self._phone_facts: dict[str, tuple[str, str]] = {}
        self.zones: ZoneIndex | None = None

    def start_chunk(self) -> None:
        """Take the zones as they are now, for the rows of the next chunk."""
        self.zones = zone_index()

    def zone(self, lat: float, lon: float) -> int | None:
        """The zone id of a checked point as geo.zones.zone_for_point picks it; PointError if out of the area.

        One zone index serves a whole chunk: zone_for_point and check_in_service_area read the zones' version
        stamp from the database on every call, which was most of an import's time.
        """
        index = self.zones or zone_index()
        entry = zone_entry_at(index, lat, lon)
        if entry is not None:
            return entry.id
        distance = km_from_zones(lat, lon, index)
        if distance is not None and distance > service_area_km():
            check_in_service_area(lat, lon)  # refuses the point, in its own words
        return None

    def facts(self, e164: str) -> tuple[str, str]:
        """crm.phones.phone_kind and display_phone (without spaces) of a number, from one parse, once."""
        facts = self._phone_facts.get(e164)
        if facts is None:
            number = phonenumbers.parse(e164)
            kind = "mobile" if phonenumbers.number_type(number) in _MOBILE else "landline"
            display = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            facts = self._phone_facts[e164] = (kind, display.replace(" ", ""))
        return facts

    def _number(self, text: str) -> tuple[str, str] | None:
        if text not in self._numbers:
            try:
                e164 = to_e164(text, self.region)
                self._numbers[text] = (e164, self.facts(e164)[0])
            except PhoneNumberError:
                self._numbers[text] = None
        return self._numbers[text]

    def _phones(self, cells: list[str], row: Row) -> None:
        bad = []
        for cell in cells:
            for piece in _PHONE_SPLIT.split(strip_control(cell)):
                piece = piece.strip()
                if not piece:
                    continue
                found = self._number(piece)
                if found is None and len(piece.split()) > 1:
                    # "+989123456789 +982122710000": several numbers with spaces between them.
                    tokens = [t for t in piece.split() if any(ch.isdigit() for ch in ascii_digits(t))]
                    numbers = [self._number(t) for t in tokens]
                    if tokens and all(numbers):
                        for number in numbers:
                            if number not in row.numbers:
                                row.numbers.append(number)
                        continue
                if found is None:
                    bad.append(piece)
                elif found not in row.numbers:
                    row.numbers.append(found)
        listed = ", ".join(repr(b) for b in bad)
        if not row.numbers:
            row.errors.append(f"no valid phone number ({listed})" if bad else "no phone number")
        elif bad:
            row.warnings.append(f"not phone numbers, left out: {listed}")

    def _place(self, text: str) -> dict | None:
        """The gazetteer place whose name is exactly this address text, if any."""
        key = search_text(text)
        if key not in self._places:
            if self._names is None:
                self._names = places_by_name()  # one read of the gazetteer per import, not one per address
            best = self._names.get(key)
            strong = best is not None
            if strong:
                try:
                    self.zone(best["lat"], best["lon"])
                except PointError:
                    strong = False
            self._places[key] = best if strong else None
        return self._places[key]

    def _address(self, get, row: Row) -> None:
        fields = {
            "text": one_line(get("address")),
            "label": one_line(get("address_label")),
            "unit": one_line(get("unit")),
            "landmark": one_line(get("landmark")),
            "driver_notes": one_line(get("driver_notes")),
        }
        for name, text in fields.items():
            problem = too_long("address" if name == "text" else name, text, ADDRESS_LIMITS[name])
            if problem:
                row.errors.append(problem)
        lat_text, lon_text = (ascii_digits(get(name)).strip() for name in ("lat", "lon"))
        point = None
        if lat_text or lon_text:
            if not (lat_text and lon_text):
                given, missing = ("latitude", "longitude") if lat_text else ("longitude", "latitude")
                row.errors.append(f"{given} given without {missing}")
                return
            lat_text, lon_text = (re.sub(r"^(-?\d+),(\d+)$", r"\1.\2", t) for t in (lat_text, lon_text))
            try:
                point = check_point(lat_text, lon_text)
                zone_id = self.zone(*point)
            except PointError as exc:
                problem = f"coordinates ({lat_text}, {lon_text}): {exc}"
                if point is not None and self._fits(point[1], point[0]):
                    problem += "; latitude and longitude look swapped"
                row.errors.append(problem)
                return
        if not fields["text"]:
            if point is not None:
                row.warnings.append(f"coordinates ({lat_text}, {lon_text}) without an address text, left out")
            return
        if row.errors:
            return
        if point is None:
            place = self._place(fields["text"])
            if place is None:
                label = f"{fields['label']}: " if fields["label"] else ""
                unit = f" ({fields['unit']})" if fields["unit"] else ""
                row.unplaced = f"{NEEDS_A_PIN.get(self.locale, NEEDS_A_PIN['en'])}: {label}{fields['text']}{unit}"
                row.warnings.append("address kept in notes, needs a pin")
                return
            point = (place["lat"], place["lon"])
            zone_id = self.zone(*point)
            where = f"{place['name_fa']} ({place['name_en']})"
            row.warnings.append(f"address placed at the gazetteer's {where}; check the pin")
        fields["label"] = fields["label"] or DEFAULT_LABEL.get(self.locale, DEFAULT_LABEL["en"])
        row.address = {**fields, "lat": point[0], "lon": point[1], "zone_id": zone_id}

    def read_row(self, line: int, cells: list[str], columns: dict[str, list[int]]) -> Row:
        """One data row, checked: what it says, with its errors (it will be refused) and warnings."""

        def get(name: str) -> str:
            indexes = columns.get(name)
            return cells[indexes[0]] if indexes and indexes[0] < len(cells) else ""

        row = Row(line)
        row.name = " ".join(filter(None, [one_line(get("name")), one_line(get("last_name"))]))
        problem = too_long("name", row.name, NAME_MAX)
        if problem:
            row.errors.append(problem)
        self._phones([cells[i] for i in columns["phone"] if i < len(cells)], row)
        row.notes = clean_cell(get("notes")).strip()
        problem = too_long("notes", row.notes, NOTES_MAX)
        if problem:
            row.errors.append(problem)

        language = normalize_persian(get("language"))
        if language:
            row.language = LANGUAGES.get(language)
            if row.language is None or row.language not in LOCALES:
                row.warnings.append(f"unknown language {get('language').strip()!r}, left as the office's")
                row.language = None
        tier = normalize_persian(get("tier"))
        if tier:
            row.tier = tier if tier in {t.value for t in Tier} else None
            if row.tier is None:
                row.warnings.append(f"unknown tier {get('tier').strip()!r}, ignored")
        row.barred = self._flag(get("barred"), "barred", row)
        row.barred_reason = one_line(get("barred_reason"))
        problem = too_long("barred_reason", row.barred_reason, BARRED_REASON_MAX)
        if problem:
            row.errors.append(problem)
        if row.barred and not row.barred_reason:
            row.barred_reason = "barred in the imported list"
        row.sms_opt_out = self._flag(get("sms_opt_out"), "sms_opt_out", row)
        self._address(get, row)
        return row

    def _fits(self, lat: float, lon: float) -> bool:
        try:
            self.zone(lat, lon)
        except PointError:
            return False
        return True

    @staticmethod
    def _flag(value: str, what: str, row: Row) -> bool:
        folded = normalize_persian(value)
        if folded in TRUE:
            return True
        if folded not in FALSE:
            row.warnings.append(f"{what}: {value.strip()!r} is neither yes nor no, read as no")
        return False
