"""The settlement pages: every driver's due for a period, the run and its refusals, one driver's settlement,
the printable statement, the CSV, and who may do it."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import utcnow
from core.timewindows import office_date, office_midnight
from earnings.ledger import adjust, append
from earnings.models import Settlement
from earnings.settlements import settle_all
from tests.conftest import IsolatedClient, csrf_token_of, log_in
from tests.support.office import add_driver

PAGE = "/supervisor/settlements"


def yesterday(app) -> date:
    return office_date(utcnow(), app.config["OFFICE_TIMEZONE"]) - timedelta(days=1)


def noon(app, day: date) -> datetime:
    return office_midnight(day, app.config["OFFICE_TIMEZONE"]) + timedelta(hours=12)


def trip(driver, booking: str, fare: int, commission: int, payment: str, at: datetime):
    amount = fare - commission if payment == "account" else -commission
    return append(
        driver.id, "trip", amount, at, fare=fare, commission=commission, payment=payment, dedupe_key=f"t:{booking}"
    )


@pytest.fixture
def fleet(app):
    """Two drivers who worked yesterday: the office owes one, the other owes the office."""
    at = noon(app, yesterday(app))
    owed = add_driver("A1", "09121110001")
    owing = add_driver("B2", "09121110002")
    trip(owed, "1", 1_000_000, 150_000, "cash", at)
    trip(owed, "2", 2_000_000, 300_000, "account", at)
    adjust(owed.id, 50_000, "airport bonus", None, at)
    trip(owing, "3", 500_000, 75_000, "cash", at)
    db.session.commit()
    return owed, owing


def settlements() -> list[Settlement]:
    return db.session.scalars(select(Settlement).order_by(Settlement.driver_id)).all()


def run(client, app, method="cash", **extra):
    page = client.get(PAGE).get_data(as_text=True)
    day = yesterday(app).isoformat()
    data = {"csrf_token": csrf_token_of(page), "start": day, "end": day, "method": method, **extra}
    return client.post(PAGE, data=data, follow_redirects=True)


def test_the_page_shows_what_each_driver_is_due_for_yesterday(app, fleet, logged_in):
    page = logged_in("supervisor").get(PAGE).get_data(as_text=True)
    assert 'data-driver="A1"' in page and 'data-driver="B2"' in page
    assert 'data-due="1600000"' in page and "office pays" in page and "1,600,000" in page
    assert 'data-due="-75000"' in page and "driver pays" in page and "75,000" in page
    assert "3,000,000" in page and "450,000" in page  # A1's fares and commission
    assert "never" in page  # neither settled before
    assert 'href="/supervisor/settlements"' in page  # in the navigation


def test_the_run_settles_everyone_once_and_a_second_run_is_refused_per_driver(app, fleet, logged_in):
    client = logged_in("supervisor")
    page = run(client, app, method="bank").get_data(as_text=True)
    assert "2 drivers settled." in page
    assert [(s.paid, s.trips, s.fares, s.method) for s in settlements()] == [
        (1_600_000, 2, 3_000_000, "bank"),
        (-75_000, 1, 500_000, "bank"),
    ]
    again = run(client, app)
    text = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "0 drivers settled." in text
    day = yesterday(app).isoformat()
    assert f"A1 not settled: already settled up to {day}" in text
    assert f"B2 not settled: already settled up to {day}" in text
    assert len(settlements()) == 2
    assert f"settled up to {day}" in client.get(PAGE).get_data(as_text=True)


def test_a_run_without_its_csrf_token_settles_nothing(app, fleet, logged_in):
    client = logged_in("admin")
    day = yesterday(app).isoformat()
    response = client.post(PAGE, data={"start": day, "end": day, "method": "cash"})
    assert response.status_code == 400
    assert settlements() == []


def test_one_driver_is_settled_with_a_reference_and_their_statement_prints(app, fleet, logged_in):
    owed, _owing = fleet
    client = logged_in("supervisor")
    token = csrf_token_of(client.get(PAGE).get_data(as_text=True))
    day = yesterday(app).isoformat()
    data = {"csrf_token": token, "start": day, "end": day, "method": "bank", "reference": "TX-771"}
    response = client.post(f"{PAGE}/driver/{owed.id}", data=data)
    [settled] = settlements()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{PAGE}/{settled.id}")
    assert (settled.driver_id, settled.reference, settled.paid) == (owed.id, "TX-771", 1_600_000)

    page = client.get(f"{PAGE}/{settled.id}").get_data(as_text=True)
    assert page.count('data-kind="trip"') == 2 and 'data-kind="adjustment"' in page
    assert 'data-kind="settlement"' in page and 'data-amount="-1600000"' in page
    for shown in ("A1", "Driver A1", "airport bonus", "1,000,000", "150,000", "1,700,000", "50,000", "on account"):
        assert shown in page
    assert "Paid to the driver" in page and "1,600,000" in page and "TX-771" in page
    assert "signature" in page and "For the office" in page
    assert "data-print" in page and "/static/js/print.js" in page and "/static/css/print.css" in page
    assert "onclick" not in page

    # Settling the same driver again for the same day is refused, with the reason.
    again = client.post(f"{PAGE}/driver/{owed.id}", data=data, follow_redirects=True)
    assert f"A1 not settled: already settled up to {day}" in again.get_data(as_text=True)
    assert len(settlements()) == 1


def test_the_csv_has_a_row_per_settlement_with_text_cells_made_safe(app, fleet, logged_in):
    owed, _owing = fleet
    client = logged_in("admin")
    token = csrf_token_of(client.get(PAGE).get_data(as_text=True))
    day = yesterday(app).isoformat()
    data = {"csrf_token": token, "start": day, "end": day, "method": "cash", "reference": "=HYPERLINK(1)"}
    client.post(f"{PAGE}/driver/{owed.id}", data=data)
    run(client, app)
    response = client.get(f"{PAGE}.csv?start={day}&end={day}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["call_sign"], r["paid"], r["trips"], r["fares"], r["commission"]) for r in rows] == [
        ("A1", "1600000", "2", "3000000", "450000"),
        ("B2", "-75000", "1", "500000", "75000"),
    ]
    assert rows[0]["reference"] == "'=HYPERLINK(1)"
    assert rows[0]["period_start"] == rows[0]["period_end"] == day
    assert rows[0]["settled_by"] == "admin" and rows[0]["method"] == "cash"
    last_year = client.get(f"{PAGE}.csv?start=2020-01-01&end=2020-01-07").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(last_year)))) == 1  # the header only


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-13-01&end=2026-13-02", "Not a valid date"),
        ("start=2026-11-10&end=2026-11-09", "ends before it starts"),
        ("start=2026-01-01&end=2026-06-30", "at most 62 days"),
    ],
)
def test_a_bad_period_is_refused_with_a_message(logged_in, query, message):
    client = logged_in("supervisor")
    for url in (f"{PAGE}?{query}", f"{PAGE}.csv?{query}"):
        response = client.get(url)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)


def test_agents_and_dispatchers_are_kept_out(app, fleet, make_user):
    day = yesterday(app)
    settle_all(day, day, "cash", None, utcnow())
    db.session.commit()
    [first, *_] = settlements()
    for role in ("agent", "dispatcher"):
        client = IsolatedClient(app, app.response_class, use_cookies=True)  # a browser of its own
        assert log_in(client, make_user(role).username).status_code == 302
        for url in (PAGE, f"{PAGE}.csv", f"{PAGE}/{first.id}"):
            assert client.get(url).status_code == 403
        token = csrf_token_of(client.get("/preferences").get_data(as_text=True))
        data = {"csrf_token": token, "start": yesterday(app).isoformat(), "end": yesterday(app).isoformat()}
        assert client.post(PAGE, data=data | {"method": "cash"}).status_code == 403
        assert client.post(f"{PAGE}/driver/{first.driver_id}", data=data).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 2


def test_the_run_commits_driver_by_driver(app, fleet):
    """A run over many drivers must not hold the database's write lock for all of them: each is kept as it ends."""
    day = yesterday(app)
    kept_after_each = []

    def commit_and_look() -> None:
        db.session.commit()
        # Another connection sees the settlements committed so far.
        with db.engine.connect() as other:
            kept_after_each.append(other.execute(select(func.count()).select_from(Settlement)).scalar())

    settle_all(day, day, "cash", None, utcnow(), after_each=commit_and_look)
    assert kept_after_each == [1, 2]
