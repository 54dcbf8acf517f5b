"""The supervisor's complaint log pages through the real app: the log's filters, fa/en search, pages and CSV; a
complaint's page and every action on it; keyword rules; a driver's complaints and flag; the feedback log; roles."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from core.models import utcnow
from core.timewindows import office_date
from feedback.complaints import open_complaint
from feedback.models import Complaint, ComplaintEvent, ComplaintKeyword, Feedback, FeedbackEvent, InboundMessage
from notifications.models import OutboundMessage
from tests.conftest import csrf_token_of
from tests.test_feedback_loop import RIDER, complete, trip_on_the_road

LOG = "/supervisor/complaints"
RULES = "/supervisor/complaint-rules"


@pytest.fixture
def supervisor(logged_in):
    """A client logged in as a supervisor (username "supervisor")."""
    return logged_in("supervisor")


def opened(description: str, **kwargs) -> Complaint:
    """A complaint opened by the engine and committed, as an agent's would be."""
    now = kwargs.pop("now", utcnow())
    complaint = open_complaint(kwargs.pop("source", "agent"), description, now, phone=RIDER, **kwargs)
    db.session.commit()
    return complaint


def listed(client, query: str = "") -> list[str]:
    """The references the log shows for a query string, in page order."""
    response = client.get(LOG + query)
    assert response.status_code == 200, response.status_code
    ids = [int(i) for i in re.findall(r'data-complaint="(\d+)"', response.get_data(as_text=True))]
    return [db.session.get(Complaint, i).reference for i in ids]


def post(client, path: str, data: dict, page: str | None = None):
    """Post a form with the CSRF token of the page it sits on."""
    token = csrf_token_of(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_the_log_lists_newest_first_and_filters(app, supervisor):
    now = utcnow()
    rude = opened("راننده بی‌ادب بود و داد زد", now=now - timedelta(minutes=3))
    late = opened("The driver was very LATE", now=now - timedelta(minutes=2))
    fare = opened("کرایه گران بود", severity=3, now=now - timedelta(minutes=1))
    old = opened("dirty car", now=now - timedelta(days=3))  # its 24 hours to respond are long gone

    assert listed(supervisor) == [fare.reference, late.reference, rude.reference, old.reference]
    assert listed(supervisor, "?q=بی ادب") == [rude.reference]  # a space for the half-space
    assert listed(supervisor, "?q=بي‌ادب") == [rude.reference]  # Arabic yeh
    assert listed(supervisor, "?q=late") == [late.reference]
    assert listed(supervisor, f"?q={fare.reference}") == [fare.reference]
    assert listed(supervisor, "?category=fare_dispute") == [fare.reference]
    assert listed(supervisor, "?category=lateness&severity=2") == [late.reference]
    assert listed(supervisor, "?severity=3") == [fare.reference]
    assert listed(supervisor, "?sla_breached=1") == [old.reference]
    assert old.reference not in listed(supervisor, "?sla_breached=0")
    assert listed(supervisor, "?status=investigating") == []
    today = office_date(now, app.config["OFFICE_TIMEZONE"]).isoformat()
    assert listed(supervisor, f"?date_from={today}&date_to={today}") == listed(supervisor, "?sla_breached=0")


def test_the_log_shows_driver_flag_zone_subscriber_and_sla_marker(app, supervisor):
    booking = trip_on_the_road("fa")
    complete(booking)
    for n in range(3):
        opened(f"rude {n}", booking=booking)
    opened("late again", now=utcnow() - timedelta(days=2))
    html = supervisor.get(LOG).get_data(as_text=True)
    assert html.count("data-flagged") == 3  # every row of the flagged driver
    assert f'href="/console/subscribers/{booking.subscriber_id}"' in html
    assert html.count("data-late") == 1
    assert listed(supervisor, f"?driver_id={booking.driver_id}") == listed(supervisor, "?q=rude")


def test_the_log_pages_fifty_at_a_time_keeping_the_filter(app, supervisor):
    now = utcnow()
    for n in range(55):
        open_complaint("agent", f"late {n}", now - timedelta(minutes=n))
    open_complaint("agent", "dirty seats", now)
    db.session.commit()
    first = supervisor.get(f"{LOG}?q=late").get_data(as_text=True)
    assert first.count("data-complaint=") == 50
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "page=2" in next_link and "q=late" in next_link
    second = supervisor.get(next_link).get_data(as_text=True)
    assert second.count("data-complaint=") == 5 and 'rel="next"' not in second
    assert "late 54" in second  # the oldest is last


def test_a_bad_filter_says_what_is_wrong_lists_nothing_and_changes_nothing(app, supervisor):
    opened("rude driver")
    events = db.session.scalar(select(func.count(ComplaintEvent.id)))
    response = supervisor.get(f"{LOG}?date_from=yesterday&severity=9&status=open")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "a date as YYYY-MM-DD" in html and "1, 2 or 3" in html and "one of new, investigating" in html
    assert "data-complaint=" not in html and "No complaints." in html
    assert db.session.scalar(select(func.count(ComplaintEvent.id))) == events
    # The CSV link of a bad filter leads back to the log, which says what is wrong.
    download = supervisor.get(f"{LOG}.csv?severity=9")
    assert download.status_code == 303 and "severity=9" in download.headers["Location"]


def test_the_csv_has_the_header_and_the_filtered_rows_with_formulas_defused(app, supervisor):
    opened('=HYPERLINK("http://evil.example","click")')
    opened("راننده بی‌ادب بود")
    opened("a fine complaint about the route")
    response = supervisor.get(f"{LOG}.csv?q=hyperlink")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and re.search(r"complaints-\d{8}-\d{4}\.csv", disposition)
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # utf-8-sig, so a spreadsheet reads Persian right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["reference", "created_at", "status"] and len(rows) == 2
    assert rows[1][rows[0].index("description")].startswith("'=HYPERLINK")
    persian = list(csv.reader(io.StringIO(supervisor.get(f"{LOG}.csv?q=بی ادب").get_data().decode("utf-8-sig"))))
    assert len(persian) == 2 and "بی‌ادب" in persian[1][rows[0].index("description")]


def test_the_complaint_page_shows_everything_about_it(app, supervisor):
    booking = trip_on_the_road("fa")
    booking.dropoff_text, booking.dropoff_lat, booking.dropoff_lon = "Vanak", 35.757, 51.41
    db.session.commit()
    complete(booking)
    feedback = db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))
    feedback.rating, feedback.comment, feedback.status = 1, "خیلی بد بود", "answered"
    complaint = opened("راننده بی‌ادب بود", booking=booking, feedback_id=feedback.id, source="rating")
    complaint.recording_url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    complaint.transcript = "he shouted at me"
    db.session.add(
        InboundMessage(
            message_sid="SM-complaint-1", from_number=RIDER, body="تا حالا کسی تماس نگرفت", complaint_id=complaint.id
        )
    )
    db.session.commit()
    html = supervisor.get(f"{LOG}/{complaint.id}").get_data(as_text=True)
    assert complaint.reference in html and "راننده بی‌ادب بود" in html
    assert f'href="/console/subscribers/{booking.subscriber_id}"' in html
    assert f'<audio controls preload="none" src="{complaint.recording_url}"' in html and "he shouted at me" in html
    assert "خیلی بد بود" in html and "تا حالا کسی تماس نگرفت" in html
    assert "data-trip-map" in html and "35.757" in html and "Vanak" in html
    timeline = html.split("data-trip-timeline", 1)[1].split("</ol>", 1)[0]
    assert "completed" in timeline
    audit = html.split("data-audit", 1)[1].split("</table>", 1)[0]
    assert 'data-event="opened"' in audit
    # Only the statuses a new complaint may go to are offered.
    offered = html.split("data-status-form", 1)[1].split("</form>", 1)[0]
    assert 'value="investigating"' in offered and 'value="new"' not in offered
    assert supervisor.get(f"{LOG}/999999").status_code == 404


def test_changing_the_status_writes_the_audit_trail(app, supervisor):
    complaint = opened("the driver was rude")
    page = f"{LOG}/{complaint.id}"
    me = db.session.scalar(select(User).where(User.username == "supervisor"))
    response = post(supervisor, f"{page}/status", {"status": "investigating", "note": "calling the driver"}, page)
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    db.session.refresh(complaint)
    assert complaint.status == "investigating" and complaint.first_response_at is not None
    event = db.session.scalar(select(ComplaintEvent).where(ComplaintEvent.action == "status"))
    assert (event.from_status, event.to_status, event.user_id, event.note) == (
        "new",
        "investigating",
        me.id,
        "calling the driver",
    )
    html = supervisor.get(page).get_data(as_text=True)
    assert "Saved." in html and "calling the driver" in html.split("data-audit", 1)[1]


def test_closing_needs_a_note_and_then_texts_the_customer(app, supervisor):
    complaint = opened("the driver was rude")
    page = f"{LOG}/{complaint.id}"
    refused = post(supervisor, f"{page}/status", {"status": "resolved", "note": "  "}, page)
    assert refused.status_code == 303
    db.session.refresh(complaint)
    assert complaint.status == "new" and complaint.first_response_at is None
    assert "write what was done" in supervisor.get(page).get_data(as_text=True)
    assert db.session.scalar(select(func.count(OutboundMessage.id))) == 0

    post(supervisor, f"{page}/status", {"status": "resolved", "note": "We spoke to the driver."}, page)
    db.session.refresh(complaint)
    assert complaint.status == "resolved" and complaint.resolution == "We spoke to the driver."
    text = db.session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "complaint_resolved"))
    assert text.to == RIDER and "We spoke to the driver." in text.body
    # A status the engine does not allow from here is refused the same way.
    assert post(supervisor, f"{page}/status", {"status": "rejected", "note": "x"}, page).status_code == 303
    db.session.refresh(complaint)
    assert complaint.status == "resolved"


def test_assigning_notes_and_recategorising(app, supervisor, make_user):
    complaint = opened("the driver was rude")
    page = f"{LOG}/{complaint.id}"
    agent = make_user("agent", username="an-agent")
    other = make_user("supervisor", username="second-supervisor")
    assert post(supervisor, f"{page}/assign", {"assignee": str(agent.id)}, page).status_code == 303
    db.session.refresh(complaint)
    assert complaint.assigned_to_id is None
    assert "an active supervisor or admin" in supervisor.get(page).get_data(as_text=True)
    assign_form = supervisor.get(page).get_data(as_text=True).split("data-assign-form", 1)[1].split("</form>", 1)[0]
    assert f'value="{agent.id}"' not in assign_form and f'value="{other.id}"' in assign_form

    post(supervisor, f"{page}/assign", {"assignee": str(other.id)}, page)
    db.session.refresh(complaint)
    assert complaint.assigned_to_id == other.id
    assert other.username in listed_html(supervisor, f"?assigned_to_id={other.id}")
    post(supervisor, f"{page}/assign", {"assignee": ""}, page)
    db.session.refresh(complaint)
    assert complaint.assigned_to_id is None

    assert post(supervisor, f"{page}/note", {"note": ""}, page).status_code == 303  # an empty note is refused
    post(supervisor, f"{page}/note", {"note": "راننده گفت مسافر عجله داشت"}, page)
    post(supervisor, f"{page}/category", {"category": "lost_property", "severity": "3"}, page)
    assert post(supervisor, f"{page}/category", {"category": "nonsense", "severity": "2"}, page).status_code == 303
    db.session.refresh(complaint)
    assert (complaint.category, complaint.severity) == ("lost_property", 3) and complaint.reference.startswith("LP-")
    actions = db.session.scalars(
        select(ComplaintEvent.action).where(ComplaintEvent.complaint_id == complaint.id).order_by(ComplaintEvent.id)
    ).all()
    assert actions == ["opened", "assigned", "assigned", "note", "recategorised"]


def listed_html(client, query: str) -> str:
    """The log's table for a query string."""
    return client.get(LOG + query).get_data(as_text=True).split("data-complaints", 1)[1]


def test_a_form_without_its_csrf_token_changes_nothing(app, supervisor):
    complaint = opened("rude")
    for action, data in (("status", {"status": "investigating"}), ("note", {"note": "x"})):
        assert supervisor.post(f"{LOG}/{complaint.id}/{action}", data=data).status_code == 400
    assert supervisor.post(RULES, data={"phrase": "x", "category": "other", "language": "en"}).status_code == 400
    db.session.refresh(complaint)
    assert complaint.status == "new" and len(complaint.events) == 1


def test_keyword_rules_are_added_refused_twice_tried_and_deleted(app, supervisor):
    data = {"phrase": "صندلی پاره", "category": "vehicle_condition", "language": "fa", "severity": "1"}
    assert post(supervisor, RULES, data).status_code == 302
    again = post(supervisor, RULES, {**data, "phrase": "صندلي  پاره"})  # folds to the same phrase
    assert again.status_code == 400 and "already a rule" in again.get_data(as_text=True)
    assert post(supervisor, RULES, {**data, "phrase": "   "}).status_code == 400
    tried = supervisor.get(f"{RULES}?text=صندلی‌ پاره بود").get_data(as_text=True)
    suggestion = tried.split("data-suggestion", 1)[1].split("</p>", 1)[0]
    assert "vehicle condition" in suggestion and "صندلی پاره" in suggestion
    assert "not read as a complaint" in supervisor.get(f"{RULES}?text=ممنون عالی بود").get_data(as_text=True)
    rule_id = db.session.scalar(select(ComplaintKeyword.id).where(ComplaintKeyword.phrase == "صندلی پاره"))
    assert post(supervisor, f"{RULES}/{rule_id}/delete", {}, RULES).status_code == 302
    db.session.expunge_all()
    assert db.session.get(ComplaintKeyword, rule_id) is None
    post(supervisor, f"{RULES}/{rule_id}/delete", {}, RULES)
    assert "no such rule" in supervisor.get(RULES).get_data(as_text=True)


def test_a_driver_with_three_complaints_in_thirty_days_is_flagged(app, supervisor):
    booking = trip_on_the_road("fa")
    complete(booking)
    opened("rude long ago", booking=booking, now=utcnow() - timedelta(days=40))
    for n in range(2):
        opened(f"rude {n}", booking=booking)
    page = f"/supervisor/drivers/{booking.driver_id}/complaints"
    html = supervisor.get(page).get_data(as_text=True)
    assert "data-flagged" not in html and html.count("data-complaint=") == 3
    opened("rude 2", booking=booking)
    html = supervisor.get(page).get_data(as_text=True)
    assert "data-flagged" in html and html.count("data-complaint=") == 4
    assert ">3<" in html.split("data-recent", 1)[1].split("</div>", 1)[0]
    assert html.index("rude 2") < html.index("rude long ago")  # newest first
    assert supervisor.get("/supervisor/drivers/999999/complaints").status_code == 404


def test_the_feedback_log_filters_requests_and_shows_their_steps_and_the_texts_in(app, supervisor):
    first, second = trip_on_the_road("fa"), trip_on_the_road("fa")
    complete(first)
    complete(second)
    answered = db.session.scalar(select(Feedback).where(Feedback.booking_id == first.id))
    answered.status, answered.rating, answered.comment = "answered", 2, "دیر رسید"
    db.session.add(FeedbackEvent(feedback_id=answered.id, kind="rating", data={"rating": 2, "comment": "دیر رسید"}))
    db.session.add_all(
        [
            InboundMessage(
                message_sid="SM-a", from_number=RIDER, body="2 دیر رسید", outcome="feedback_reply", parsed={"rating": 2}
            ),
            InboundMessage(message_sid="SM-b", from_number=RIDER, body="STOP", outcome="opt_out"),
        ]
    )
    db.session.commit()

    def rows(query: str = "") -> list[str]:
        response = supervisor.get(f"/supervisor/feedback{query}")
        assert response.status_code == 200
        return re.findall(r'data-feedback-row="(\d+)"', response.get_data(as_text=True))

    assert len(rows()) == 2
    assert rows("?status=answered") == [str(answered.id)]
    assert rows("?rating=2") == [str(answered.id)]
    other = db.session.scalar(select(Feedback).where(Feedback.booking_id == second.id))
    assert rows(f"?driver_id={second.driver_id}") == [str(other.id)]
    assert rows("?channel=ivr") == [] and len(rows(f"?channel={other.channel}")) == 2
    today = office_date(utcnow(), app.config["OFFICE_TIMEZONE"]).isoformat()
    assert len(rows(f"?date_from={today}&date_to={today}")) == 2 and rows("?date_to=2020-01-01") == []
    html = supervisor.get("/supervisor/feedback?status=answered").get_data(as_text=True)
    steps = [unescape(block) for block in re.findall(r'<pre dir="ltr">(.*?)</pre>', html, re.S)]
    assert any('"comment": "دیر رسید"' in step for step in steps)  # pretty JSON, the Persian left readable
    texts = supervisor.get("/supervisor/feedback?outcome=opt_out").get_data(as_text=True).split("data-texts-in", 1)[1]
    assert "STOP" in texts and "2 دیر رسید" not in texts
    bad = supervisor.get("/supervisor/feedback?date_from=soon&rating=7")
    assert bad.status_code == 400 and "a date as YYYY-MM-DD" in bad.get_data(as_text=True)
    assert "data-feedback-row" not in bad.get_data(as_text=True)


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
def test_agents_and_dispatchers_are_kept_out_of_every_page(app, logged_in, role):
    complaint = opened("rude")
    booking = trip_on_the_road("fa")
    client = logged_in(role)
    driver_page = f"/supervisor/drivers/{booking.driver_id}/complaints"
    pages = [LOG, f"{LOG}.csv", f"{LOG}/{complaint.id}", RULES, driver_page, "/supervisor/feedback"]
    for path in pages:
        assert client.get(path).status_code == 403, path
    token = csrf_token_of(client.get("/preferences").get_data(as_text=True))
    for action in ("status", "assign", "note", "category"):
        data = {"csrf_token": token, "status": "rejected", "note": "x", "category": "other", "severity": "1"}
        assert client.post(f"{LOG}/{complaint.id}/{action}", data=data).status_code == 403
    db.session.refresh(complaint)
    assert complaint.status == "new" and len(complaint.events) == 1


def test_an_admin_may_use_the_log(app, logged_in):
    opened("rude")
    admin = logged_in("admin")
    for path in (LOG, f"{LOG}.csv", RULES, "/supervisor/feedback"):
        assert admin.get(path).status_code == 200, path
