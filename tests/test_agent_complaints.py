"""The agent's "new complaint" form on a subscriber's record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from feedback.models import Complaint
from tests.conftest import csrf_token_of
from tests.test_api_feedback import office, trip  # noqa: F401  (the same office: Sara, Reza, their trips)


@pytest.fixture
def agent(logged_in, office):  # noqa: F811
    return logged_in("agent")


def record_url(subscriber) -> str:
    return f"/console/subscribers/{subscriber.id}"


def post_complaint(client, subscriber, **fields):
    token = csrf_token_of(client.get(record_url(subscriber)).get_data(as_text=True))
    data = {"csrf_token": token, **{f"complaint-{name}": value for name, value in fields.items()}}
    return client.post(f"{record_url(subscriber)}/complaints", data=data)


def complaints_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Complaint))


def test_the_record_offers_the_form_with_the_subscribers_last_trips(agent, office):  # noqa: F811
    page = agent.get(record_url(office["sara"])).get_data(as_text=True)
    form = page.split('class="complaint-form"', 1)[1].split("</details>", 1)[0]
    assert "New complaint" in form and "driver behaviour" in form
    assert f'value="{office["last"].id}"' in form and f'value="{office["older"].id}"' in form
    assert f'value="{office["rezas"].id}"' not in form


def test_only_the_last_ten_trips_are_offered(agent, office):  # noqa: F811
    sara, driver = office["sara"], office["d1"]
    extra = [trip(sara, driver, datetime.now(UTC) - timedelta(minutes=n)) for n in range(1, 11)]
    db.session.commit()
    form = agent.get(record_url(sara)).get_data(as_text=True).split('class="complaint-form"', 1)[1]
    form = form.split("</details>", 1)[0]
    assert all(f'value="{b.id}"' in form for b in extra)
    assert f'value="{office["last"].id}"' not in form


def test_an_agent_opens_a_complaint_about_the_last_trip(agent, office):  # noqa: F811
    sara = office["sara"]
    response = post_complaint(agent, sara, description="راننده خیلی دیر رسید", category="lateness")
    assert response.status_code == 302 and response.headers["Location"].endswith(record_url(sara))
    opened = db.session.scalar(select(Complaint))
    agent_id = db.session.scalar(select(User.id).where(User.username == "agent"))
    assert (opened.source, opened.category, opened.status) == ("agent", "lateness", "new")
    assert (opened.subscriber_id, opened.booking_id, opened.driver_id) == (sara.id, office["last"].id, office["d2"].id)
    assert opened.created_by_id == agent_id and opened.events[0].user_id == agent_id
    assert opened.description == "راننده خیلی دیر رسید" and opened.phone == "+989121234567"
    page = agent.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Complaint {opened.reference} opened." in page
    open_section = page.split('id="complaints-title"', 1)[1].split("</ul>", 1)[0]
    assert "lateness" in open_section


def test_the_agent_may_pick_the_trip_and_leave_the_category_to_the_words(agent, office):  # noqa: F811
    response = post_complaint(agent, office["sara"], description="something else", booking_id=office["older"].id)
    assert response.status_code == 302
    opened = db.session.scalar(select(Complaint))
    assert opened.booking_id == office["older"].id and opened.driver_id == office["d1"].id
    assert opened.category == "other"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"description": "   "}, "Describe the complaint."),
        ({"description": "x" * 4001}, "at most 4000 characters"),
        ({"description": "late", "category": "weather"}, "Choose a category from the list."),
        ({"description": "late", "booking_id": "REZAS"}, "Choose one of this subscriber&#39;s trips."),
        ({"description": "late", "booking_id": "999"}, "Choose one of this subscriber&#39;s trips."),
        ({"description": "late", "booking_id": "abc"}, "Choose one of this subscriber&#39;s trips."),
    ],
)
def test_bad_values_are_flashed_and_nothing_is_stored(agent, office, fields, message):  # noqa: F811
    fields = {k: office["rezas"].id if v == "REZAS" else v for k, v in fields.items()}
    response = post_complaint(agent, office["sara"], **fields)
    assert response.status_code == 302
    page = agent.get(response.headers["Location"]).get_data(as_text=True)
    assert message in page
    assert complaints_count() == 0


def test_without_the_csrf_token_nothing_is_stored(agent, office):  # noqa: F811
    response = agent.post(f"{record_url(office['sara'])}/complaints", data={"complaint-description": "late"})
    assert response.status_code == 400
    assert complaints_count() == 0


def test_a_dispatcher_may_not_open_one_here(logged_in, office):  # noqa: F811
    client = logged_in("dispatcher")
    token = csrf_token_of(client.get("/dispatch/").get_data(as_text=True))
    response = client.post(
        f"{record_url(office['sara'])}/complaints", data={"csrf_token": token, "complaint-description": "late"}
    )
    assert response.status_code == 403
    assert complaints_count() == 0
