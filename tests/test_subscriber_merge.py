"""Duplicate subscribers are found and merged without losing any history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from calls.models import Call
from core.extensions import db
from crm.merge import find_duplicates, merge_subscribers
from crm.models import Subscriber, SubscriberMerge
from crm.services import SubscriberError, add_address, add_note, create_subscriber, find_by_phone, search_query
from dispatch.models import Booking

HOME = (35.7601, 51.4101)


@pytest.fixture
def twins(app, tehran_zones):
    first = create_subscriber("علی رضایی", ["09121110000"], "IR")
    second = create_subscriber("علي رضائي", ["02188001122"], "IR", notes="VIP")  # Arabic letters, other spelling
    add_address(first, label="خانه", text="خیابان شریعتی", lat=HOME[0], lon=HOME[1])
    add_address(second, label="منزل", text="شریعتی", lat=HOME[0] + 0.0001, lon=HOME[1])
    db.session.commit()
    return first, second


def test_similar_names_at_the_same_address_are_proposed(twins):
    first, second = twins
    create_subscriber("Someone Else", ["09351234567"], "IR")
    pairs = find_duplicates()
    assert [p["subscriber_ids"] for p in pairs] == [[first.id, second.id]]


def test_different_names_at_the_same_address_are_not_proposed(app, tehran_zones):
    a = create_subscriber("مریم احمدی", ["09121110001"], "IR")
    b = create_subscriber("Hossein Tavakoli", ["09121110002"], "IR")
    for s in (a, b):
        add_address(s, label="خانه", text="برج", lat=HOME[0], lon=HOME[1])
    db.session.commit()
    assert find_duplicates() == []


def test_merge_moves_numbers_addresses_history_and_audits(twins, make_user):
    first, second = twins
    supervisor = make_user("supervisor")
    booking = Booking(
        subscriber_id=second.id,
        pickup_text="x",
        pickup_lat=HOME[0],
        pickup_lon=HOME[1],
        pickup_at=datetime(2026, 1, 1, tzinfo=UTC),
        currency="IRR",
    )
    call = Call(provider_sid="CA" + "0" * 32, from_number="+982188001122", subscriber_id=second.id)
    db.session.add_all([booking, call])
    note = add_note(second, "همیشه صندلی جلو")
    db.session.commit()

    audit = merge_subscribers(first, second, merged_by_id=supervisor.id, reason="same person")
    db.session.commit()
    db.session.expire_all()

    survivor = db.session.get(Subscriber, first.id)
    assert sorted(p.e164 for p in survivor.phones) == ["+982188001122", "+989121110000"]
    assert len(survivor.addresses) == 2
    assert find_by_phone("021 8800 1122", "IR").id == first.id
    assert db.session.get(Booking, booking.id).subscriber_id == first.id
    assert db.session.get(Call, call.id).subscriber_id == first.id
    assert note.subscriber_id == first.id
    assert "VIP" in survivor.notes

    merged = db.session.get(Subscriber, second.id)
    assert merged.merged_into_id == first.id  # kept, not deleted
    stored = db.session.scalar(select(SubscriberMerge))
    assert stored.id == audit.id and stored.merged_by_id == supervisor.id
    assert stored.snapshot["name"] == "علي رضائي"
    assert stored.snapshot["moved"]["bookings.subscriber_id"] == [booking.id]
    assert [s.id for s in db.session.scalars(search_query("رضایی"))] == [first.id]


def test_the_stricter_flags_win(twins):
    first, second = twins
    second.sms_opt_out = True
    second.barred, second.barred_reason = True, "debt"
    second.tier = "gold"
    merge_subscribers(first, second)
    assert (first.sms_opt_out, first.barred, first.barred_reason, first.tier) == (True, True, "debt", "gold")


def test_merging_twice_or_into_itself_is_refused(twins):
    first, second = twins
    with pytest.raises(SubscriberError):
        merge_subscribers(first, first)
    merge_subscribers(first, second)
    with pytest.raises(SubscriberError):
        merge_subscribers(first, second)


def test_supervisor_merges_from_the_duplicates_page(twins, logged_in):
    from tests.conftest import csrf_token_of

    first, second = twins
    client = logged_in("supervisor")
    page = client.get("/supervisor/duplicates").get_data(as_text=True)
    assert "علی رضایی" in page and "علي رضائي" in page
    token = csrf_token_of(page)
    response = client.post(
        "/supervisor/duplicates/merge",
        data={"csrf_token": token, "survivor_id": first.id, "merged_id": second.id, "reason": "same"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Subscriber, second.id).merged_into_id == first.id
    assert "No likely duplicates." in client.get("/supervisor/duplicates").get_data(as_text=True)


def test_agents_cannot_merge(twins, logged_in):
    _first, second = twins
    client = logged_in("agent")
    assert client.get("/supervisor/duplicates").status_code == 403
    assert client.post("/supervisor/duplicates/merge", data={}).status_code in (400, 403)
    db.session.expire_all()
    assert db.session.get(Subscriber, second.id).merged_into_id is None


def test_supervisor_downloads_the_book_as_csv(twins, logged_in):
    import csv
    import io

    response = logged_in("supervisor").get("/supervisor/subscribers.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert {"علی رضایی", "علي رضائي"} <= {row[1] for row in rows[1:]}


def test_agents_cannot_download_the_book(twins, logged_in):
    assert logged_in("agent").get("/supervisor/subscribers.csv").status_code == 403
