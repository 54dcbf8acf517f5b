"""The console's subscriber pages: lookup, search, new subscriber, the record and its forms."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.extensions import db
from crm.models import Address, Note, Subscriber
from crm.services import add_address, add_note, add_phone, create_subscriber
from tests.conftest import csrf_token_of


@pytest.fixture
def agent(logged_in, tehran_zones):
    return logged_in("agent")


@pytest.fixture
def maryam(app, tehran_zones):
    subscriber = create_subscriber("مریم احمدی", ["09123456789"], "IR", notes="سالمند است")
    add_address(subscriber, label="خانه", text="تجریش، کوچه یاس", lat=35.8045, lon=51.4336, driver_notes="زنگ دوم")
    db.session.commit()
    return subscriber


def post_form(client, page_url, action, data):
    token = csrf_token_of(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **data})


def test_lookup_by_any_spelling_opens_the_record(agent, maryam):
    response = agent.get("/console/", query_string={"phone": "۰۹۱۲ ۳۴۵ ۶۷۸۹"})
    assert response.headers["Location"].endswith(f"/console/subscribers/{maryam.id}")
    page = agent.get(response.headers["Location"]).get_data(as_text=True)
    for text in ("مریم احمدی", "تجریش، کوچه یاس", "زنگ دوم", "سالمند است", "0912 345 6789"):
        assert text in page


def test_unknown_number_opens_the_new_subscriber_form_with_it(agent):
    response = agent.get("/console/", query_string={"phone": "0935 111 2233"})
    assert "/console/subscribers/new" in response.headers["Location"]
    page = agent.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="0935 111 2233"' in page


def test_new_subscriber_is_saved(agent):
    response = post_form(
        agent,
        "/console/subscribers/new",
        "/console/subscribers/new",
        {"name": "رضا کریمی", "phone": "09351112233", "language": "fa", "notes": ""},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(Subscriber.name)) == "رضا کریمی"


def test_new_subscriber_errors_are_shown_and_nothing_is_saved(agent):
    response = post_form(
        agent, "/console/subscribers/new", "/console/subscribers/new", {"name": "", "phone": "12", "language": "fa"}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Subscriber.id))) == 0


def test_a_known_number_leads_to_its_owner(agent, maryam):
    response = post_form(
        agent,
        "/console/subscribers/new",
        "/console/subscribers/new",
        {"name": "کسی دیگر", "phone": "+989123456789", "language": "fa"},
    )
    assert response.headers["Location"].endswith(f"/console/subscribers/{maryam.id}")
    assert db.session.scalar(select(func.count(Subscriber.id))) == 1


def test_search_lists_matches(agent, maryam):
    page = agent.get("/console/subscribers", query_string={"q": "احمدي"}).get_data(as_text=True)
    assert f"/console/subscribers/{maryam.id}" in page
    nothing = agent.get("/console/subscribers", query_string={"q": "zzz"}).get_data(as_text=True)
    assert "Nobody matches." in nothing


def test_note_is_added_and_html_is_shown_as_text(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    response = post_form(agent, url, f"{url}/notes", {"kind": "mood", "body": "<script>alert(1)</script> عصبانی"})
    assert response.status_code == 302
    page = agent.get(url).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; عصبانی" in page
    assert "<script>alert(1)</script>" not in page
    assert db.session.scalar(select(Note.kind)) == "mood"


def test_ten_thousand_character_note_is_refused(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    response = post_form(agent, url, f"{url}/notes", {"kind": "general", "body": "x" * 10_000})
    assert response.status_code == 400
    assert "at most 2000" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Note.id))) == 0


def test_address_is_saved_with_its_zone(agent, maryam, tehran_zones):
    url = f"/console/subscribers/{maryam.id}"
    response = post_form(
        agent, url, f"{url}/addresses", {"label": "کار", "text": "میدان ولیعصر", "lat": "35.7100", "lon": "51.4070"}
    )
    assert response.status_code == 302
    saved = db.session.scalar(select(Address).where(Address.label == "کار"))
    assert saved.zone_id is not None


def test_address_without_a_pin_is_refused(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    response = post_form(agent, url, f"{url}/addresses", {"label": "کار", "text": "جایی", "lat": "", "lon": ""})
    assert response.status_code == 400
    assert "Place the address on the map" in response.get_data(as_text=True)


def test_address_far_away_is_refused(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    response = post_form(
        agent, url, f"{url}/addresses", {"label": "کار", "text": "اصفهان", "lat": "32.65", "lon": "51.67"}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Address.id))) == 1


def test_taking_a_number_needs_the_box_ticked(agent, maryam):
    reza = create_subscriber("رضا", ["09351112233"], "IR")
    db.session.commit()
    url = f"/console/subscribers/{reza.id}"
    refused = post_form(agent, url, f"{url}/phones", {"phone": "09123456789"})
    assert refused.status_code == 409
    only_number = post_form(agent, url, f"{url}/phones", {"phone": "09123456789", "move": "y"})
    assert only_number.status_code == 400  # Maryam would be left without a number
    add_phone(db.session.get(Subscriber, maryam.id), "02122710000", "IR")
    db.session.commit()
    moved = post_form(agent, url, f"{url}/phones", {"phone": "09123456789", "move": "y"})
    assert moved.status_code == 302
    db.session.expire_all()
    assert sorted(p.e164 for p in db.session.get(Subscriber, reza.id).phones) == ["+989123456789", "+989351112233"]


def test_barring_needs_a_reason(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    assert post_form(agent, url, f"{url}/flags", {"barred": "y", "barred_reason": ""}).status_code == 400
    assert post_form(agent, url, f"{url}/flags", {"barred": "y", "barred_reason": "بدهی"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Subscriber, maryam.id).barred


def test_timeline_lists_notes_newest_first(agent, maryam, make_user):
    add_note(maryam, "اولی")
    add_note(maryam, "دومی")
    db.session.commit()
    page = agent.get(f"/console/subscribers/{maryam.id}").get_data(as_text=True)
    assert page.index("دومی") < page.index("اولی")


def test_place_search_answers_from_the_gazetteer(agent):
    items = agent.get("/console/places", query_string={"q": "تجريش"}).get_json()["items"]
    assert items and abs(items[0]["lat"] - 35.8045) < 0.01


def test_zones_are_served_as_geojson(agent, tehran_zones):
    collection = agent.get("/console/zones.geojson").get_json()
    assert len(collection["features"]) == len(tehran_zones)


def test_dispatchers_cannot_use_the_subscriber_pages(logged_in, maryam):
    client = logged_in("dispatcher")
    assert client.get(f"/console/subscribers/{maryam.id}").status_code == 403


def test_place_search_offers_the_subscribers_own_addresses_first(agent, maryam):
    items = agent.get("/console/places", query_string={"q": "یاس", "subscriber_id": maryam.id}).get_json()["items"]
    assert items[0]["source"] == "subscriber"
    assert items[0]["name"].startswith("خانه")


def test_the_record_lists_only_open_complaints(agent, maryam):
    from feedback.models import Complaint

    db.session.add_all(
        [
            Complaint(subscriber_id=maryam.id, category="lateness", status="new", description="دیر رسید"),
            Complaint(subscriber_id=maryam.id, category="route", status="resolved", description="مسیر طولانی"),
        ]
    )
    db.session.commit()
    page = agent.get(f"/console/subscribers/{maryam.id}").get_data(as_text=True)
    open_section = page.split('id="complaints-title"', 1)[1].split("</ul>", 1)[0]
    assert "lateness" in open_section
    assert "route" not in open_section


def test_the_agent_sets_how_the_subscriber_is_asked_about_trips(agent, maryam):
    url = f"/console/subscribers/{maryam.id}"
    assert post_form(agent, url, f"{url}/flags", {"feedback_channel": "ivr"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Subscriber, maryam.id).feedback_channel == "ivr"
    assert post_form(agent, url, f"{url}/flags", {"feedback_channel": "fax"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Subscriber, maryam.id).feedback_channel == "ivr"
