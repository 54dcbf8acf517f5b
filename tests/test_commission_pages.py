"""The commission plan admin page: publishing versions through the real form, refusals that store nothing, the guard."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import utcnow
from earnings.commission import plan_versions
from earnings.models import CommissionPlan, CommissionRate
from tests.conftest import csrf_token_of

PAGE = "/admin/commission-plans"


def form(client, **fields) -> dict:
    """The publish form as a browser sends it: CSRF token, empty lines and all."""
    token = csrf_token_of(client.get(PAGE).get_data(as_text=True))
    data = {"csrf_token": token, "code": "standard", "name": "Standard", "valid_from": ""}
    for i in range(6):
        data.update({f"rates-{i}-{k}": "" for k in ("kind", "percent", "amount", "vehicle_class", "zone_id")})
    data.update(fields)
    return data


def plan_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CommissionPlan))


def test_an_admin_publishes_a_plan_and_its_next_version_and_sees_both(app, logged_in, tehran_zones):
    client = logged_in("admin")
    airport = tehran_zones["IKA"]
    first = form(
        client,
        name="Standard 15%",
        **{
            "rates-0-kind": "percent",
            "rates-0-percent": "15",
            "rates-1-kind": "percent",
            "rates-1-percent": "۱۲٫۵",  # typed on a Persian keyboard
            "rates-1-vehicle_class": "van",
            "rates-2-kind": "per_trip",
            "rates-2-amount": "400,000",
            "rates-2-zone_id": str(airport.id),
        },
    )
    response = client.post(PAGE, data=first)
    assert response.status_code == 302, response.get_data(as_text=True)
    [plan] = plan_versions("standard")
    assert [(r.kind, r.percent_bp, r.amount, r.vehicle_class, r.zone_id) for r in plan.rates] == [
        ("percent", 1500, 0, None, None),
        ("percent", 1250, 0, "van", None),
        ("per_trip", 0, 400_000, None, airport.id),
    ]

    tomorrow = (utcnow() + timedelta(days=1)).astimezone(ZoneInfo(app.config["OFFICE_TIMEZONE"]))
    second = form(
        client,
        name="Standard 12%",
        valid_from=tomorrow.strftime("%Y-%m-%dT%H:%M"),
        **{"rates-0-kind": "percent", "rates-0-percent": "12"},
    )
    response = client.post(PAGE, data=second, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Version 2 of plan standard published." in page
    db.session.expire_all()  # the test's session still holds version 1 as it was before
    versions = plan_versions("standard")
    assert [(v.version, v.name) for v in versions] == [(2, "Standard 12%"), (1, "Standard 15%")]
    assert versions[1].valid_to == versions[0].valid_from
    assert versions[0].valid_from.replace(second=0) == tomorrow.replace(second=0, microsecond=0)
    # Both versions listed, with their rates: the percentages, the amount, the class and the zone by name.
    assert 'data-version="1"' in page and 'data-version="2"' in page
    for shown in ("15%", "12.5%", "12%", "400,000", "van", airport.name_en, "in force"):
        assert shown in page


def test_the_form_starts_from_the_newest_version_of_the_chosen_plan(logged_in):
    client = logged_in("admin")
    client.post(PAGE, data=form(client, **{"rates-0-kind": "percent", "rates-0-percent": "7.25"}))
    page = client.get(f"{PAGE}?code=standard").get_data(as_text=True)
    assert 'value="standard"' in page and 'value="7.25"' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rates-0-kind": "percent", "rates-0-percent": "90"}, "percent_bp: from 0 to 5,000"),
        ({"rates-0-kind": "per_trip", "rates-0-amount": "100000000000000"}, "amount: from 0"),
        ({"rates-0-kind": "percent", "rates-0-percent": "15", "rates-0-amount": "5"}, "a percent line has no amount"),
        ({}, "rates: 1 to"),
    ],
)
def test_an_absurd_commission_is_refused_with_its_reason_and_nothing_is_stored(logged_in, fields, message):
    client = logged_in("admin")
    response = client.post(PAGE, data=form(client, **fields))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert 'value="standard"' in page  # the form comes back with what was typed
    assert plan_count() == 0
    assert db.session.scalar(select(func.count()).select_from(CommissionRate)) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rates-0-kind": "percent", "rates-0-percent": "12.345"}, "at most two decimals"),
        ({"rates-0-kind": "percent", "rates-0-percent": "-5"}, "at most two decimals"),
        ({"rates-0-percent": "15"}, "Choose the kind of this line."),
        ({"rates-0-kind": "per_trip", "rates-0-amount": "1.5"}, "Enter a whole number"),
    ],
)
def test_a_mistyped_line_is_shown_under_its_field(logged_in, fields, message):
    client = logged_in("admin")
    response = client.post(PAGE, data=form(client, **fields))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert plan_count() == 0


def test_only_admins_reach_the_page_and_a_post_needs_its_csrf_token(client, logged_in):
    assert client.get(PAGE).status_code == 302  # to the login page
    supervisor = logged_in("supervisor")
    assert supervisor.get(PAGE).status_code == 403
    assert supervisor.post(PAGE, data={"code": "x", "rates-0-kind": "percent"}).status_code in (400, 403)
    assert plan_count() == 0


def test_a_post_without_csrf_is_refused(logged_in):
    client = logged_in("admin")
    data = form(client, **{"rates-0-kind": "percent", "rates-0-percent": "15"})
    del data["csrf_token"]
    assert client.post(PAGE, data=data).status_code == 400
    assert plan_count() == 0


def test_the_admin_navigation_links_the_page(logged_in):
    page = logged_in("admin").get("/admin/users").get_data(as_text=True)
    assert f'href="{PAGE}"' in page
