"""The complaints and satisfaction reports against small data sets worked out by hand, on SQLite and PostgreSQL.

The office is in Tehran (+03:30 all year since 2022): its day starts at 20:30 UTC the evening before, so a
complaint at 20:40 UTC belongs to the next office day, and one at 20:29 UTC to the day it is written on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale

from accounts.models import User
from core.extensions import db
from dispatch.models import Booking
from drivers.models import Driver
from feedback.models import Complaint, Feedback
from geo.models import Zone
from reports import complaints, satisfaction
from reports.base import Period

TEHRAN = "Asia/Tehran"
# 1–3 March 2026 on the office's clock: from 20:30 UTC on 28 February to 20:30 UTC on 3 March.
MARCH = Period(date(2026, 3, 1), date(2026, 3, 3), TEHRAN)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def utc(day: int, hour: int, minute: int, month: int = 3) -> datetime:
    """A moment of 2026 in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def complaint(at: datetime, category: str, status: str, **fields) -> Complaint:
    """A complaint opened at ``at`` whose first answer is due a day later unless told otherwise."""
    fields.setdefault("respond_by", at + timedelta(hours=24))
    row = Complaint(created_at=at, category=category, status=status, source="agent", **fields)
    db.session.add(row)
    return row


@pytest.fixture
def english(migrated_app):
    """A request whose page is in English, so lazy labels read as their English text."""
    with migrated_app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def people(migrated_app):
    """Two zones, two drivers and two agents, committed: ``{"vanak": Zone, …, "k7": Driver, …, "sara": User, …}``."""
    found = {
        "vanak": Zone(code="vanak", name_fa="ونک", name_en="Vanak", boundary={}),
        "tajrish": Zone(code="tajrish", name_fa="تجریش", name_en="Tajrish", boundary={}),
        "k7": Driver(call_sign="K7", name="Kaveh Karimi", phone="+989120000007"),
        "m3": Driver(call_sign="M3", name="Mina Moradi", phone="+989120000003"),
        "sara": User(username="sara", display_name="Sara Ahmadi", password_hash="x", role="agent"),
        "omid": User(username="omid", display_name="Omid Rad", password_hash="x", role="agent"),
    }
    db.session.add_all(found.values())
    db.session.commit()
    return found


@pytest.fixture
def complaints_of_march(people):
    """Five complaints in the period and two just outside it (see each line)."""
    k7, m3, sara, omid = people["k7"], people["m3"], people["sara"], people["omid"]
    vanak, tajrish = people["vanak"], people["tajrish"]
    # 1 Mar 00:10 Tehran (28 Feb in UTC): day 1. No answer, a day late by NOW: breached.
    complaint(utc(28, 20, 40, 2), "lateness", "new", driver_id=k7.id, agent_id=sara.id, zone_id=vanak.id)
    # 28 Feb 23:50 Tehran: before the period.
    complaint(utc(28, 20, 20, 2), "lateness", "new", driver_id=k7.id, agent_id=sara.id, zone_id=vanak.id)
    # 1 Mar 13:30: day 1; answered after two hours, in time.
    complaint(
        utc(1, 10, 0),
        "fare_dispute",
        "resolved",
        driver_id=k7.id,
        agent_id=omid.id,
        zone_id=tajrish.id,
        first_response_at=utc(1, 12, 0),
    )
    # 3 Mar 00:30: day 3; answered after 30 hours, six late: breached.
    complaint(
        utc(2, 21, 0),
        "lateness",
        "investigating",
        driver_id=m3.id,
        agent_id=sara.id,
        zone_id=vanak.id,
        first_response_at=utc(4, 3, 0),
    )
    # 3 Mar 23:59: day 3, the period's last minute; unanswered but due only on 12 March: not breached by NOW.
    complaint(utc(3, 20, 29), "agent_conduct", "rejected", agent_id=omid.id, respond_by=utc(12, 0, 0))
    # 4 Mar 00:00: after the period.
    complaint(utc(3, 20, 30), "agent_conduct", "new", agent_id=omid.id)
    # 2 Mar 11:30: day 2; no response time was promised, so never breached.
    complaint(utc(2, 8, 0), "lateness", "resolved", driver_id=m3.id, zone_id=tajrish.id, respond_by=None)
    db.session.commit()


def by_name(report) -> list[tuple]:
    """The table as (name, complaints, open, resolved, SLA breached, share) tuples, in the report's order."""
    return [(r["name"], r["complaints"], r["open"], r["resolved"], r["sla_breached"], r["share"]) for r in report.rows]


def test_complaints_by_category_count_each_office_day(english, complaints_of_march):
    report = complaints.build(MARCH, now=NOW)

    # In the period: lateness ×3 (day 1, 2, 3), fare dispute ×1 (day 1), agent conduct ×1 (day 3) = 5.
    assert report.name == "complaints"
    assert report.chart["type"] == "bar" and report.chart["stacked"] is True and report.chart["x"] == "day"
    assert report.chart["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    series = {s["label"]: s["data"] for s in report.chart["series"]}
    assert series == {
        "driver behaviour": [0, 0, 0],
        "vehicle condition": [0, 0, 0],
        "fare dispute": [1, 0, 0],
        "lateness": [1, 1, 1],  # 1 Mar 00:10 (UTC 28 Feb), 2 Mar 11:30, 3 Mar 00:30 (UTC 2 Mar)
        "route": [0, 0, 0],
        "lost property": [0, 0, 0],
        "agent conduct": [0, 0, 1],  # 3 Mar 23:59; the one at 4 Mar 00:00 is out
        "other": [0, 0, 0],
    }
    # lateness: 3 of 5 = 60%; open: new + investigating = 2; resolved 1; breached: no answer past due + 6 h late.
    # fare dispute and agent conduct: 1 of 5 = 20% each, in the usual category order; rejected is neither.
    assert by_name(report) == [
        ("lateness", 3, 2, 1, 2, 60.0),
        ("fare dispute", 1, 0, 1, 0, 20.0),
        ("agent conduct", 1, 0, 0, 0, 20.0),
    ]
    assert [row["id"] for row in report.rows] == ["lateness", "fare_dispute", "agent_conduct"]
    assert report.summary == {"complaints": 5, "open": 2, "resolved": 2, "sla_breached": 2}
    assert [c.key for c in report.columns] == ["name", "complaints", "open", "resolved", "sla_breached", "share"]


def test_an_unanswered_complaint_breaches_once_its_time_has_passed(english, complaints_of_march):
    # On 13 March the agent-conduct complaint (due 12 March, never answered) is late too.
    report = complaints.build(MARCH, now=datetime(2026, 3, 13, tzinfo=UTC))
    assert [(row["id"], row["sla_breached"]) for row in report.rows] == [
        ("lateness", 2),
        ("fare_dispute", 0),
        ("agent_conduct", 1),
    ]


def test_complaints_by_driver_agent_and_zone(migrated_app, english, complaints_of_march, people):
    # Drivers: K7 has day 1's lateness (open, breached) and fare dispute (resolved): 2 of 5 = 40%.
    # M3 has day 3's lateness (open, breached) and day 2's (resolved): 40%. The agent-conduct one has no driver.
    report = complaints.build(MARCH, by="driver", now=NOW)
    assert by_name(report) == [
        ("K7 Kaveh Karimi", 2, 1, 1, 1, 40.0),
        ("M3 Mina Moradi", 2, 1, 1, 1, 40.0),
        ("No driver", 1, 0, 0, 0, 20.0),
    ]
    assert [row["id"] for row in report.rows] == [people["k7"].id, people["m3"].id, None]

    # Agents: Sara took both bookings complained of as open and late; Omid's fare dispute was resolved and the
    # complaint about him rejected; day 2's lateness names no agent. Equal counts: by name.
    report = complaints.build(MARCH, by="agent", now=NOW)
    assert by_name(report) == [
        ("Omid Rad (omid)", 2, 0, 1, 0, 40.0),
        ("Sara Ahmadi (sara)", 2, 2, 0, 2, 40.0),
        ("No agent", 1, 0, 1, 0, 20.0),
    ]

    # Zones in the page's language: Vanak has both open late ones, Tajrish both resolved ones.
    report = complaints.build(MARCH, by="zone", now=NOW)
    assert by_name(report) == [
        ("Tajrish", 2, 0, 2, 0, 40.0),
        ("Vanak", 2, 2, 0, 2, 40.0),
        ("No zone", 1, 0, 0, 0, 20.0),
    ]
    with force_locale("fa"):
        report = complaints.build(MARCH, by="zone", now=NOW)
        assert [row["name"] for row in report.rows][:2] == ["تجریش", "ونک"]

    assert [value for value, _label in complaints.BY_CHOICES] == ["category", "driver", "agent", "zone"]
    with pytest.raises(ValueError):
        complaints.build(MARCH, by="subscriber")


def test_long_periods_are_drawn_by_month_on_the_office_calendar(english, people):
    # 63 days (15 Jan – 18 Mar): months. 31 Jan 20:29 UTC is 23:59 on 31 Jan in Tehran; 20:31 is 1 Feb 00:01.
    complaint(utc(31, 20, 29, 1), "route", "new")
    complaint(utc(31, 20, 31, 1), "route", "new")
    complaint(utc(14, 20, 29, 1), "route", "new")  # 14 Jan 23:59: the day before the period
    complaint(utc(18, 20, 0), "route", "new")  # 18 Mar 23:30: the period's last day
    db.session.commit()
    report = complaints.build(Period(date(2026, 1, 15), date(2026, 3, 18), TEHRAN), now=NOW)
    assert report.chart["x"] == "month"
    assert report.chart["labels"] == ["2026-01", "2026-02", "2026-03"]
    route = next(s["data"] for s in report.chart["series"] if s["label"] == "route")
    assert route == [1, 1, 1]
    assert report.summary["complaints"] == 3


def test_an_empty_period_has_zero_bars_and_no_rows(english, people):
    report = complaints.build(MARCH, now=NOW)
    assert report.rows == []
    assert all(s["data"] == [0, 0, 0] for s in report.chart["series"])
    assert report.summary == {"complaints": 0, "open": 0, "resolved": 0, "sla_breached": 0}


# --- satisfaction ---------------------------------------------------------------------------------


def feedback(requested_at: datetime | None, answered_at: datetime | None = None, rating: int | None = None, **fields):
    """A feedback request on a trip of its own."""
    booking = Booking(
        pickup_text="Vanak Square",
        pickup_lat=35.757,
        pickup_lon=51.41,
        pickup_at=requested_at or utc(1, 0, 0),
        currency="IRR",
        status="completed",
    )
    db.session.add(booking)
    db.session.flush()
    status = "answered" if rating is not None else fields.pop("status", "expired")
    row = Feedback(
        booking_id=booking.id, requested_at=requested_at, answered_at=answered_at, rating=rating, status=status
    )
    db.session.add(row)
    return row


def test_satisfaction_per_office_day(english):
    # Asked 1 Mar 00:05 Tehran, answered 00:10 (28 Feb 20:40 UTC): day 1, a 5.
    feedback(utc(28, 20, 35, 2), utc(28, 20, 40, 2), 5)
    # Asked 28 Feb 23:30 (before the period), answered 1 Mar 00:15: its rating is day 1's, its request no one's.
    feedback(utc(28, 20, 0, 2), utc(28, 20, 45, 2), 2)
    feedback(utc(1, 10, 0), utc(1, 11, 0), 4)  # day 1, a 4
    feedback(utc(1, 12, 0))  # asked on day 1, never answered
    feedback(utc(1, 21, 0), utc(2, 20, 29), 3)  # asked 2 Mar 00:30, answered 23:59: day 2, a 3
    # Asked 2 Mar 23:30, answered 4 Mar 00:01 (after the period): an answered request of day 2, no rating in it.
    feedback(utc(2, 20, 0), utc(3, 20, 31), 1)
    feedback(None, status="skipped")  # never asked
    feedback(utc(1, 20, 30), status="requested")  # asked at 2 Mar 00:00 exactly: day 2's; still waiting
    db.session.commit()

    report = satisfaction.build(MARCH)

    # Day 1: ratings 5, 2, 4 → average 11 / 3 = 3.67, CSAT (4s and 5s) 2 / 3 = 66.7%;
    #        requests 3 (00:05, 13:30, 15:30), 2 answered → 66.7%.
    # Day 2: rating 3 → average 3.0, CSAT 0 / 1 = 0%; requests 3 (00:00, 00:30, 23:30), 2 answered → 66.7%.
    # Day 3: nothing → no average, no CSAT (gaps, not zeros), no requests.
    assert report.name == "satisfaction"
    assert report.rows == [
        {"day": "2026-03-01", "ratings": 3, "average": 3.67, "csat": 66.7, "requested": 3, "response_rate": 66.7},
        {"day": "2026-03-02", "ratings": 1, "average": 3.0, "csat": 0.0, "requested": 3, "response_rate": 66.7},
        {"day": "2026-03-03", "ratings": 0, "average": None, "csat": None, "requested": 0, "response_rate": None},
    ]
    assert report.chart["type"] == "line" and report.chart["x"] == "day"
    assert [s["label"] for s in report.chart["series"]] == ["Average rating", "CSAT"]
    assert report.chart["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [s["data"] for s in report.chart["series"]] == [[3.67, 3.0, None], [66.7, 0.0, None]]
    # The period: ratings 5, 2, 4, 3 → 14 / 4 = 3.5; CSAT 2 / 4 = 50%; 6 requests, 4 answered → 66.7%.
    summary = dict(report.summary)
    assert summary.pop("nps_note").startswith("NPS needs a 0–10 question")
    assert summary == {
        "ratings": 4,
        "average": 3.5,
        "csat": 50.0,
        "requested": 6,
        "answered": 4,
        "response_rate": 66.7,
        "nps": None,
    }
    assert [c.key for c in report.columns] == ["day", "ratings", "average", "csat", "requested", "response_rate"]
    # A single day is one range: day 2 alone reads as its row above.
    one_day = satisfaction.build(Period(date(2026, 3, 2), date(2026, 3, 2), TEHRAN))
    assert one_day.rows == [report.rows[1]]
    assert (one_day.summary["ratings"], one_day.summary["requested"], one_day.summary["answered"]) == (1, 3, 2)


def test_satisfaction_by_month_over_a_long_period(english):
    # 1 Jan – 31 Mar (90 days): months. 31 Jan 20:31 UTC is 1 Feb 00:01 in Tehran.
    feedback(utc(31, 20, 0, 1), utc(31, 20, 31, 1), 5)
    feedback(utc(31, 20, 0, 1), utc(31, 20, 29, 1), 1)  # 31 Jan 23:59
    db.session.commit()
    report = satisfaction.build(Period(date(2026, 1, 1), date(2026, 3, 31), TEHRAN))
    assert report.chart["x"] == "month"
    assert [(row["month"], row["ratings"], row["average"], row["csat"]) for row in report.rows] == [
        ("2026-01", 1, 1.0, 0.0),
        ("2026-02", 1, 5.0, 100.0),
        ("2026-03", 0, None, None),
    ]
    # Both were asked on 31 Jan 23:30 Tehran, and both answered.
    assert [(row["requested"], row["response_rate"]) for row in report.rows] == [(2, 100.0), (0, None), (0, None)]
