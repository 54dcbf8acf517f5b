"""The report pages around the report builders: the period, the table, the chart's data, the CSV; and the zone
report's numbers against a small set of trips worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from html import unescape

import pytest

from core.extensions import db
from dispatch.models import Booking
from feedback.models import Complaint
from reports.base import Period, PeriodError, read_period
from reports.catalog import CATALOG
from reports.zones import build as zones_report

ZONE = "Asia/Tehran"
LANGUAGE = {"fa": {"Accept-Language": "fa"}, "en": {"Accept-Language": "en"}}


def trip(zone, fare: int, completed_at: datetime, status: str = "completed") -> Booking:
    """A trip picked up in ``zone`` (None: outside every zone), stored directly."""
    booking = Booking(
        status=status,
        pickup_text="somewhere",
        pickup_lat=35.7,
        pickup_lon=51.4,
        pickup_at=completed_at,
        currency="IRR",
        fare=fare,
        pickup_zone_id=zone.id if zone is not None else None,
        completed_at=completed_at if status == "completed" else None,
    )
    db.session.add(booking)
    return booking


@pytest.fixture
def trips(app, tehran_zones):
    """Four trips on 1 December (office clock), one the evening before, one cancelled, one complaint."""
    d01, d02 = tehran_zones["D01"], tehran_zones["D02"]
    trip(d01, 1_000_000, datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    trip(d01, 3_000_000, datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    trip(d02, 2_000_000, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    trip(None, 4_000_000, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    # 20:00 UTC on 30 November is 23:30 in Tehran: still 30 November, outside a 1 December report.
    trip(d02, 9_000_000, datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    # 20:40 UTC on 30 November is 00:10 on 1 December in Tehran: inside.
    trip(d02, 500_000, datetime(2026, 11, 30, 20, 40, tzinfo=UTC))
    trip(d01, 7_000_000, datetime(2026, 12, 1, 10, 0, tzinfo=UTC), status="cancelled")
    db.session.add(Complaint(zone_id=d01.id, created_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC)))
    db.session.commit()
    return tehran_zones


def test_revenue_and_trips_by_zone(app, trips):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        report = zones_report(Period(date(2026, 12, 1), date(2026, 12, 1), ZONE))
    rows = {row["code"]: row for row in report.rows}
    # D01: 1,000,000 + 3,000,000; D02: 2,000,000 + 500,000; outside: 4,000,000. Total 10,500,000.
    assert [row["code"] for row in report.rows[:3]] == ["D01", "", "D02"]  # by revenue
    assert (rows["D01"]["trips"], rows["D01"]["revenue"], rows["D01"]["average_fare"]) == (2, 4_000_000, 2_000_000)
    assert (rows["D02"]["trips"], rows["D02"]["revenue"], rows["D02"]["average_fare"]) == (2, 2_500_000, 1_250_000)
    assert rows[""]["zone"] == "outside the zones" and rows[""]["revenue"] == 4_000_000
    assert rows["D01"]["revenue_share"] == 38.1  # 4.0 / 10.5
    assert rows["D02"]["revenue_share"] == 23.8  # 2.5 / 10.5
    assert rows["D01"]["complaints"] == 1 and rows["D01"]["complaints_per_100"] == 50.0
    assert rows["D05"]["trips"] == 0 and rows["D05"]["average_fare"] is None
    assert report.summary == {"trips": 5, "revenue": 10_500_000}
    assert {z["id"]: z["value"] for z in report.chart["zones"]}[trips["D02"].id] == 2_500_000


def test_the_period_is_read_from_office_days():
    today = date(2026, 12, 5)
    assert read_period({}, today, ZONE) == Period(date(2026, 11, 8), today, ZONE)  # the last 28 days
    period = read_period({"from": "2026-12-01", "to": "2026-12-01"}, today, ZONE)
    assert period.start == datetime(2026, 11, 30, 20, 30, tzinfo=UTC)
    assert period.end == datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    assert period.days == 1
    for bad, field in (({"from": "1 Dec"}, "from"), ({"from": "2026-12-02", "to": "2026-12-01"}, "from")):
        with pytest.raises(PeriodError) as error:
            read_period(bad, today, ZONE)
        assert field in error.value.fields
    with pytest.raises(PeriodError):
        read_period({"from": "2020-01-01", "to": "2026-12-01"}, today, ZONE)


@pytest.fixture
def supervisor(logged_in):
    """A client logged in as a supervisor."""
    return logged_in("supervisor")


def test_the_report_page_shows_the_table_summary_and_map(trips, supervisor):
    response = supervisor.get("/supervisor/reports/zones?from=2026-12-01&to=2026-12-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "data-report-map" in html and "vendor/chartjs/chart.umd.min.js" in html
    assert html.count('<td data-key="zone">') == 24  # 22 districts, the airport and "outside the zones"
    chart = json.loads(re.search(r"<script type=\"application/json\" data-chart-data>(.*?)</script>", html, re.S)[1])
    assert chart["type"] == "map" and len(chart["zones"]) == 23
    assert 'data-summary="revenue"' in html
    assert supervisor.get("/supervisor/reports").status_code == 200


def test_a_bad_period_says_what_is_wrong_and_shows_nothing(trips, supervisor):
    response = supervisor.get("/supervisor/reports/zones?from=yesterday")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "YYYY-MM-DD" in html and "data-report-table" not in html
    assert supervisor.get("/supervisor/reports/zones.csv?from=2026-12-09&to=2026-12-01").status_code == 400
    assert supervisor.get("/supervisor/reports/nothing").status_code == 404


def test_the_csv_has_the_headings_and_plain_values(trips, supervisor):
    response = supervisor.get("/supervisor/reports/zones.csv?from=2026-12-01&to=2026-12-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "zones-2026-12-01-2026-12-01.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Zone", "Trips", "Revenue"]
    first = rows[1]
    assert first[1:5] == ["2", "4000000", "2000000", "38.1"]


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
def test_other_roles_are_kept_out(app, logged_in, role):
    client = logged_in(role)
    assert client.get("/supervisor/reports").status_code == 403
    assert client.get("/supervisor/reports/zones.csv").status_code == 403


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_report_opens_and_downloads_in_both_languages(trips, supervisor, name):
    headings = {}
    for language in ("fa", "en"):
        page = supervisor.get(f"/supervisor/reports/{name}?from=2026-11-01&to=2026-12-01", headers=LANGUAGE[language])
        html = page.get_data(as_text=True)
        assert page.status_code == 200, (name, language)
        assert "data-report-table" in html and "data-summary" in html
        table = html[html.index("data-report-table") :]
        headings[language] = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", table[: table.index("</thead>")])]
    assert headings["fa"] != headings["en"]  # the headings are translated
    download = supervisor.get(f"/supervisor/reports/{name}.csv?from=2026-11-01&to=2026-12-01", headers=LANGUAGE["en"])
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == headings["en"]


def test_the_complaint_report_offers_its_groupings(trips, supervisor):
    html = supervisor.get("/supervisor/reports/complaints?by=zone").get_data(as_text=True)
    assert '<option value="zone" selected>' in html
    # An unknown grouping falls back to the first one instead of failing.
    assert supervisor.get("/supervisor/reports/complaints?by=weather").status_code == 200
