"""Looking subscribers up in the book."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.extensions import db
from crm.models import Subscriber, SubscriberPhone
from crm.phones import to_e164


def find_by_phone(raw: str, region: str) -> Subscriber | None:
    """The subscriber owning a number, however it is spelled; raises PhoneNumberError on non-numbers."""
    e164 = to_e164(raw, region)
    return db.session.scalar(
        select(Subscriber)
        .join(SubscriberPhone)
        .where(SubscriberPhone.e164 == e164)
        .options(selectinload(Subscriber.phones), selectinload(Subscriber.addresses))
    )
