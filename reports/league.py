"""League tables: agents by the calls they answered, drivers by the trips they completed.

Each figure is one GROUP BY per table, read as a LEFT JOIN from the people (a few hundred rows) to their calls,
bookings, offers, ratings or complaints of the period. The LEFT JOIN keeps the people as SQLite's outer loop,
so each person's rows are read from a composite index (person, moment, …) as one range, in order, with no sort
and no row lookup; a plain join lets SQLite start from a period index and look up every row of a year instead.
Fares are in the office's currency (one per office), in its smallest unit.
"""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from accounts.models import User
from accounts.roles import Role
from calls.models import Call
from core.extensions import db
from dispatch.models import Booking, BookingStatus, DispatchOffer, OfferOutcome
from drivers.models import Driver
from feedback.models import Complaint, ComplaintCategory, Feedback
from reports.base import Column, Period, Report, share
from reports.complaints import agent_name

TOP = 10  # bars on the chart; the table has everyone
# An offer counts once the driver had their chance: taken, turned down or left to run out. Offers withdrawn by the
# office (reassigned, cancelled meanwhile) and offers still pending say nothing about the driver.
ANSWERED_OFFERS = (OfferOutcome.ACCEPTED, OfferOutcome.DECLINED, OfferOutcome.EXPIRED)


def _per(owner, table, on, *figures) -> dict[int, tuple]:
    """``{owner id: figures}`` for every agent or driver, over the rows of ``table`` that ``on`` joins to them."""
    found = db.session.execute(select(owner.id, *figures).outerjoin(table, on).group_by(owner.id))
    return {ident: tuple(_number(value) for value in values) for ident, *values in found}


def _number(value) -> int | float:
    """A figure as Python's own number: PostgreSQL sums integers as NUMERIC, and a sum over no rows is NULL."""
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _in(column, period: Period):
    return and_(column >= period.start, column < period.end)


def agents(period: Period) -> Report:
    """Per agent: calls answered, average handle time, bookings taken, bookings per call, complaints naming them."""
    calls = _per(
        User,
        Call,
        and_(Call.agent_id == User.id, _in(Call.answered_at, period)),
        func.count(Call.id),
        func.count(Call.handle_seconds),  # calls still going have no handle time yet
        func.sum(Call.handle_seconds),
    )
    bookings = _per(
        User, Booking, and_(Booking.created_by_id == User.id, _in(Booking.created_at, period)), func.count(Booking.id)
    )
    complaints = _per(
        User,
        Complaint,
        and_(Complaint.agent_id == User.id, _in(Complaint.created_at, period)),
        func.count(Complaint.id),
        func.sum(case((Complaint.category == ComplaintCategory.AGENT_CONDUCT, 1), else_=0)),
    )
    rows = []
    timed = seconds = 0
    for user_id, username, display_name, role, active in db.session.execute(
        select(User.id, User.username, User.display_name, User.role, User.active)
    ):
        answered, ended_calls, handled = calls.get(user_id, (0, 0, 0))
        (taken,) = bookings.get(user_id, (0,))
        named, conduct = complaints.get(user_id, (0, 0))
        # Every active agent has a line, a quiet one too; anyone else who answered or booked is added, so totals add up.
        if not ((role == Role.AGENT and active) or answered or taken or named):
            continue
        timed, seconds = timed + ended_calls, seconds + handled
        rows.append(
            {
                "id": user_id,
                "name": agent_name(username, display_name),
                "calls": answered,
                "handle_time": round(handled / ended_calls) if ended_calls else None,
                "bookings": taken,
                "bookings_per_call": round(taken / answered, 2) if answered else None,
                "complaints": named,
                "agent_conduct": conduct,
            }
        )
    rows.sort(key=lambda row: (-row["calls"], -row["bookings"], row["name"]))
    columns = [
        Column("name", _l("Agent"), "text"),
        Column("calls", _l("Calls answered")),
        Column("handle_time", _l("Average handle time"), "seconds"),
        Column("bookings", _l("Bookings taken")),
        Column("bookings_per_call", _l("Bookings per call"), "decimal"),
        Column("complaints", _l("Complaints")),
        Column("agent_conduct", _l("About their conduct")),
    ]
    total_calls, total_bookings = sum(row["calls"] for row in rows), sum(row["bookings"] for row in rows)
    summary = {
        "calls": total_calls,
        "handle_time": round(seconds / timed) if timed else None,
        "bookings": total_bookings,
        "bookings_per_call": round(total_bookings / total_calls, 2) if total_calls else None,
        "complaints": sum(row["complaints"] for row in rows),
    }
    return Report("agents", columns, rows, _top(rows, "calls", _l("Calls answered")), summary)


def drivers(period: Period) -> Report:
    """Per driver: trips completed and their fares, offers and acceptance, average rating, complaints."""
    trips = _per(
        Driver,
        Booking,
        and_(
            Booking.driver_id == Driver.id,
            Booking.status == BookingStatus.COMPLETED,
            _in(Booking.completed_at, period),
        ),
        func.count(Booking.id),
        func.sum(Booking.fare),
    )
    ratings = _per(
        Driver,
        Feedback,
        and_(Feedback.driver_id == Driver.id, _in(Feedback.answered_at, period), Feedback.rating.is_not(None)),
        func.count(Feedback.id),
        func.sum(Feedback.rating),
    )
    complaints = _per(
        Driver,
        Complaint,
        and_(Complaint.driver_id == Driver.id, _in(Complaint.created_at, period)),
        func.count(Complaint.id),
    )
    offers: dict[int, dict[str, int]] = {}
    # One count per (driver, outcome): with the outcome in the index each is a range read, no CASE per offer.
    for driver_id, outcome, count in db.session.execute(
        select(Driver.id, DispatchOffer.outcome, func.count(DispatchOffer.id))
        .outerjoin(
            DispatchOffer,
            and_(
                DispatchOffer.driver_id == Driver.id,
                DispatchOffer.outcome.in_(ANSWERED_OFFERS),
                _in(DispatchOffer.offered_at, period),
            ),
        )
        .group_by(Driver.id, DispatchOffer.outcome)
    ):
        if outcome is not None:
            offers.setdefault(driver_id, {})[outcome] = count
    rows = []
    points = 0
    for driver_id, call_sign, name, active in db.session.execute(
        select(Driver.id, Driver.call_sign, Driver.name, Driver.active)
    ):
        done, fares = trips.get(driver_id, (0, 0))
        rated, stars = ratings.get(driver_id, (0, 0))
        (named,) = complaints.get(driver_id, (0,))
        outcomes = offers.get(driver_id, {})
        made = sum(outcomes.values())
        if not (active or done or made or rated or named):
            continue  # a driver who left, with nothing in the period
        points += stars
        accepted = outcomes.get(OfferOutcome.ACCEPTED, 0)
        rows.append(
            {
                "id": driver_id,
                "name": f"{call_sign} {name}",
                "trips": done,
                "fares": fares,
                "offers": made,
                "accepted": accepted,
                "acceptance_rate": share(accepted, made),
                "ratings": rated,
                "average_rating": round(stars / rated, 2) if rated else None,
                "complaints": named,
            }
        )
    rows.sort(key=lambda row: (-row["trips"], -row["fares"], row["name"]))
    columns = [
        Column("name", _l("Driver"), "text"),
        Column("trips", _l("Trips")),
        Column("fares", _l("Fares"), "money"),
        Column("offers", _l("Offers")),
        Column("accepted", _l("Accepted")),
        Column("acceptance_rate", _l("Acceptance rate"), "percent"),
        Column("ratings", _l("Ratings")),
        Column("average_rating", _l("Average rating"), "decimal"),
        Column("complaints", _l("Complaints")),
    ]
    total = {key: sum(row[key] for row in rows) for key in ("trips", "fares", "offers", "accepted", "ratings")}
    summary = {
        **total,
        "acceptance_rate": share(total["accepted"], total["offers"]),
        "average_rating": round(points / total["ratings"], 2) if total["ratings"] else None,
        "complaints": sum(row["complaints"] for row in rows),
        "currency": current_app.config["CURRENCY"],
    }
    return Report("drivers", columns, rows, _top(rows, "trips", _l("Trips")), summary)


def _top(rows: list[dict], key: str, label) -> dict:
    """A bar each for the first TOP rows (already sorted by ``key``) that have any."""
    top = [row for row in rows if row[key]][:TOP]
    return {
        "type": "bar",
        "stacked": False,
        "x": "text",
        "labels": [row["name"] for row in top],
        "series": [{"label": str(label), "data": [row[key] for row in top]}],
    }
