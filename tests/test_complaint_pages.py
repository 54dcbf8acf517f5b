"""The supervisor's complaint log: filters and fa/en search, pages, CSV, the complaint's page and its handling,
keyword rules, a driver's history and flag, the feedback log; agents and dispatchers are kept out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from feedback.complaints import open_complaint
from feedback.models import Complaint, ComplaintEvent, ComplaintKeyword
from notifications.models import OutboundMessage
from tests.conftest import csrf_token_of
from tests.test_feedback_loop import RIDER, complete, trip_on_the_road


@pytest.fixture
def supervisor(logged_in):
    return logged_in("supervisor")


def opened(description: str, **kwargs) -> Complaint:
    complaint = open_complaint("agent", description, kwargs.pop("now", utcnow()), phone=RIDER, **kwargs)
    db.session.commit()
    return complaint


def references(client, query: str = "") -> list[str]:
    html = client.get(f"/supervisor/complaints{query}").get_data(as_text=True)
    return sorted(c.reference for c in db.session.scalars(select(Complaint)) if f">{c.reference}<" in html)


def post(client, page: str, action: str, data: dict):
    token = csrf_token_of(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **data})


def test_the_log_filters_and_searches_in_persian_and_english(app, supervisor):
    rude = opened("راننده بی‌ادب بود و داد زد")
    late = opened("the driver was very late")
    fare = opened("کرایه گران بود", severity=3)
    assert references(supervisor) == sorted([rude.reference, late.reference, fare.reference])
    assert references(supervisor, "?q=بی ادب") == [rude.reference]  # the half-space folded
    assert references(supervisor, "?q=بي‌ادب") == [rude.reference]  # Arabic yeh, half-space
    assert references(supervisor, "?q=LATE") == [late.reference]
    assert references(supervisor, "?category=fare_dispute") == [fare.reference]
    assert references(supervisor, "?severity=3") == [fare.reference]
    assert references(supervisor, "?status=investigating") == []
    assert references(supervisor, "?sla_breached=0") == references(supervisor)


def test_a_bad_filter_says_what_is_wrong_and_lists_nothing(app, supervisor):
    opened("rude driver")
    response = supervisor.get("/supervisor/complaints?date_from=yesterday&severity=9")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "a date as YYYY-MM-DD" in html and "1, 2 or 3" in html and "data-complaint=" not in html


def test_the_log_pages_fifty_at_a_time_keeping_the_filter(app, supervisor):
    now = utcnow()
    for n in range(55):
        open_complaint("agent", f"late {n}", now - timedelta(minutes=n))
    db.session.commit()
    first = supervisor.get("/supervisor/complaints?q=late").get_data(as_text=True)
    assert first.count("data-complaint=") == 50 and "page=2" in first and "q=late" in first
    second = supervisor.get("/supervisor/complaints?q=late&page=2").get_data(as_text=True)
    assert second.count("data-complaint=") == 5


def test_the_csv_has_the_filtered_rows_and_keeps_formulas_out(app, supervisor):
    opened('=HYPERLINK("http://evil")')
    opened("a fine complaint about the route")
    response = supervisor.get("/supervisor/complaints.csv?q=hyperlink")
    text = response.get_data().decode("utf-8-sig")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = text.strip().splitlines()
    assert lines[0].startswith("reference,created_at,status") and len(lines) == 2
    assert "'=HYPERLINK" in lines[1]


def test_handling_a_complaint_from_its_page_leaves_an_audit_trail_and_tells_the_customer(app, supervisor, make_user):
    booking = trip_on_the_road("en")
    complete(booking)
    complaint = opened("the driver was rude", booking=booking)
    page = f"/supervisor/complaints/{complaint.id}"
    html = supervisor.get(page).get_data(as_text=True)
    assert complaint.reference in html and "data-trip-map" in html and "data-audit" in html

    assert post(supervisor, page, f"{page}/status", {"status": "investigating"}).status_code == 302
    db.session.refresh(complaint)
    assert complaint.status == "investigating" and complaint.first_response_at is not None

    refused = post(supervisor, page, f"{page}/status", {"status": "resolved", "note": ""})
    db.session.refresh(complaint)
    assert refused.status_code == 303 and complaint.status == "investigating"
    assert "the customer is told" in supervisor.get(page).get_data(as_text=True)

    agent = make_user("agent")
    post(supervisor, page, f"{page}/assign", {"assignee": str(agent.id)})
    db.session.refresh(complaint)
    assert complaint.assigned_to_id is None
    other = make_user("supervisor", username="second-supervisor")
    post(supervisor, page, f"{page}/assign", {"assignee": str(other.id)})
    post(supervisor, page, f"{page}/category", {"category": "lost_property", "severity": "2"})
    post(supervisor, page, f"{page}/status", {"status": "resolved", "note": "We spoke to the driver."})
    db.session.refresh(complaint)
    assert (complaint.status, complaint.assigned_to_id, complaint.category) == ("resolved", other.id, "lost_property")
    assert complaint.reference.startswith("LP-")
    text = db.session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "complaint_resolved"))
    assert text.to == RIDER and "We spoke to the driver." in text.body
    actions = db.session.scalars(
        select(ComplaintEvent.action).where(ComplaintEvent.complaint_id == complaint.id).order_by(ComplaintEvent.id)
    ).all()
    assert actions == ["opened", "status", "assigned", "recategorised", "status"]


def test_a_form_without_its_csrf_token_changes_nothing(app, supervisor):
    complaint = opened("rude")
    assert (
        supervisor.post(f"/supervisor/complaints/{complaint.id}/status", data={"status": "rejected"}).status_code == 400
    )
    db.session.refresh(complaint)
    assert complaint.status == "new"


def test_keyword_rules_are_added_refused_twice_tried_and_deleted(app, supervisor):
    page = "/supervisor/complaint-rules"
    data = {"phrase": "صندلی پاره", "category": "vehicle_condition", "language": "fa", "severity": "1"}
    assert post(supervisor, page, page, data).status_code == 302
    assert post(supervisor, page, page, data).status_code == 400  # the same phrase again
    tried = supervisor.get(f"{page}?text=صندلی‌ پاره بود").get_data(as_text=True)
    assert "data-suggestion" in tried and "صندلی پاره" in tried
    rule = db.session.scalar(select(ComplaintKeyword).where(ComplaintKeyword.phrase == "صندلی پاره"))
    rule_id = rule.id
    assert post(supervisor, page, f"{page}/{rule_id}/delete", {}).status_code == 302
    db.session.expunge_all()
    assert db.session.get(ComplaintKeyword, rule_id) is None


def test_a_driver_with_three_complaints_in_thirty_days_is_flagged(app, supervisor):
    booking = trip_on_the_road("fa")
    complete(booking)
    for n in range(3):
        opened(f"rude {n}", booking=booking)
    html = supervisor.get(f"/supervisor/drivers/{booking.driver_id}/complaints").get_data(as_text=True)
    assert "data-flagged" in html and html.count("C-0") == 3
    assert "data-flagged" in supervisor.get("/supervisor/complaints").get_data(as_text=True)


def test_the_feedback_log_shows_each_request_with_its_steps_and_the_texts_in(app, supervisor):
    booking = trip_on_the_road("fa")
    complete(booking)
    html = supervisor.get("/supervisor/feedback").get_data(as_text=True)
    assert 'data-feedback-row="' in html and "scheduled" in html


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
@pytest.mark.parametrize(
    "path",
    ["/supervisor/complaints", "/supervisor/complaints.csv", "/supervisor/complaint-rules", "/supervisor/feedback"],
)
def test_agents_and_dispatchers_are_kept_out(app, logged_in, role, path):
    assert logged_in(role).get(path).status_code == 403
