"""The live floor for the wallboard: calls waiting, service level, abandonment, speed of answer, handle time,
agents and bookings by state, offers in flight, free drivers per zone, open complaints and their breaches.

The definitions (written for the office in docs/REPORTS.md) follow common contact-centre practice:
- a call is *offered* once it joins the desk queue; its outcome is known once an agent answers it, the caller
  hangs up (*abandoned*) or it leaves the queue for voicemail, a call-back or the complaint line (*deflected*);
- a caller who hangs up within SHORT_ABANDON_SECONDS is a misdial and is not counted anywhere;
- *service level* = calls answered within SERVICE_LEVEL_SECONDS ÷ calls with a known outcome;
- *abandonment rate* = abandoned ÷ calls with a known outcome;
- *average speed of answer* = mean wait of answered calls; *average handle time* = mean time from answer to the
  end of wrap-up (to hang-up when the agent did no wrap-up), over answered calls that have ended.
Calls still waiting have no outcome yet: they show as the queue and its longest wait, not in the rates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from calls.models import AgentPresence, AgentState, Call, CallStatus
from core.extensions import db
from core.timewindows import office_date, office_midnight
from dispatch.board import sightings
from dispatch.models import LIVE_STATUSES, Booking, DispatchOffer, OfferOutcome
from drivers.models import Driver, DriverStatus
from feedback.models import Complaint
from feedback.services import OPEN_STATUSES
from geo.zones import zone_entries_for_points
from reports.base import epoch_seconds, share

# Left the queue without an agent, for the voicemail / call-back menu or the complaint line.
DEFLECTED = (CallStatus.MENU, CallStatus.VOICEMAIL, CallStatus.CALLBACK, CallStatus.COMPLAINT_LINE)
WAITING_LIMIT = 100  # waiting calls sent with their start, for the board's own ticking timers
# Figures where a higher number is better; the others get worse as they grow.
HIGHER_IS_BETTER = frozenset({"service_level"})


def call_figures(since: datetime, now: datetime) -> dict:
    """Service level, abandonment, speed of answer and handle time of the calls queued from ``since`` to ``now``."""
    config = current_app.config
    queued = epoch_seconds(Call.queued_at)
    wait = epoch_seconds(Call.answered_at) - queued
    gone_after = epoch_seconds(Call.ended_at) - queued
    handle = epoch_seconds(func.coalesce(Call.wrapped_up_at, Call.ended_at)) - epoch_seconds(Call.answered_at)
    answered = Call.answered_at.is_not(None)
    abandoned = and_(
        Call.answered_at.is_(None),
        Call.status == CallStatus.ABANDONED,
        gone_after >= config["SHORT_ABANDON_SECONDS"],
    )
    deflected = and_(Call.answered_at.is_(None), Call.status.in_(DEFLECTED))
    ended = and_(answered, Call.ended_at.is_not(None))
    row = db.session.execute(
        select(
            func.count(case((answered, 1))),
            func.count(case((and_(answered, wait <= config["SERVICE_LEVEL_SECONDS"]), 1))),
            func.count(case((abandoned, 1))),
            func.count(case((deflected, 1))),
            func.avg(case((answered, wait))),
            func.avg(case((ended, handle))),
            func.count(case((ended, 1))),
        ).where(Call.queued_at >= since, Call.queued_at < now, or_(answered, abandoned, deflected))
    ).one()
    answered_n, in_time, abandoned_n, deflected_n, asa, aht, handled = row
    outcomes = answered_n + abandoned_n + deflected_n
    return {
        "offered": outcomes,
        "answered": answered_n,
        "answered_in_time": in_time,
        "abandoned": abandoned_n,
        "deflected": deflected_n,
        "handled": handled,
        "service_level": share(in_time, outcomes),
        "abandoned_rate": share(abandoned_n, outcomes),
        "asa": round(float(asa), 1) if asa is not None else None,
        "aht": round(float(aht), 1) if aht is not None else None,
    }


def waiting_calls(now: datetime) -> dict:
    """How many calls wait in the desk queue now, the longest wait, and the oldest calls' queue times."""
    starts = db.session.scalars(
        select(Call.queued_at)
        .where(Call.status == CallStatus.QUEUED, Call.queued_at.is_not(None))
        .order_by(Call.queued_at)
        .limit(WAITING_LIMIT)
    ).all()
    count = db.session.scalar(select(func.count(Call.id)).where(Call.status == CallStatus.QUEUED))
    longest = max(0.0, (now - starts[0]).total_seconds()) if starts else 0.0
    return {"count": count, "longest_wait": round(longest, 1), "since": [s.isoformat() for s in starts]}


def agents_by_state() -> dict[str, int]:
    """Agents in each state; the offline ones are left out."""
    rows = db.session.execute(
        select(AgentPresence.state, func.count())
        .where(AgentPresence.state != AgentState.OFFLINE)
        .group_by(AgentPresence.state)
    ).all()
    counts = {state.value: 0 for state in AgentState if state != AgentState.OFFLINE}
    counts.update({state: n for state, n in rows})
    return counts


def bookings_by_state() -> dict[str, int]:
    """Live bookings in each state (final states are history, not the floor)."""
    rows = db.session.execute(
        select(Booking.status, func.count()).where(Booking.status.in_(LIVE_STATUSES)).group_by(Booking.status)
    ).all()
    counts = dict.fromkeys(LIVE_STATUSES, 0)
    counts.update({status: n for status, n in rows})
    return counts


def free_drivers_by_zone(now: datetime) -> list[dict]:
    """Available drivers per zone of their latest position, with the zone's names.

    Positions come from the live index, else from the database's copy (up to a minute old); a driver with no
    position yet is counted under code "?", one outside every zone under "".
    """
    not_suspended = or_(
        Driver.suspended_from.is_(None),
        Driver.suspended_from > now,
        and_(Driver.suspended_until.is_not(None), Driver.suspended_until <= now),
    )
    rows = db.session.execute(
        select(Driver.id, Driver.last_lat, Driver.last_lon).where(
            Driver.status == DriverStatus.AVAILABLE, Driver.active.is_(True), not_suspended
        )
    ).all()
    live = sightings([driver_id for driver_id, _lat, _lon in rows])
    placed = []
    for driver_id, lat, lon in rows:
        seen = live.get(driver_id) if live is not None else None
        placed.append((seen.lat, seen.lon) if seen is not None else (lat, lon))
    known = [point for point in placed if point[0] is not None and point[1] is not None]
    # One look at the zone index for every driver: per-driver lookups re-read it and the zone rows each time.
    found = iter(zone_entries_for_points(known))
    zones: dict[str, dict] = {}
    for lat, lon in placed:
        zone = next(found) if lat is not None and lon is not None else None
        key = zone.code if zone is not None else ("" if lat is not None else "?")
        if key not in zones:
            names = (zone.name_fa, zone.name_en) if zone is not None else ("", "")
            zones[key] = {"code": key, "name_fa": names[0], "name_en": names[1], "count": 0}
        zones[key]["count"] += 1
    return [zones[key] for key in sorted(zones)]


def complaint_figures(now: datetime) -> dict:
    """Open complaints, and those past their first-response promise with no response yet."""
    is_open = Complaint.status.in_(OPEN_STATUSES)
    breached = and_(is_open, Complaint.first_response_at.is_(None), Complaint.respond_by < now)
    total, late = db.session.execute(
        select(func.count(case((is_open, 1))), func.count(case((breached, 1)))).where(is_open)
    ).one()
    return {"open": total, "sla_breaches": late}


def level(figure: str, value: float | None) -> str:
    """ "red", "amber" or "ok" for a figure against the office's marks (WALLBOARD_THRESHOLDS)."""
    marks = current_app.config["WALLBOARD_THRESHOLDS"].get(figure)
    if marks is None or value is None:
        return "ok"
    amber, red = marks
    if figure in HIGHER_IS_BETTER:
        return "red" if value < red else "amber" if value < amber else "ok"
    return "red" if value >= red else "amber" if value >= amber else "ok"


def floor_snapshot(now: datetime) -> dict:
    """Everything the wallboard shows at ``now``, as plain JSON-ready values with each figure's level."""
    zone = current_app.config["OFFICE_TIMEZONE"]
    today = call_figures(office_midnight(office_date(now, zone), zone), now)
    last_hour = call_figures(now - timedelta(hours=1), now)
    waiting = waiting_calls(now)
    complaints = complaint_figures(now)
    pending = DispatchOffer.outcome == OfferOutcome.PENDING
    offers = db.session.scalar(select(func.count(DispatchOffer.id)).where(pending))
    levels = {
        "longest_wait": level("longest_wait", waiting["longest_wait"]),
        "service_level": level("service_level", today["service_level"]),
        "service_level_hour": level("service_level", last_hour["service_level"]),
        "abandoned": level("abandoned", today["abandoned_rate"]),
        "abandoned_hour": level("abandoned", last_hour["abandoned_rate"]),
        "asa": level("asa", today["asa"]),
        "sla_breaches": level("sla_breaches", complaints["sla_breaches"]),
    }
    return {
        "at": now.isoformat(),
        "waiting": waiting,
        "today": today,
        "last_hour": last_hour,
        "agents": agents_by_state(),
        "bookings": bookings_by_state(),
        "offers": offers,
        "free_drivers": free_drivers_by_zone(now),
        "complaints": complaints,
        "levels": levels,
        "marks": {k: list(v) for k, v in current_app.config["WALLBOARD_THRESHOLDS"].items()},
        "service_level_seconds": current_app.config["SERVICE_LEVEL_SECONDS"],
    }
