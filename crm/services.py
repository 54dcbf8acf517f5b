"""The subscriber book's rules: who a subscriber is, their numbers, addresses, flags and notes.

Functions here only flush; the request, job or command that calls them commits. Bad input raises
SubscriberError with a message for people and the offending fields, and changes nothing.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, or_, select, text

from config import LOCALES
from core.extensions import db
from core.text import ascii_digits, normalize_persian
from crm.models import Address, FeedbackChannel, Note, Subscriber, SubscriberPhone
from crm.phones import PhoneNumberError, display_phone, phone_kind, to_e164
from geo.points import PointError, check_in_service_area, check_point
from geo.zones import zone_for_point

FEEDBACK_CHANNELS = tuple(c.value for c in FeedbackChannel)
NAME_MAX = 200
NOTES_MAX = 2000
NOTE_KINDS = ("general", "mood", "preference")
ADDRESS_LIMITS = {"label": 60, "text": 500, "unit": 60, "landmark": 200, "driver_notes": 500}
ADDRESS_FIELDS = (*ADDRESS_LIMITS, "lat", "lon")


class SubscriberError(ValueError):
    """A change to the subscriber book that cannot be made, with per-field messages."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class PhoneTaken(SubscriberError):
    """A number that already belongs to another subscriber: moving it must be asked for."""

    status = 409
    code = "phone_taken"

    def __init__(self, e164: str, owner_id: int, field: str = "phones"):
        super().__init__(f"{e164} already belongs to subscriber {owner_id}", {field: "belongs to another subscriber"})
        self.e164, self.owner_id = e164, owner_id


def _clean_text(value, field: str, maximum: int, required: bool = False) -> str:
    if value is not None and not isinstance(value, str):  # str() would keep 5 as "5" and {} as "{}"
        raise SubscriberError(f"{field} must be text", {field: "invalid"})
    text = " ".join(str(value or "").split()) if field != "notes" else str(value or "").strip()
    if required and not text:
        raise SubscriberError(f"{field} must not be empty", {field: "required"})
    if len(text) > maximum:
        raise SubscriberError(f"{field} may be at most {maximum} characters", {field: "too long"})
    return text


def _language(value: str | None) -> str:
    if value not in LOCALES:
        raise SubscriberError(f"language must be one of {', '.join(LOCALES)}", {"language": "invalid"})
    return value


def _refuse_unknown(fields: dict, allowed) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise SubscriberError(f"unknown fields: {', '.join(sorted(unknown))}", dict.fromkeys(unknown, "unknown"))


def normalise_phone(raw: str, region: str, field: str = "phone") -> str:
    """A typed number in E.164, or SubscriberError naming the field."""
    try:
        return to_e164(raw, region)
    except PhoneNumberError as exc:
        raise SubscriberError(str(exc), {field: "not a phone number"}) from None


def phone_owner(e164: str) -> SubscriberPhone | None:
    """The phone row holding this E.164 number, if any."""
    return db.session.scalar(select(SubscriberPhone).where(SubscriberPhone.e164 == e164))


def search_key_of(name: str, numbers: list[tuple[str, str]], addresses) -> str:
    """What search matches: the name (also written without its spaces and ZWNJs, as people often type
    it), each number as (E.164, national spelling without spaces), and every address's label, text and
    landmark — all folded by normalize_persian."""
    folded_name = normalize_persian(name)
    parts = [name, folded_name.replace(" ", "")] if " " in folded_name else [name]
    for e164, national in numbers:
        parts += [e164, national]
    parts += [f"{a.label} {a.text} {a.landmark}" for a in addresses]
    return normalize_persian(" | ".join(parts))


def refresh_search_key(subscriber: Subscriber) -> None:
    """Recompute what search matches for a subscriber (see search_key_of)."""
    numbers = [(p.e164, display_phone(p.e164).replace(" ", "")) for p in subscriber.phones]
    subscriber.search_key = search_key_of(subscriber.name, numbers, subscriber.addresses)


def create_subscriber(
    name: str, phones: list[str], region: str, language: str | None = None, notes: str = ""
) -> Subscriber:
    """Add a subscriber with at least one phone number; a number owned by another is a PhoneTaken."""
    name = _clean_text(name, "name", NAME_MAX, required=True)
    notes = _clean_text(notes, "notes", NOTES_MAX)
    language = _language("fa" if language is None else language)  # not `or`: {} and "" are no language
    if not isinstance(phones, list) or not phones:
        raise SubscriberError("at least one phone number is needed", {"phones": "required"})
    numbers: list[str] = []
    for index, raw in enumerate(phones):
        e164 = normalise_phone(str(raw), region, f"phones[{index}]")
        owner = phone_owner(e164)
        if owner is not None:
            raise PhoneTaken(e164, owner.subscriber_id, f"phones[{index}]")
        if e164 not in numbers:
            numbers.append(e164)
    subscriber = Subscriber(name=name, language=language, notes=notes)
    subscriber.phones = [SubscriberPhone(e164=n, kind=phone_kind(n)) for n in numbers]
    refresh_search_key(subscriber)
    db.session.add(subscriber)
    db.session.flush()
    return subscriber


def update_subscriber(subscriber: Subscriber, **changes) -> Subscriber:
    """Change name, language, notes, the SMS opt-out or the feedback channel; unknown fields are refused."""
    allowed = {"name", "language", "notes", "sms_opt_out", "feedback_channel"}
    _refuse_unknown(changes, allowed)
    if "name" in changes:
        subscriber.name = _clean_text(changes["name"], "name", NAME_MAX, required=True)
    if "language" in changes:
        subscriber.language = _language(changes["language"])
    if "notes" in changes:
        subscriber.notes = _clean_text(changes["notes"], "notes", NOTES_MAX)
    if "sms_opt_out" in changes:
        subscriber.sms_opt_out = bool(changes["sms_opt_out"])
    if "feedback_channel" in changes:
        if changes["feedback_channel"] not in FEEDBACK_CHANNELS:
            raise SubscriberError(
                f"feedback_channel must be one of: {', '.join(FEEDBACK_CHANNELS)}", {"feedback_channel": "unknown"}
            )
        subscriber.feedback_channel = changes["feedback_channel"]
    refresh_search_key(subscriber)
    db.session.flush()
    return subscriber


def add_phone(subscriber: Subscriber, raw: str, region: str) -> SubscriberPhone:
    """Give a subscriber another number; one owned by someone else is a PhoneTaken (use move_phone)."""
    e164 = normalise_phone(raw, region)
    owner = phone_owner(e164)
    if owner is not None:
        if owner.subscriber_id == subscriber.id:
            return owner
        raise PhoneTaken(e164, owner.subscriber_id, "phone")
    phone = SubscriberPhone(e164=e164, kind=phone_kind(e164))
    subscriber.phones.append(phone)
    refresh_search_key(subscriber)
    db.session.flush()
    return phone


def move_phone(raw: str, to_subscriber: Subscriber, region: str) -> SubscriberPhone:
    """Move a number from whoever has it to ``to_subscriber`` (the explicit way to re-home a number)."""
    e164 = normalise_phone(raw, region)
    phone = phone_owner(e164)
    if phone is None:
        return add_phone(to_subscriber, e164, region)
    previous = phone.subscriber
    if previous.id == to_subscriber.id:
        return phone
    if len(previous.phones) == 1:
        raise SubscriberError(
            f"{e164} is subscriber {previous.id}'s only number; give them another first", {"phone": "only number"}
        )
    previous.phones.remove(phone)
    db.session.flush()  # the unique number must leave before it arrives
    moved = SubscriberPhone(e164=e164, kind=phone.kind)
    to_subscriber.phones.append(moved)
    refresh_search_key(previous)
    refresh_search_key(to_subscriber)
    db.session.flush()
    return moved


def remove_phone(subscriber: Subscriber, phone_id: int) -> None:
    """Take a number off a subscriber, who must keep at least one."""
    phone = next((p for p in subscriber.phones if p.id == phone_id), None)
    if phone is None:
        raise SubscriberError("no such phone on this subscriber", {"phone": "not found"})
    if len(subscriber.phones) == 1:
        raise SubscriberError("a subscriber keeps at least one number", {"phone": "only number"})
    subscriber.phones.remove(phone)
    refresh_search_key(subscriber)
    db.session.flush()


def _address_fields(fields: dict, partial: bool = False) -> dict:
    clean = {}
    for name, maximum in ADDRESS_LIMITS.items():
        if name in fields or not partial:
            clean[name] = _clean_text(fields.get(name, ""), name, maximum, required=name in ("label", "text"))
    if "lat" in fields or "lon" in fields or not partial:
        try:
            lat, lon = check_point(fields.get("lat"), fields.get("lon"))
            check_in_service_area(lat, lon)
        except PointError as exc:
            raise SubscriberError(str(exc), {"lat": "invalid", "lon": "invalid"}) from None
        zone = zone_for_point(lat, lon)
        clean.update(lat=lat, lon=lon, zone_id=zone.id if zone else None)
    return clean


def add_address(subscriber: Subscriber, **fields) -> Address:
    """Save a named address (label, text, lat, lon; unit, landmark, driver_notes optional) with its zone."""
    _refuse_unknown(fields, ADDRESS_FIELDS)
    address = Address(**_address_fields(fields))
    subscriber.addresses.append(address)
    refresh_search_key(subscriber)
    db.session.flush()
    return address


def update_address(address: Address, **fields) -> Address:
    """Change some fields of a saved address; a moved point gets its zone again."""
    _refuse_unknown(fields, ADDRESS_FIELDS)
    if ("lat" in fields) != ("lon" in fields):
        raise SubscriberError("give lat and lon together", {"lat": "required", "lon": "required"})
    for name, value in _address_fields(fields, partial=True).items():
        setattr(address, name, value)
    refresh_search_key(address.subscriber)
    db.session.flush()
    return address


def set_barred(subscriber: Subscriber, barred: bool, reason: str = "") -> None:
    """Bar a caller (a reason is required) or lift the bar."""
    reason = _clean_text(reason, "reason", 500)
    if barred and not reason:
        raise SubscriberError("barring a caller needs a reason", {"reason": "required"})
    subscriber.barred, subscriber.barred_reason = barred, reason if barred else ""
    db.session.flush()


def add_note(subscriber: Subscriber, body: str, kind: str = "general", author_id: int | None = None) -> Note:
    """Keep something an agent learnt about the subscriber."""
    body = _clean_text(body, "body", NOTES_MAX, required=True)
    if kind not in NOTE_KINDS:
        raise SubscriberError(f"kind must be one of {', '.join(NOTE_KINDS)}", {"kind": "invalid"})
    note = Note(subscriber_id=subscriber.id, body=body, kind=kind, author_id=author_id)
    db.session.add(note)
    db.session.flush()
    return note


def find_by_phone(raw: str, region: str) -> Subscriber | None:
    """The subscriber owning a number, however it is spelled; raises PhoneNumberError on non-numbers."""
    e164 = to_e164(raw, region)
    # One indexed join: the caller's numbers and addresses load only if the caller of this needs them.
    return db.session.scalar(select(Subscriber).join(SubscriberPhone).where(SubscriberPhone.e164 == e164))


def search_query(text: str) -> Select:
    """Subscribers whose name, any number or any address contains every word of ``text``."""
    query = select(Subscriber).where(Subscriber.merged_into_id.is_(None)).order_by(Subscriber.id)
    words = normalize_persian(text).split()
    if not words:
        return query
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    conditions = []
    for word in words:
        digits = "".join(ch for ch in ascii_digits(word) if ch.isdigit())
        # A number typed with a leading 0 is stored as +98…: also look for it without the 0.
        variants = {word} | ({digits, digits.lstrip("0")} - {""} if len(digits) >= 3 else set())
        conditions.append(or_(*(_key_contains(v, sqlite) for v in sorted(variants))))
    return query.where(*conditions)


def _key_contains(fragment: str, sqlite: bool):
    """``search_key`` contains ``fragment``, through the search index where the index can answer it.

    Migration 0002 made the index: on PostgreSQL a pg_trgm index serves this LIKE when the planner finds
    it worth it; on SQLite the FTS5 trigram table answers digit fragments (parts of phone numbers, which
    match few subscribers). Words go on scanning the key in id order, which stops at the first page of
    matches: a common name fragment through the index would gather every match first (measured in
    bench/crm_bench.py).
    """
    if sqlite and len(fragment) >= 4 and fragment.isdigit():
        # unique=True: several words each bring their own pattern into one statement.
        pattern = bindparam("pattern", f"%{fragment}%", unique=True)
        matches = text("SELECT rowid FROM subscriber_search WHERE search_key LIKE :pattern").bindparams(pattern)
        return Subscriber.id.in_(matches)
    return Subscriber.search_key.contains(fragment, autoescape=True)
