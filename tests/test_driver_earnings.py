"""The driver's own earnings on their phone: the balance, today's and the week's trips, their lines, and only their
own statements."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from core.extensions import db
from core.models import utcnow
from core.timewindows import office_date, office_midnight
from earnings.ledger import append
from earnings.settlements import settle
from tests.conftest import IsolatedClient, csrf_token_of
from tests.support.office import DRIVER_PIN, add_driver

PAGE = "/driver/earnings"


def yesterday(app) -> date:
    return office_date(utcnow(), app.config["OFFICE_TIMEZONE"]) - timedelta(days=1)


def trip(driver, booking: str, fare: int, commission: int, payment: str, at: datetime):
    amount = fare - commission if payment == "account" else -commission
    return append(
        driver.id, "trip", amount, at, fare=fare, commission=commission, payment=payment, dedupe_key=f"t:{booking}"
    )


def phone_of(app):
    """``phone_of(driver_phone)``: a browser of its own with that driver logged in by number and PIN."""

    def log_in(phone: str):
        browser = IsolatedClient(app, app.response_class, use_cookies=True)
        browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        token = csrf_token_of(browser.get("/driver/login").get_data(as_text=True))
        response = browser.post("/driver/login", data={"phone": phone, "pin": DRIVER_PIN, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser

    return log_in


@pytest.fixture
def drivers(app):
    """Two drivers, each settled for yesterday; the first also drove today on account."""
    zone = app.config["OFFICE_TIMEZONE"]
    day = yesterday(app)
    at = office_midnight(day, zone) + timedelta(hours=12)
    mine = add_driver("M1", "09121110011")
    other = add_driver("O2", "09121110012")
    trip(mine, "1", 1_000_000, 150_000, "cash", at)
    trip(other, "2", 800_000, 120_000, "cash", at)
    now = utcnow()
    own = settle(mine.id, day, day, "cash", "R-1", None, now)
    theirs = settle(other.id, day, day, "bank", "R-2", None, now)
    trip(mine, "3", 2_000_000, 300_000, "account", now)
    db.session.commit()
    return mine, other, own, theirs


def test_the_driver_sees_what_the_office_owes_them_and_their_trips(app, drivers):
    _mine, _other, own, theirs = drivers
    browser = phone_of(app)("09121110011")
    assert f'href="{PAGE}"' in browser.get("/driver/").get_data(as_text=True)  # linked from their page
    response = browser.get(PAGE)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-balance="1700000"' in page and "The office owes you" in page and "1,700,000" in page
    assert "Trips: 1" in page and "2,000,000" in page and "300,000" in page  # today
    assert 'data-seq="1"' in page and 'data-seq="3"' in page  # the latest lines
    assert f"{PAGE}/{own.id}" in page and f"{PAGE}/{theirs.id}" not in page
    assert "O2" not in page


def test_a_driver_who_owes_the_office_is_told_so(app, drivers):
    _mine, other, _own, _theirs = drivers
    append(other.id, "adjustment", -40_000, utcnow(), reason="fine: late to a booking")
    db.session.commit()
    page = phone_of(app)("09121110012").get(PAGE).get_data(as_text=True)
    assert "You owe the office" in page and "40,000" in page and "fine: late to a booking" in page
    assert "Trips: 0" in page  # none today


def test_a_driver_reads_their_own_statement_and_not_anyone_elses(app, drivers):
    _mine, _other, own, theirs = drivers
    browser = phone_of(app)("09121110011")
    response = browser.get(f"{PAGE}/{own.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-statement="{own.id}"' in page
    assert "You paid the office" in page and "150,000" in page and "1,000,000" in page and "R-1" in page
    assert page.count("<li data-seq=") == 2  # the trip and the settling line
    assert browser.get(f"{PAGE}/{theirs.id}").status_code == 404
    assert browser.get(f"{PAGE}/999999").status_code == 404


def test_staff_and_strangers_do_not_get_a_driver_earnings_page(app, drivers, logged_in, client):
    _mine, _other, own, _theirs = drivers
    assert client.get(PAGE).headers["Location"].startswith("/driver/login")
    admin = logged_in("admin")
    assert admin.get(PAGE).status_code == 403
    assert admin.get(f"{PAGE}/{own.id}").status_code == 403
