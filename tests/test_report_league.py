"""The agent and driver league tables against small data sets worked out by hand, on SQLite and PostgreSQL.

The period is 1–2 March 2026 in Tehran (+03:30): from 20:30 UTC on 28 February to 20:30 UTC on 2 March, so a
call answered at 20:40 UTC on 28 February (00:10 on 1 March in Tehran) is in it and one at 20:20 is not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.models import User
from calls.models import Call
from core.extensions import db
from dispatch.models import Booking, DispatchOffer
from drivers.models import Driver
from feedback.models import Complaint, Feedback
from reports import league
from reports.base import Period

PERIOD = Period(date(2026, 3, 1), date(2026, 3, 2), "Asia/Tehran")


def utc(day: int, hour: int, minute: int, month: int = 3) -> datetime:
    """A moment of 2026 in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def seconds(moment: datetime, n: int) -> datetime:
    """``n`` seconds after ``moment``."""
    return moment + timedelta(seconds=n)


def user(username: str, display_name: str, role: str = "agent", active: bool = True) -> User:
    """A staff account, added to the session."""
    row = User(username=username, display_name=display_name, password_hash="x", role=role, active=active)
    db.session.add(row)
    return row


def driver(call_sign: str, name: str, active: bool = True) -> Driver:
    """A driver (call signs of up to three letters) with a number made from the call sign, added to the session."""
    row = Driver(call_sign=call_sign, name=name, phone=f"+98912{int.from_bytes(call_sign.encode()):07d}", active=active)
    db.session.add(row)
    return row


def booking(status: str = "completed", **fields) -> Booking:
    """A booking at Tajrish, flushed so it has its id."""
    fields.setdefault("pickup_at", utc(1, 0, 0))
    row = Booking(pickup_text="Tajrish Square", pickup_lat=35.804, pickup_lon=51.434, currency="IRR", status=status)
    for name, value in fields.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.flush()
    return row


_calls = iter(range(1, 1000))


def call(agent: User | None, answered_at: datetime | None, ended: int | None = None, wrap: int | None = None) -> None:
    """A call answered at ``answered_at`` that ended ``ended`` seconds later, wrapped up ``wrap`` after that."""
    n = next(_calls)
    ended_at = seconds(answered_at, ended) if ended is not None else None
    db.session.add(
        Call(
            provider_sid=f"CA{n:032d}",
            from_number="+989121234567",
            status=("completed" if ended is not None else "answered") if answered_at else "abandoned",
            queued_at=(answered_at or utc(1, 9, 0)) - timedelta(seconds=10),
            answered_at=answered_at,
            ended_at=ended_at,
            wrapped_up_at=seconds(ended_at, wrap) if wrap is not None else None,
            agent_id=agent.id if agent else None,
        )
    )


@pytest.fixture
def english(migrated_app):
    """A request whose page is in English, so labels read as their English text."""
    with migrated_app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def test_agent_league(english):
    sara = user("sara", "Sara Ahmadi")
    omid = user("omid", "Omid Rad")
    lale = user("lale", "Lale Amini")  # on the books, quiet all period: a line of zeros
    user("nima", "Nima Old", active=False)  # left, nothing in the period: no line
    boss = user("boss", "Bahar Supervisor", role="supervisor")  # not an agent, but answered a call: a line
    db.session.flush()

    call(sara, utc(28, 20, 40, 2), ended=120, wrap=30)  # 1 Mar 00:10 Tehran: in; 150 s with wrap-up
    call(sara, utc(1, 10, 0), ended=200)  # no wrap-up: to hang-up, 200 s
    call(sara, utc(1, 11, 0))  # still talking: answered, no handle time yet
    call(sara, utc(28, 20, 20, 2), ended=60)  # 28 Feb 23:50: before the period
    call(omid, utc(2, 20, 29), ended=60, wrap=40)  # 2 Mar 23:59: in; 100 s
    call(omid, utc(2, 20, 30), ended=60)  # 3 Mar 00:00: after the period
    call(boss, utc(1, 9, 0), ended=90)  # 90 s
    call(None, None)  # abandoned in the queue

    booking(created_by_id=sara.id, created_at=utc(1, 10, 1))
    booking(created_by_id=sara.id, created_at=utc(1, 10, 5), status="cancelled")  # taken is taken
    booking(created_by_id=sara.id, created_at=utc(28, 20, 29, 2))  # 28 Feb 23:59: before
    booking(created_by_id=omid.id, created_at=utc(28, 20, 31, 2))  # 1 Mar 00:01: in

    def complaint(agent: User, category: str, at: datetime) -> None:
        db.session.add(Complaint(agent_id=agent.id, category=category, created_at=at, status="new", source="agent"))

    complaint(sara, "agent_conduct", utc(1, 12, 0))
    complaint(sara, "lateness", utc(2, 12, 0))  # names her as the booking's agent, not about her conduct
    complaint(omid, "agent_conduct", utc(28, 20, 0, 2))  # before the period
    db.session.commit()

    report = league.agents(PERIOD)

    # Sara: 3 calls; handle time (150 + 200) / 2 = 175 s; 2 bookings → 2 / 3 = 0.67 a call; 2 complaints, 1 conduct.
    # Omid: 1 call, 100 s; 1 booking → 1.0. Bahar: 1 call, 90 s, no bookings → 0.0. Omid before Bahar on bookings.
    # Lale: all zeros, no handle time and no ratio.
    names = [row["name"] for row in report.rows]
    assert names == ["Sara Ahmadi (sara)", "Omid Rad (omid)", "Bahar Supervisor (boss)", "Lale Amini (lale)"]
    assert [row["id"] for row in report.rows] == [sara.id, omid.id, boss.id, lale.id]
    figures = [
        (r["calls"], r["handle_time"], r["bookings"], r["bookings_per_call"], r["complaints"], r["agent_conduct"])
        for r in report.rows
    ]
    assert figures == [
        (3, 175, 2, 0.67, 2, 1),
        (1, 100, 1, 1.0, 0, 0),
        (1, 90, 0, 0.0, 0, 0),
        (0, None, 0, None, 0, 0),
    ]
    # The floor: 5 calls, (150 + 200 + 100 + 90) / 4 = 135 s over the 4 that ended; 3 bookings / 5 calls = 0.6.
    assert report.summary == {"calls": 5, "handle_time": 135, "bookings": 3, "bookings_per_call": 0.6, "complaints": 2}
    assert report.name == "agents"
    assert report.chart["type"] == "bar" and report.chart["x"] == "text" and report.chart["stacked"] is False
    assert report.chart["labels"] == names[:3]  # the quiet agent has no bar
    assert report.chart["series"] == [{"label": "Calls answered", "data": [3, 1, 1]}]
    assert [c.key for c in report.columns] == [
        "name",
        "calls",
        "handle_time",
        "bookings",
        "bookings_per_call",
        "complaints",
        "agent_conduct",
    ]


@pytest.fixture
def drivers_of_march(english):
    """Four drivers with trips, offers, ratings and complaints in and around the period; see each line."""
    k7 = driver("K7", "Kaveh Karimi")
    m3 = driver("M3", "Mina Moradi")
    x9 = driver("X9", "Old Driver", active=False)  # left since, but drove in the period: a line
    driver("Q1", "Gone Driver", active=False)  # left, nothing in the period: no line
    z5 = driver("Z5", "New Driver")  # on the books, no work yet: a line of zeros
    db.session.flush()

    # Trips: completed bookings, on the moment they were completed.
    k7_night = booking(driver_id=k7.id, completed_at=utc(28, 20, 40, 2), fare=100_000)  # 1 Mar 00:10: in
    k7_noon = booking(driver_id=k7.id, completed_at=utc(1, 12, 0), fare=150_000)
    k7_before = booking(driver_id=k7.id, completed_at=utc(28, 20, 20, 2), fare=999)  # 28 Feb 23:50: before
    k7_no_show = booking(driver_id=k7.id, status="no_show")
    booking(driver_id=k7.id, status="on_trip")  # not finished: no trip
    booking(driver_id=k7.id, status="cancelled", completed_at=utc(1, 14, 0), fare=60_000)  # undone since: no trip
    m3_trip = booking(driver_id=m3.id, completed_at=utc(2, 10, 0), fare=80_000)
    m3_before = booking(driver_id=m3.id, completed_at=utc(28, 19, 0, 2), fare=70_000)
    booking(driver_id=x9.id, completed_at=utc(2, 20, 29), fare=50_000)  # 2 Mar 23:59: in

    def offer(who: Driver, outcome: str, at: datetime) -> None:
        db.session.add(
            DispatchOffer(
                booking_id=k7_noon.id, driver_id=who.id, outcome=outcome, offered_at=at, expires_at=seconds(at, 20)
            )
        )

    for outcome in ("accepted", "accepted", "declined", "expired", "withdrawn", "pending"):
        offer(k7, outcome, utc(1, 11, 0))
    offer(k7, "accepted", utc(28, 20, 29, 2))  # 28 Feb 23:59: before
    offer(m3, "accepted", utc(2, 9, 0))
    offer(m3, "expired", utc(2, 9, 5))
    offer(m3, "expired", utc(28, 20, 30, 2))  # 1 Mar 00:00: in

    def rating(trip: Booking, stars: int | None, answered_at: datetime | None) -> None:
        db.session.add(
            Feedback(
                booking_id=trip.id,
                driver_id=trip.driver_id,
                rating=stars,
                answered_at=answered_at,
                status="answered" if stars else "expired",
            )
        )

    rating(k7_night, 5, utc(28, 20, 45, 2))  # 1 Mar 00:15: in
    rating(k7_noon, 4, utc(1, 13, 0))
    rating(k7_before, 2, utc(28, 20, 0, 2))  # before
    rating(k7_no_show, None, None)  # never answered
    rating(m3_trip, 3, utc(2, 11, 0))
    rating(m3_before, 1, utc(2, 20, 31))  # 3 Mar 00:01: after

    def complaint(who: Driver, at: datetime) -> None:
        db.session.add(Complaint(driver_id=who.id, category="lateness", created_at=at, status="new", source="agent"))

    complaint(k7, utc(1, 15, 0))
    complaint(k7, utc(28, 20, 0, 2))  # before
    complaint(x9, utc(2, 8, 0))
    db.session.commit()
    return {"k7": k7, "m3": m3, "x9": x9, "z5": z5}


def test_driver_league(drivers_of_march):
    k7, m3, x9, z5 = (drivers_of_march[k] for k in ("k7", "m3", "x9", "z5"))

    report = league.drivers(PERIOD)

    # K7: trips 1 Mar 00:10 and 12:00 = 2 (the 28 Feb one, the no-show, the cancelled one and the one on the road
    #     are out), fares 100,000 + 150,000 = 250,000; offers accepted ×2, declined, expired = 4 (withdrawn,
    #     pending and the one before left out), 2 accepted = 50%; ratings 5 and 4 → 4.5; one complaint.
    # M3: 1 trip, 80,000; offers 1 accepted + 2 expired (one at 1 Mar 00:00) = 3 → 33.3%; rating 3; no complaint.
    # X9: 1 trip at 2 Mar 23:59, 50,000; nothing offered, no rating; 1 complaint. Fewer fares than M3: after her.
    # Z5: zeros. Q1 (left, nothing): no line.
    figures = [
        (
            row["name"],
            row["trips"],
            row["fares"],
            row["offers"],
            row["accepted"],
            row["acceptance_rate"],
            row["ratings"],
            row["average_rating"],
            row["complaints"],
        )
        for row in report.rows
    ]
    assert figures == [
        ("K7 Kaveh Karimi", 2, 250_000, 4, 2, 50.0, 2, 4.5, 1),
        ("M3 Mina Moradi", 1, 80_000, 3, 1, 33.3, 1, 3.0, 0),
        ("X9 Old Driver", 1, 50_000, 0, 0, None, 0, None, 1),
        ("Z5 New Driver", 0, 0, 0, 0, None, 0, None, 0),
    ]
    assert [row["id"] for row in report.rows] == [k7.id, m3.id, x9.id, z5.id]
    # The fleet: 4 trips, 250,000 + 80,000 + 50,000 = 380,000; 7 offers, 3 accepted = 42.9%;
    # ratings 5, 4, 3 → 4.0; 2 complaints.
    assert report.summary == {
        "trips": 4,
        "fares": 380_000,
        "offers": 7,
        "accepted": 3,
        "ratings": 3,
        "acceptance_rate": 42.9,
        "average_rating": 4.0,
        "complaints": 2,
        "currency": "IRR",
    }
    assert report.name == "drivers"
    assert report.chart["labels"] == ["K7 Kaveh Karimi", "M3 Mina Moradi", "X9 Old Driver"]
    assert report.chart["series"] == [{"label": "Trips", "data": [2, 1, 1]}]
    assert {c.key: c.kind for c in report.columns}["fares"] == "money"


def test_the_chart_shows_the_top_ten_only(english):
    # Twelve drivers with 12, 11, … 1 trips: the chart has the ten busiest, the table all twelve.
    for n in range(1, 13):
        who = driver(f"T{n:02d}", f"Driver {n}")
        db.session.flush()
        for _ in range(n):
            booking(driver_id=who.id, completed_at=utc(1, 12, 0), fare=10_000)
    db.session.commit()
    report = league.drivers(PERIOD)
    assert len(report.rows) == 12
    assert report.chart["labels"] == [f"T{n:02d} Driver {n}" for n in range(12, 2, -1)]
    assert report.chart["series"][0]["data"] == list(range(12, 2, -1))
