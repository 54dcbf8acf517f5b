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


def test_persian_user_sees_the_jalali_date_by_default(app, logged_in, booking_at_nowruz):
    html = logged_in("dispatcher", language="fa").get("/dispatch/").get_data(as_text=True)
    assert "۱۴۰۵/۰۱/۰۱ ۰۰:۰۰" in html


def test_persian_user_may_choose_gregorian_dates(app, logged_in, booking_at_nowruz):
    from accounts.services import find_user

    client = logged_in("dispatcher", language="fa")
    find_user("dispatcher").calendar = "gregorian"
    db.session.commit()
    html = client.get("/dispatch/").get_data(as_text=True)
    assert "۱۴۰۵/۰۱/۰۱" not in html
    assert "2026/3/21" in html


def test_stored_value_is_utc_and_comes_back_aware(app, booking_at_nowruz):
    db.session.expire_all()
    stored = db.session.get(Booking, booking_at_nowruz.id).pickup_at
    assert stored == NOWRUZ_UTC
    assert stored.utcoffset().total_seconds() == 0


def test_money_is_grouped_in_persian_digits_on_persian_pages(app, logged_in, booking_at_nowruz):
    booking_at_nowruz.fare = 2_210_000
    db.session.commit()
    persian = logged_in("dispatcher", language="fa").get("/dispatch/").get_data(as_text=True)
    assert "۲٬۲۱۰٬۰۰۰" in persian


def test_money_is_grouped_with_commas_on_english_pages(app, logged_in, booking_at_nowruz):
    booking_at_nowruz.fare = 2_210_000
    db.session.commit()
    assert "2,210,000" in logged_in("dispatcher", language="en").get("/dispatch/").get_data(as_text=True)
