"""Subscribers, their phone numbers, saved addresses and the notes agents keep on them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, Money, utcnow


class Tier(StrEnum):
    """The customer pyramid: platinum at the top, lead for those yet to prove their worth."""

    PLATINUM = "platinum"
    GOLD = "gold"
    IRON = "iron"
    LEAD = "lead"


class FeedbackChannel(StrEnum):
    """How a subscriber likes to be asked about their trips."""

    SMS = "sms"
    IVR = "ivr"  # an automated call: rating on the keypad or by voice, then a recorded comment
    NONE = "none"  # never ask


class Subscriber(CreatedAt, db.Model):
    """A customer of the office (مشترک), known by any of their phone numbers."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="fa")
    notes: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[str] = mapped_column(String(16), default=Tier.LEAD)
    barred: Mapped[bool] = mapped_column(default=False)
    barred_reason: Mapped[str] = mapped_column(String(500), default="")
    sms_opt_out: Mapped[bool] = mapped_column(default=False)
    # How the office asks about a finished trip: sms, ivr (an automated call) or none.
    feedback_channel: Mapped[str] = mapped_column(String(8), default=FeedbackChannel.SMS)
    no_show_count: Mapped[int] = mapped_column(default=0)
    tier_updated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Name, phone digits and address texts folded by core.text.normalize_persian, for search.
    search_key: Mapped[str] = mapped_column(Text, default="")
    # Set when this record was merged into another: kept, never deleted, so history stays whole.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)

    phones: Mapped[list[SubscriberPhone]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="SubscriberPhone.id"
    )
    addresses: Mapped[list[Address]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Address.id"
    )


class SubscriberPhone(CreatedAt, db.Model):
    """One phone number of a subscriber, in E.164; a number belongs to one subscriber at most."""

    __tablename__ = "subscriber_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="mobile")  # mobile, landline

    subscriber: Mapped[Subscriber] = relationship(back_populates="phones")


class Address(CreatedAt, db.Model):
    """A named place a subscriber is picked up from or taken to (home, work, ...)."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    label: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(60), default="")  # unit, floor, bell
    landmark: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float]
    lon: Mapped[float]
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"), index=True)
    driver_notes: Mapped[str] = mapped_column(String(500), default="")

    subscriber: Mapped[Subscriber] = relationship(back_populates="addresses")


class SubscriberMerge(CreatedAt, db.Model):
    """The audit of one merge of a duplicate subscriber into another."""

    __tablename__ = "subscriber_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    # What the merged record looked like, and which rows moved to the survivor.
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)


class Note(CreatedAt, db.Model):
    """Something an agent learnt about a subscriber: a mood after a call, a preference."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16), default="general")  # general, mood, preference
    body: Mapped[str] = mapped_column(Text)


class SubscriberMonth(db.Model):
    """A subscriber's completed trips and their fares in one office-calendar month (the customer reports' roll-up)."""

    __tablename__ = "subscriber_months"

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), primary_key=True)
    # The first day of the month on the office clock (OFFICE_TIMEZONE) in which the trips were completed.
    month: Mapped[date] = mapped_column(primary_key=True)
    trips: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Money] = mapped_column(default=0)

    # Retention and cohorts read a range of months whole; the key serves one subscriber's history.
    __table_args__ = (Index("ix_subscriber_months_month", "month", "subscriber_id"),)
