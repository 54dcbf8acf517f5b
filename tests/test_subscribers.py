"""The subscriber book: numbers in any spelling, addresses with zones, flags, notes, search."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.extensions import db
from crm.models import Address, Note, Subscriber, SubscriberPhone
from crm.services import (
    PhoneTaken,
    SubscriberError,
    add_address,
    add_note,
    add_phone,
    create_subscriber,
    find_by_phone,
    move_phone,
    remove_phone,
    search_query,
    set_barred,
    update_address,
    update_subscriber,
)

TAJRISH = (35.8045, 51.4336)  # Tajrish square, district 1
AZADI = (35.6997, 51.3380)  # Azadi square, district 9


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def maryam(app, tehran_zones):
    subscriber = create_subscriber("مریم احمدی", ["0912 345 6789", "021 2271 0000"], "IR")
    db.session.commit()
    return subscriber


def test_numbers_are_stored_in_e164_with_their_kind(maryam):
    assert [(p.e164, p.kind) for p in maryam.phones] == [("+989123456789", "mobile"), ("+982122710000", "landline")]


@pytest.mark.parametrize(
    "spelling",
    ["0912 345 6789", "+98 912 345 6789", "00989123456789", "9123456789", "۰۹۱۲۳۴۵۶۷۸۹", "٠٩١٢٣٤٥٦٧٨٩", "02122710000"],
)
def test_any_spelling_finds_the_same_person(maryam, spelling):
    assert find_by_phone(spelling, "IR").id == maryam.id


def test_a_number_belongs_to_one_subscriber(maryam):
    with pytest.raises(PhoneTaken) as caught:
        create_subscriber("Someone else", ["+989123456789"], "IR")
    assert caught.value.owner_id == maryam.id
    assert count(Subscriber) == 1


def test_moving_a_number_is_explicit(maryam):
    reza = create_subscriber("رضا", ["09351112233"], "IR")
    with pytest.raises(PhoneTaken):
        add_phone(reza, "0912 345 6789", "IR")
    move_phone("0912 345 6789", reza, "IR")
    db.session.commit()
    assert find_by_phone("09123456789", "IR").id == reza.id
    assert [p.e164 for p in maryam.phones] == ["+982122710000"]


def test_the_only_number_cannot_be_moved_away_or_removed(maryam):
    reza = create_subscriber("رضا", ["09351112233"], "IR")
    with pytest.raises(SubscriberError, match="only number"):
        move_phone("09351112233", maryam, "IR")
    with pytest.raises(SubscriberError):
        remove_phone(reza, reza.phones[0].id)


@pytest.mark.parametrize(
    "name,phones,message",
    [
        ("", ["09121112233"], "name"),
        ("   ", ["09121112233"], "name"),
        ("x" * 201, ["09121112233"], "name"),
        ("Ali", [], "phone"),
        ("Ali", ["not a number"], "phone"),
        ("Ali", ["12"], "phone"),
    ],
)
def test_bad_subscribers_are_refused_and_nothing_is_stored(app, name, phones, message):
    with pytest.raises(SubscriberError) as caught:
        create_subscriber(name, phones, "IR")
    assert message in str(caught.value) or message in str(caught.value.fields)
    db.session.rollback()
    assert count(Subscriber) == count(SubscriberPhone) == 0


def test_long_notes_are_refused_with_a_clear_message(maryam):
    with pytest.raises(SubscriberError, match="at most 2000"):
        update_subscriber(maryam, notes="x" * 10_000)
    with pytest.raises(SubscriberError, match="at most 2000"):
        add_note(maryam, "x" * 10_000)


def test_address_gets_its_zone(maryam, tehran_zones):
    address = add_address(
        maryam,
        label="خانه",
        text="تجریش، خیابان شهرداری",
        lat=TAJRISH[0],
        lon=TAJRISH[1],
        unit="طبقه ۳",
        driver_notes="دو بار زنگ بزنید",
    )
    db.session.commit()
    assert address.zone_id == tehran_zones["D01"].id
    moved = update_address(address, lat=AZADI[0], lon=AZADI[1])
    assert moved.zone_id == tehran_zones["D09"].id


@pytest.mark.parametrize(
    "lat,lon",
    [(91, 51), (35.7, 181), ("abc", 51.4), (None, None), (32.65, 51.67)],  # the last: Isfahan
)
def test_bad_or_far_points_are_refused(maryam, lat, lon):
    with pytest.raises(SubscriberError):
        add_address(maryam, label="خانه", text="جایی", lat=lat, lon=lon)
    db.session.rollback()
    assert count(Address) == 0


def test_persian_digits_in_coordinates_are_accepted(maryam):
    address = add_address(maryam, label="کار", text="میدان آزادی", lat="۳۵.۶۹۹۷", lon="۵۱.۳۳۸۰")
    assert (address.lat, address.lon) == AZADI


def test_address_needs_label_and_text(maryam):
    with pytest.raises(SubscriberError) as caught:
        add_address(maryam, label="", text="", lat=TAJRISH[0], lon=TAJRISH[1])
    assert "label" in caught.value.fields


def test_barring_needs_a_reason(maryam):
    with pytest.raises(SubscriberError, match="reason"):
        set_barred(maryam, True)
    set_barred(maryam, True, "سه بار عدم حضور")
    assert maryam.barred
    set_barred(maryam, False)
    assert (maryam.barred, maryam.barred_reason) == (False, "")


def test_notes_keep_their_kind_and_author(maryam, make_user):
    agent = make_user("agent")
    note = add_note(maryam, "مشتری عصبانی بود؛ با احترام صحبت شد", "mood", agent.id)
    db.session.commit()
    assert db.session.get(Note, note.id).kind == "mood"
    with pytest.raises(SubscriberError):
        add_note(maryam, "x", "gossip")


def test_search_by_any_part_of_name_number_or_address(maryam):
    add_address(maryam, label="خانه", text="خیابان ولیعصر، کوچه یاس", lat=TAJRISH[0], lon=TAJRISH[1])
    create_subscriber("Reza Karimi", ["09351112233"], "IR")
    db.session.commit()

    def found(text):
        return [s.name for s in db.session.scalars(search_query(text))]

    assert found("احمدی") == ["مریم احمدی"]
    assert found("احمدي") == ["مریم احمدی"]  # Arabic yeh typed
    assert found("6789") == ["مریم احمدی"]
    assert found("۰۹۱۲۳۴") == ["مریم احمدی"]  # Persian digits, national spelling
    assert found("2271") == ["مریم احمدی"]
    assert found("karimi") == ["Reza Karimi"]
    assert found("ولیعصر یاس") == ["مریم احمدی"]
    assert found("ولیعصر karimi") == []
    assert found("5%9") == []  # LIKE wildcards are matched literally ("%5%9%" would match +9891…)


def test_a_name_typed_without_its_zwnj_is_found(app):
    create_subscriber("علی نیک‌نام", ["09121112233"], "IR")
    db.session.commit()
    assert [s.name for s in db.session.scalars(search_query("نیکنام"))] == ["علی نیک‌نام"]
    assert [s.name for s in db.session.scalars(search_query("نیک نام"))] == ["علی نیک‌نام"]
