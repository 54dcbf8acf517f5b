"""Importing an existing office's subscriber list from CSV: messy numbers, duplicate rows, missing pins.

``import_subscribers(stream, region)`` reads a CSV with a header row and gives every data row one
outcome in an ``ImportReport``:

- ``imported``: a new subscriber;
- ``merged``: one of the row's numbers already belongs to a subscriber (in the database, or created by
  an earlier row of the same file): the row's new numbers, its address and its notes go to that
  subscriber instead of a duplicate;
- ``rejected``, with the reason: no valid number (the bad values are listed), no name and no known
  number, numbers of two different subscribers, a bad or far-away point, a text too long (a notes cell
  over 2,000 characters is refused, not cut: cutting would lose what the office wrote).

A row with some bad numbers and at least one good one goes in with the good ones and a warning naming
the bad ones. A row whose address has no coordinates is placed from the offline gazetteer when the
address text *is* a place's name (``تجریش`` → Tajrish), otherwise the subscriber goes in without the
address and its text is appended to their notes ("needs a pin"), so nothing is lost.

Atomicity and speed: every row is checked in Python first (numbers, lengths, points and zones in
``crm.import_rows``; who owns the numbers — one ``IN`` query per chunk of rows), so that only rows the
database itself refuses can fail late. A chunk (``chunk_size`` rows) is written inside one SAVEPOINT: a
flush of the changes to subscribers already in the book, then the new subscribers, numbers and addresses
as three multi-row INSERTs. If the database refuses any of it, the chunk is rolled back to its SAVEPOINT
and written again one row per SAVEPOINT, so the refused row leaves no trace (no subscriber, number or
address) and the others go in. An import never half-applies a row.

Transactions: like the rest of the subscriber book this only flushes, and the caller commits once at
the end (the whole file is one transaction). With ``commit_chunks=True`` every completed chunk is
committed as it is done (the CLI does this: SQLite has one writer, and the live console must be able
to write between chunks); the caller still commits the last one. Importing the same file again
merges every row and adds nothing, so an import stopped halfway can simply be run again.
``dry_run=True`` rolls everything back (to a SAVEPOINT taken at the start, so the caller's own pending
work is untouched) and returns the same report (on SQLite even the subscriber ids are the ones the rows
would get; a PostgreSQL sequence does not roll back, so there they are only indicative).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload

from core.database import ensure_transaction, savepoint
from core.extensions import db
from core.models import utcnow
from core.text import normalize_persian
from crm.import_file import map_header, read_records
from crm.import_rows import Row, RowReader, too_long
from crm.merge import SAME_PLACE_DEGREES, TIER_RANK
from crm.models import Address, Subscriber, SubscriberPhone, Tier
from crm.services import NOTES_MAX, search_key_of

CHUNK_SIZE = 1000
IMPORTED, MERGED, REJECTED = "imported", "merged", "rejected"


@dataclass
class RowResult:
    """What happened to one data row of the file."""

    line: int
    outcome: str
    subscriber_id: int | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    _subscriber: object = field(default=None, repr=False, compare=False)  # until the chunk is written


@dataclass
class ImportReport:
    """Counts and one entry per data row; ``warnings`` counts warning messages, not rows."""

    dry_run: bool = False
    delimiter: str = ","
    ignored_columns: list[str] = field(default_factory=list)
    entries: list[RowResult] = field(default_factory=list)
    rows: int = 0
    imported: int = 0
    merged: int = 0
    rejected: int = 0
    warnings: int = 0

    def add(self, entry: RowResult) -> None:
        self.entries.append(entry)
        self.rows += 1
        setattr(self, entry.outcome, getattr(self, entry.outcome) + 1)
        self.warnings += len(entry.warnings)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "merged": self.merged,
            "rejected": self.rejected,
            "warnings": self.warnings,
        }

    def write_csv(self, stream: TextIO) -> None:
        """The report for the office: line, outcome, subscriber_id, reason (or the warnings)."""
        writer = csv.writer(stream)
        writer.writerow(["line", "outcome", "subscriber_id", "reason"])
        for entry in self.entries:
            reason = entry.reason if entry.outcome == REJECTED else "; ".join(entry.warnings)
            writer.writerow([entry.line, entry.outcome, entry.subscriber_id or "", reason])

    def as_csv(self) -> str:
        buffer = io.StringIO()
        self.write_csv(buffer)
        return buffer.getvalue()


class _Importer:
    """Applies the checked rows to the subscriber book, chunk by chunk, remembering what it created."""

    def __init__(self, region: str):
        self.locale = current_app.config.get("DEFAULT_LOCALE", "fa")
        self.reader = RowReader(region, self.locale)
        self.created: dict[int, int] = {}  # subscriber id → the line that created it

    def _search_key(self, subscriber: Subscriber | _New) -> None:
        """crm.services.refresh_search_key, with each number's national spelling worked out once.

        Parsing numbers was half of an import's time; a test checks both against crm.phones.
        """
        numbers = [(phone.e164, self.reader.facts(phone.e164)[1]) for phone in subscriber.phones]
        subscriber.search_key = search_key_of(subscriber.name, numbers, subscriber.addresses)

    # -- applying a row: in-memory changes only; _write puts a chunk's changes in the database --

    def apply(self, row: Row, owners: dict[str, Subscriber | _New], news: list[_New]) -> RowResult:
        if row.errors:
            return RowResult(row.line, REJECTED, reason="; ".join(row.errors))
        targets: list[Subscriber | _New] = []
        for e164, _ in row.numbers:
            owner = owners.get(e164)
            if owner is not None and all(owner is not t for t in targets):
                targets.append(owner)
        if len(targets) > 1:
            owned = ", ".join(f"{e164} → {self._who(owners[e164])}" for e164, _ in row.numbers if e164 in owners)
            return RowResult(
                row.line,
                REJECTED,
                reason=f"the numbers belong to different subscribers ({owned}); merge those first",
            )
        if targets:
            return self._merge(row, targets[0], owners)
        return self._create(row, owners, news)

    def _create(self, row: Row, owners: dict, news: list[_New]) -> RowResult:
        if not row.name:
            numbers = ", ".join(e164 for e164, _ in row.numbers)
            return RowResult(row.line, REJECTED, reason=f"no name, and no subscriber has these numbers ({numbers})")
        notes = "\n".join(filter(None, [row.notes, row.unplaced]))
        problem = too_long("notes with the unplaced address", notes, NOTES_MAX)
        if problem:
            return RowResult(row.line, REJECTED, reason=problem)
        subscriber = _New(
            row.line,
            name=row.name,
            language=row.language or self.locale,
            notes=notes,
            tier=row.tier or Tier.LEAD.value,
            barred=row.barred,
            barred_reason=row.barred_reason if row.barred else "",
            sms_opt_out=row.sms_opt_out,
        )
        subscriber.phones = [_Plain(e164=e164, kind=kind) for e164, kind in row.numbers]
        subscriber.addresses = [_Plain(**row.address)] if row.address else []
        self._search_key(subscriber)
        news.append(subscriber)
        for e164, _ in row.numbers:
            owners[e164] = subscriber
        return RowResult(row.line, IMPORTED, warnings=list(row.warnings), _subscriber=subscriber)

    def _merge(self, row: Row, subscriber: Subscriber | _New, owners: dict) -> RowResult:
        warnings = list(row.warnings)
        notes = subscriber.notes or ""
        for addition in (row.notes, row.unplaced):
            if addition and addition not in notes:
                notes = f"{notes}\n{addition}".strip()
        if len(notes) > NOTES_MAX:
            who = self._who(subscriber)
            reason = f"{who}'s notes would be {len(notes)} characters long with this row's (at most {NOTES_MAX})"
            return RowResult(row.line, REJECTED, reason=reason)
        if row.name and normalize_persian(row.name) != normalize_persian(subscriber.name):
            who = self._who(subscriber)
            warnings.append(f"name {row.name!r} differs from {who}'s {subscriber.name!r}; kept theirs")
        new_numbers = [(e164, kind) for e164, kind in row.numbers if e164 not in owners]
        address = row.address
        if address and any(_same_address(address, saved) for saved in subscriber.addresses):
            address = None

        if notes != subscriber.notes:
            subscriber.notes = notes
        # The stricter flag and the better tier win, as in crm.merge.
        if row.barred and not subscriber.barred:
            subscriber.barred, subscriber.barred_reason = True, row.barred_reason
        if row.sms_opt_out and not subscriber.sms_opt_out:
            subscriber.sms_opt_out = True
        if row.tier and TIER_RANK.get(row.tier, 3) < TIER_RANK.get(subscriber.tier, 3):
            subscriber.tier = row.tier
        new = isinstance(subscriber, _New)
        for e164, kind in new_numbers:
            subscriber.phones.append(_Plain(e164=e164, kind=kind) if new else SubscriberPhone(e164=e164, kind=kind))
            owners[e164] = subscriber
        if address:
            subscriber.addresses.append(_Plain(**address) if new else Address(**address))
        if new_numbers or address:
            self._search_key(subscriber)
        return RowResult(row.line, MERGED, subscriber.id, warnings=warnings, _subscriber=subscriber)

    def _who(self, subscriber: Subscriber | _New) -> str:
        """Subscribers this import created are named by their line (the same however the file is chunked)."""
        line = subscriber.line if isinstance(subscriber, _New) else self.created.get(subscriber.id)
        return f"the subscriber of line {line}" if line else f"subscriber {subscriber.id}"


class _Plain:
    """A phone or address of a subscriber this chunk creates: attributes only, no ORM object."""

    def __init__(self, **values):
        self.__dict__.update(values)


class _New:
    """A subscriber this chunk creates, as plain values: a chunk is inserted in a few statements.

    Building ORM objects and letting the unit of work insert them took most of an import's time.
    """

    def __init__(self, line: int, **values):
        self.line = line
        self.id: int | None = None
        self.phones: list[_Plain] = []
        self.addresses: list[_Plain] = []
        self.search_key = ""
        self.__dict__.update(values)

    def values(self) -> dict:
        keys = ("name", "language", "notes", "tier", "barred", "barred_reason", "sms_opt_out", "search_key")
        return {key: getattr(self, key) for key in keys}


def _write(news: list[_New]) -> None:
    """Flush the changes to existing subscribers, then insert the new ones with their numbers and addresses.

    Core statements on the tables (executemany; the subscribers' ids come back in order through
    RETURNING), with one timestamp for the chunk: the lightest way to many rows that SQLAlchemy has.
    """
    db.session.flush()
    if not news:
        return
    now = utcnow()
    connection = db.session.connection()
    subscribers = Subscriber.__table__
    statement = subscribers.insert().returning(subscribers.c.id, sort_by_parameter_order=True)
    rows = [{**new.values(), "created_at": now, "updated_at": now} for new in news]
    ids = connection.execute(statement, rows).scalars().all()
    for new, subscriber_id in zip(news, ids, strict=True):
        new.id = subscriber_id
    phones = [
        {"subscriber_id": n.id, "e164": p.e164, "kind": p.kind, "created_at": now} for n in news for p in n.phones
    ]
    connection.execute(SubscriberPhone.__table__.insert(), phones)
    addresses = [{"subscriber_id": n.id, "created_at": now, **a.__dict__} for n in news for a in n.addresses]
    if addresses:
        connection.execute(Address.__table__.insert(), addresses)


def _same_address(new: dict, saved: Address | _Plain) -> bool:
    """The same label, text and unit (folded) at the same place: a repeated row, not a second address."""
    return (
        all(normalize_persian(new[key]) == normalize_persian(getattr(saved, key)) for key in ("label", "text", "unit"))
        and abs(new["lat"] - saved.lat) <= SAME_PLACE_DEGREES
        and abs(new["lon"] - saved.lon) <= SAME_PLACE_DEGREES
    )


def _chunks(records: Iterable[tuple[int, list[str]]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    chunk = []
    for line, cells in records:
        if any(cell.strip() for cell in cells):  # blank lines are no rows
            chunk.append((line, cells))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _owners(numbers: set[str]) -> dict[str, Subscriber]:
    """The subscribers (with numbers and addresses loaded) owning any of these numbers: two queries."""
    if not numbers:
        return {}
    pairs = db.session.execute(
        select(SubscriberPhone.e164, SubscriberPhone.subscriber_id).where(SubscriberPhone.e164.in_(numbers))
    ).all()
    if not pairs:
        return {}
    ids = {subscriber_id for _, subscriber_id in pairs}
    loaded = db.session.scalars(
        select(Subscriber)
        .where(Subscriber.id.in_(ids))
        .options(selectinload(Subscriber.phones), selectinload(Subscriber.addresses))
    ).all()
    by_id = {s.id: s for s in loaded}
    return {e164: by_id[subscriber_id] for e164, subscriber_id in pairs}


def _finish(importer: _Importer, results: list[RowResult]) -> None:
    for result in results:
        if result._subscriber is not None:
            result.subscriber_id = result._subscriber.id
            result._subscriber = None
        if result.outcome == IMPORTED:
            importer.created[result.subscriber_id] = result.line


def _database_refusal(exc: Exception) -> str:
    detail = str(getattr(exc, "orig", exc)).splitlines()[0]
    return f"the database refused the row: {detail}"


def import_subscribers(
    stream: TextIO,
    region: str,
    dry_run: bool = False,
    *,
    commit_chunks: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Import a subscriber CSV (see the module's docstring); ImportFileError if the file cannot be read."""
    report = ImportReport(dry_run=dry_run)
    delimiter, records = read_records(stream)
    report.delimiter = delimiter
    _, header = next(records)
    columns, report.ignored_columns = map_header(header)
    importer = _Importer(region)

    if dry_run:
        ensure_transaction()
    outer = db.session.begin_nested() if dry_run else None
    try:
        for chunk in _chunks(records, chunk_size):
            importer.reader.start_chunk()
            rows = [importer.reader.read_row(line, cells, columns) for line, cells in chunk]
            owners = _owners({e164 for row in rows if not row.errors for e164, _ in row.numbers})
            try:
                with savepoint(), db.session.no_autoflush:
                    news: list[_New] = []
                    working = dict(owners)
                    results = [importer.apply(row, working, news) for row in rows]
                    _write(news)
            except (IntegrityError, DataError):
                results = _one_by_one(importer, rows, dict(owners))
            _finish(importer, results)
            for result in results:
                report.add(result)
            if commit_chunks and not dry_run:
                db.session.commit()
    finally:
        if outer is not None:
            outer.rollback()
    return report


def _one_by_one(importer: _Importer, rows: list[Row], owners: dict) -> list[RowResult]:
    """The slow path, after a chunk failed at the database: every row in a SAVEPOINT of its own."""
    results = []
    for row in rows:
        before = dict(owners)
        try:
            with savepoint(), db.session.no_autoflush:
                news: list[_New] = []
                result = importer.apply(row, owners, news)
                _write(news)
        except (IntegrityError, DataError) as exc:
            owners.clear()
            owners.update(before)
            result = RowResult(row.line, REJECTED, reason=_database_refusal(exc))
        else:
            # A subscriber just written is changed by later rows through the ORM, like any other.
            importer.created.update((new.id, new.line) for new in news)
            written = {id(new): db.session.get(Subscriber, new.id) for new in news}
            for e164, owner in owners.items():
                if id(owner) in written:
                    owners[e164] = written[id(owner)]
        results.append(result)
    return results
