"""Exporting the subscriber book as CSV that ``crm.importer`` reads back to the same book.

One row per saved address (a subscriber without addresses gets one row with the address columns
empty); every row of a subscriber repeats their name, numbers and flags, so that on import the first
row creates the subscriber and the others merge into it by number. A flat file like this is what an
office edits in a spreadsheet. Merged-away subscribers (``merged_into_id`` set) are left out: their
numbers and addresses already live on the survivor.

Rows are streamed (subscribers read in batches), never built whole in memory. A text cell that a
spreadsheet would run as a formula (starting with ``= + - @``) gets a leading ``'``, which the
importer takes off again.
"""

from __future__ import annotations

import csv
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.extensions import db
from core.text import spreadsheet_safe
from crm.models import Subscriber

COLUMNS = [
    "id",
    "name",
    "phones",
    "language",
    "tier",
    "barred",
    "barred_reason",
    "sms_opt_out",
    "notes",
    "address_label",
    "address",
    "unit",
    "landmark",
    "driver_notes",
    "lat",
    "lon",
]
BATCH = 500
_text = spreadsheet_safe


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def export_subscribers(stream: TextIO) -> int:
    """Write every live subscriber to ``stream`` as CSV (see the module's docstring); returns how many."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    query = (
        select(Subscriber)
        .where(Subscriber.merged_into_id.is_(None))
        .order_by(Subscriber.id)
        .options(selectinload(Subscriber.phones), selectinload(Subscriber.addresses))
        .execution_options(yield_per=BATCH)
    )
    count = 0
    for subscriber in db.session.scalars(query):
        count += 1
        person = [
            subscriber.id,
            _text(subscriber.name),
            " ".join(phone.e164 for phone in subscriber.phones),
            subscriber.language,
            subscriber.tier,
            _yes(subscriber.barred),
            _text(subscriber.barred_reason),
            _yes(subscriber.sms_opt_out),
            _text(subscriber.notes),
        ]
        if not subscriber.addresses:
            writer.writerow(person + [""] * 7)
        for address in subscriber.addresses:
            writer.writerow(
                [
                    *person,
                    _text(address.label),
                    _text(address.text),
                    _text(address.unit),
                    _text(address.landmark),
                    _text(address.driver_notes),
                    repr(address.lat),
                    repr(address.lon),
                ]
            )
    return count
