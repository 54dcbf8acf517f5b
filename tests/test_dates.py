"""Times are stored in UTC and shown on the office clock, in the Jalali calendar when a user asks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.extensions import db
from dispatch.models import Booking

# 20:30 UTC on 20 March 2026 is midnight in Tehran (UTC+03:30): the first moment of 1405 (Nowruz).
NOWRUZ_UTC = datetime(2026, 3, 20, 20, 30, tzinfo=UTC)


@pytest.fixture
def booking_at_nowruz(app):
    booking = Booking(
        pickup_text="میدان آزادی",
        pickup_lat=35.6997,
        pickup_lon=51.3380,
        pickup_at=NOWRUZ_UTC,
        currency="IRR",
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def test_english_user_sees_the_office_clock(logged_in, booking_at_nowruz):
    html = logged_in("dispatcher", language="en").get("/dispatch/").get_data(as_text=True)
    assert "3/21/26, 12:00\u202fAM" in html or "3/21/26, 12:00 AM" in html


def test_persian_user_with_jalali_calendar_sees_the_persian_date(app, logged_in, booking_at_nowruz):
    from accounts.services import find_user

    client = logged_in("dispatcher", language="fa")
    user = find_user("dispatcher")
    user.calendar = "jalali"
    db.session.commit()
    html = client.get("/dispatch/").get_data(as_text=True)
    assert "۱۴۰۵/۰۱/۰۱ ۰۰:۰۰" in html


def test_stored_value_is_utc_and_comes_back_aware(app, booking_at_nowruz):
    db.session.expire_all()
    stored = db.session.get(Booking, booking_at_nowruz.id).pickup_at
    assert stored == NOWRUZ_UTC
    assert stored.utcoffset().total_seconds() == 0
