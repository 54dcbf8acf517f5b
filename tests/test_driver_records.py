"""Correcting a driver's record from the profile: identity, licence, active flag and cars, each refusal clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from core.models import utcnow
from core.timewindows import office_date
from dispatch.signals import driver_changed
from drivers import positions
from drivers.models import Driver, Suspension, Vehicle
from drivers.records import add_vehicle, update_driver, update_vehicle
from drivers.services import DriverError, dispatch_block_reason, vehicle_of
from tests.conftest import csrf_token_of
from tests.support.office import AZADI, add_driver, on_duty_at


def office_today():
    return office_date(utcnow(), "Asia/Tehran")


@pytest.fixture
def driver(app):
    driver = add_driver("A1", "09121110001")
    db.session.commit()
    return driver


@pytest.fixture
def other(app):
    other = add_driver("B2", "09121110002")
    db.session.commit()
    return other


@pytest.fixture
def supervisor(logged_in):
    return logged_in("supervisor")


@pytest.fixture
def announced(app):
    """The driver ids ``driver_changed`` was sent for (after each commit), in order."""
    heard: list[int] = []

    def listen(_app, driver_id: int, **_extra) -> None:
        heard.append(driver_id)

    with driver_changed.connected_to(listen):
        yield heard


def profile(client, driver) -> str:
    response = client.get(f"/supervisor/drivers/{driver.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def record_of(driver_id: int) -> tuple:
    d = fresh(Driver, driver_id)
    return (d.name, d.phone, d.language, d.licence_number, d.licence_expires_on, d.active)


def car_of(vehicle_id: int) -> tuple:
    v = fresh(Vehicle, vehicle_id)
    return (v.driver_id, v.plate, v.make_model, v.colour, v.vehicle_class, v.year, v.insurance_expires_on)


def vehicle_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Vehicle))


def post_details(client, driver, csrf: bool = True, **changes):
    """The details form as a supervisor sends it: the driver's values, with ``changes`` typed over them."""
    fields = {
        "name": driver.name,
        "phone": driver.phone,
        "language": driver.language,
        "licence_number": driver.licence_number,
        "licence_expires_on": driver.licence_expires_on.isoformat() if driver.licence_expires_on else "",
        "active": driver.active,
    }
    fields.update(changes)
    data = {f"details-{k}": v for k, v in fields.items() if k != "active"}
    if fields["active"]:
        data["details-active"] = "y"  # an unticked box sends nothing
    if csrf:
        data["details-csrf_token"] = csrf_token_of(profile(client, driver))
    return client.post(f"/supervisor/drivers/{driver.id}/details", data=data)


def post_vehicle(client, driver, vehicle=None, csrf: bool = True, **changes):
    """The form of a car on the books (its values, ``changes`` typed over them), or of a new car."""
    fields = {
        "plate": "",
        "make_model": "",
        "colour": "",
        "vehicle_class": "sedan",
        "year": "",
        "insurance_expires_on": "",
    }
    if vehicle is not None:
        fields.update(
            plate=vehicle.plate,
            make_model=vehicle.make_model,
            colour=vehicle.colour,
            vehicle_class=vehicle.vehicle_class,
            year=vehicle.year or "",
            insurance_expires_on=vehicle.insurance_expires_on.isoformat() if vehicle.insurance_expires_on else "",
        )
    fields.update(changes)
    prefix = f"vehicle-{vehicle.id}" if vehicle is not None else "vehicle-new"
    data = {f"{prefix}-{k}": v for k, v in fields.items()}
    if csrf:
        data[f"{prefix}-csrf_token"] = csrf_token_of(profile(client, driver))
    path = f"/supervisor/drivers/{driver.id}/vehicles" + (f"/{vehicle.id}" if vehicle is not None else "")
    return client.post(path, data=data)


def test_the_details_are_corrected_and_shown_on_the_profile(app, supervisor, driver, announced):
    expires = office_today() + timedelta(days=700)
    response = post_details(
        supervisor,
        driver,
        name="Reza Karimi",
        phone="۰۹۱۲ ۱۱۱ ۰۰۵۵",
        language="fa",
        licence_number="L-998877",
        licence_expires_on=expires.isoformat(),
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/supervisor/drivers/{driver.id}#identity")
    assert record_of(driver.id) == ("Reza Karimi", "+989121110055", "fa", "L-998877", expires, True)
    user = fresh(User, driver.user_id)
    assert (user.display_name, user.language) == ("Reza Karimi", "fa")
    assert announced == [driver.id]
    html = profile(supervisor, driver)
    assert "Details of A1 saved." in html and "Reza Karimi" in html and "L-998877" in html
    assert "0912 111 0055" in html and expires.isoformat() in html and "data-eligible" in html


def test_a_driver_taken_off_the_books_is_blocked_and_can_come_back(app, supervisor, driver):
    assert post_details(supervisor, driver, active=False).status_code == 302
    assert fresh(Driver, driver.id).active is False
    html = profile(supervisor, driver)
    assert "the driver is not active" in html and "data-blocked" in html
    assert post_details(supervisor, fresh(Driver, driver.id), active=True).status_code == 302
    assert fresh(Driver, driver.id).active is True
    assert "data-eligible" in profile(supervisor, driver)


def test_the_live_index_follows_the_active_flag(app, supervisor, driver, redis_client):
    on_duty_at(driver, AZADI)
    db.session.commit()
    assert redis_client.zscore(positions.AVAILABLE, driver.id) is not None
    assert post_details(supervisor, driver, active=False).status_code == 302
    assert redis_client.zscore(positions.AVAILABLE, driver.id) is None
    assert redis_client.hget(positions.STATE, driver.id) == b"available:0"
    assert post_details(supervisor, fresh(Driver, driver.id), active=True).status_code == 302
    assert redis_client.zscore(positions.AVAILABLE, driver.id) is not None
    assert redis_client.hget(positions.STATE, driver.id) == b"available:1"


def test_an_expired_licence_is_refused_and_a_later_one_keeps_the_driver_eligible(app, supervisor, driver, announced):
    before = record_of(driver.id)
    response = post_details(supervisor, driver, licence_expires_on=(office_today() - timedelta(days=1)).isoformat())
    assert response.status_code == 400
    assert "licence expiry: the date is in the past: this licence has already expired" in response.get_data(
        as_text=True
    )
    assert record_of(driver.id) == before and announced == []

    later = office_today() + timedelta(days=1)
    assert post_details(supervisor, driver, licence_expires_on=later.isoformat()).status_code == 302
    saved = fresh(Driver, driver.id)
    assert saved.licence_expires_on == later
    assert dispatch_block_reason(saved, utcnow(), office_today()) is None
    assert "data-eligible" in profile(supervisor, driver)


def test_a_licence_date_on_the_books_cannot_be_removed(app, supervisor, driver):
    update_driver(driver, licence_expires_on=office_today() + timedelta(days=30))
    db.session.commit()
    before = record_of(driver.id)
    response = post_details(supervisor, fresh(Driver, driver.id), licence_expires_on="")
    assert response.status_code == 400
    assert "licence expiry: a date on the books cannot be removed" in response.get_data(as_text=True)
    assert record_of(driver.id) == before


def test_a_licence_that_has_since_expired_does_not_stop_other_corrections(app, supervisor, driver):
    expired = office_today() - timedelta(days=3)
    fresh(Driver, driver.id).licence_expires_on = expired  # entered while still valid
    db.session.commit()
    assert post_details(supervisor, fresh(Driver, driver.id), name="Reza Karimi").status_code == 302
    assert record_of(driver.id)[0] == "Reza Karimi" and record_of(driver.id)[4] == expired


def test_another_drivers_number_is_refused_and_nothing_changes(app, supervisor, driver, other, announced):
    before = record_of(driver.id)
    response = post_details(supervisor, driver, name="Someone Else", phone="0912 111 0002")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "+989121110002 already belongs to another driver" in html
    assert "data-edit-details open" in html and 'value="Someone Else"' in html  # the form as typed, open
    assert record_of(driver.id) == before and announced == []


def test_a_number_taken_between_the_check_and_the_write_is_refused(app, driver, other, monkeypatch):
    import drivers.records

    # As if another request took the number after this one checked it: the unique index has the last word.
    monkeypatch.setattr(drivers.records, "_check_phone_free", lambda *_args: None)
    before = record_of(driver.id)
    with pytest.raises(DriverError, match="the phone number or plate was just taken by another record"):
        update_driver(driver, name="Someone Else", phone="09121110002")
    db.session.rollback()
    assert record_of(driver.id) == before


def test_a_bad_number_is_refused_and_nothing_changes(app, supervisor, driver):
    before = record_of(driver.id)
    response = post_details(supervisor, driver, phone="12")
    assert response.status_code == 400
    assert "phone: not a valid phone number" in response.get_data(as_text=True)
    assert record_of(driver.id) == before


def test_the_driver_keeps_their_own_number(app, supervisor, driver):
    assert post_details(supervisor, driver, phone="0912 111 0001", name="Driver A-One").status_code == 302
    assert record_of(driver.id)[:2] == ("Driver A-One", "+989121110001")


def test_a_missing_csrf_token_is_refused_and_nothing_changes(app, supervisor, driver):
    car = driver.vehicles[0]
    before, car_before, cars = record_of(driver.id), car_of(car.id), vehicle_count()
    responses = [
        post_details(supervisor, driver, csrf=False, name="Forged"),
        post_vehicle(supervisor, driver, car, csrf=False, colour="black"),
        post_vehicle(supervisor, driver, csrf=False, plate="99Z999-11"),
    ]
    for response in responses:
        assert response.status_code == 400
        assert "The form has expired. Please reload the page and try again." in response.get_data(as_text=True)
    assert (record_of(driver.id), car_of(car.id), vehicle_count()) == (before, car_before, cars)


def test_a_car_is_corrected_and_shown_on_the_profile(app, supervisor, driver, announced):
    car = driver.vehicles[0]
    insured = office_today() + timedelta(days=200)
    response = post_vehicle(
        supervisor,
        driver,
        car,
        make_model="Samand LX",
        colour="silver",
        vehicle_class="van",
        year="2019",
        insurance_expires_on=insured.isoformat(),
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#vehicles")
    assert car_of(car.id) == (driver.id, "A1-IR", "Samand LX", "silver", "van", 2019, insured)
    assert announced == [driver.id]
    html = profile(supervisor, driver)
    assert "Car A1-IR saved." in html and "Samand LX" in html and insured.isoformat() in html


def test_a_year_in_persian_digits_is_read(app, supervisor, driver):
    car = driver.vehicles[0]
    assert post_vehicle(supervisor, driver, car, year="۲۰۱۸").status_code == 302
    assert car_of(car.id)[5] == 2018


def test_a_second_car_is_added_and_the_first_stays_in_use(app, supervisor, driver, announced):
    first = driver.vehicles[0]
    insured = office_today() + timedelta(days=90)
    response = post_vehicle(
        supervisor,
        driver,
        plate="22ج333-44",
        make_model="Toyota Hiace",
        colour="white",
        vehicle_class="van",
        year="2021",
        insurance_expires_on=insured.isoformat(),
    )
    assert response.status_code == 302
    added = db.session.scalar(select(Vehicle).where(Vehicle.plate == "22ج333-44"))
    assert car_of(added.id) == (driver.id, "22ج333-44", "Toyota Hiace", "white", "van", 2021, insured)
    assert vehicle_of(fresh(Driver, driver.id)).id == first.id
    assert announced == [driver.id]
    html = profile(supervisor, driver)
    assert "Car 22ج333-44 added." in html and "Toyota Hiace" in html
    current = html.split(f'data-vehicle="{first.id}"', 1)[1].split("</tr>", 1)[0]
    assert "data-current-vehicle" in current
    assert "data-current-vehicle" not in html.split(f'data-vehicle="{added.id}"', 1)[1].split("</tr>", 1)[0]


def test_a_first_car_makes_a_driver_without_one_eligible(app, supervisor):
    from drivers.services import create_driver

    bare = create_driver("C3", "Driver C3", "09121110003", "4821", language="en")
    db.session.commit()
    assert "the driver has no vehicle on the books" in profile(supervisor, bare)
    assert post_vehicle(supervisor, bare, plate="33د444-55").status_code == 302
    assert "data-eligible" in profile(supervisor, bare)


@pytest.mark.parametrize("on_the_books", [False, True])
def test_a_plate_already_on_the_books_is_refused_and_nothing_changes(app, supervisor, driver, other, on_the_books):
    car = driver.vehicles[0]
    before, cars = car_of(car.id), vehicle_count()
    response = post_vehicle(supervisor, driver, car if on_the_books else None, plate="B2-IR", colour="black")
    assert response.status_code == 400
    assert "plate B2-IR is already on the books" in response.get_data(as_text=True)
    assert (car_of(car.id), vehicle_count()) == (before, cars)


@pytest.mark.parametrize("on_the_books", [False, True])
def test_insurance_already_expired_is_refused_and_nothing_changes(app, supervisor, driver, on_the_books):
    car = driver.vehicles[0]
    before, cars = car_of(car.id), vehicle_count()
    yesterday = (office_today() - timedelta(days=1)).isoformat()
    response = post_vehicle(
        supervisor,
        driver,
        car if on_the_books else None,
        plate="A1-IR" if on_the_books else "77Z777-77",
        insurance_expires_on=yesterday,
        colour="black",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "insurance expiry: the date is in the past: this insurance has already expired" in html
    assert (car_of(car.id), vehicle_count()) == (before, cars)


@pytest.mark.parametrize("on_the_books", [False, True])
def test_an_unknown_class_is_refused_and_nothing_changes(app, supervisor, driver, on_the_books):
    car = driver.vehicles[0]
    before, cars = car_of(car.id), vehicle_count()
    plate = "A1-IR" if on_the_books else "88Z888-88"
    response = post_vehicle(supervisor, driver, car if on_the_books else None, plate=plate, vehicle_class="limousine")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please correct the marked fields." in html and "Not a valid choice." in html
    assert (car_of(car.id), vehicle_count()) == (before, cars)


def test_the_services_refuse_an_unknown_class_and_a_year_out_of_range(app, driver):
    car = driver.vehicles[0]
    with pytest.raises(DriverError, match="unknown vehicle class"):
        update_vehicle(car, {"vehicle_class": "limousine"})
    with pytest.raises(DriverError, match="unknown vehicle class"):
        add_vehicle(driver, {"plate": "99Z999-99", "vehicle_class": "limousine"})
    with pytest.raises(DriverError, match="year: a year from 1950 to"):
        update_vehicle(car, {"year": 1899})
    db.session.rollback()
    assert car_of(car.id)[4:6] == ("sedan", None) and vehicle_count() == 1


def test_a_year_that_is_not_a_number_is_refused(app, supervisor, driver):
    car = driver.vehicles[0]
    response = post_vehicle(supervisor, driver, car, year="last year")
    assert response.status_code == 400
    assert "Enter a year, such as 2018." in response.get_data(as_text=True)
    assert car_of(car.id)[5] is None


def test_another_drivers_car_is_not_found_through_this_driver(app, supervisor, driver, other):
    theirs = other.vehicles[0]
    response = post_vehicle(supervisor, driver, theirs, colour="black")
    assert response.status_code == 404
    assert car_of(theirs.id)[3] == "white"


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
def test_agents_and_dispatchers_may_not_change_records(app, logged_in, driver, role):
    car = driver.vehicles[0]
    before, car_before = record_of(driver.id), car_of(car.id)
    client = logged_in(role)
    csrf = csrf_token_of(client.get(client.get("/").headers["Location"]).get_data(as_text=True))
    base = f"/supervisor/drivers/{driver.id}"
    for path in (f"{base}/details", f"{base}/vehicles", f"{base}/vehicles/{car.id}"):
        response = client.post(path, data={"csrf_token": csrf, "details-name": "X", "vehicle-new-plate": "X-1"})
        assert response.status_code == 403, path
    assert (record_of(driver.id), car_of(car.id), vehicle_count()) == (before, car_before, 1)


def test_admins_may_change_records(app, logged_in, driver):
    client = logged_in("admin")
    assert post_details(client, driver, name="Changed By Admin").status_code == 302
    assert record_of(driver.id)[0] == "Changed By Admin"


def test_the_same_plate_in_the_other_digits_is_the_same_car(app, supervisor, driver):
    assert post_vehicle(supervisor, driver, plate="22ج333-44", colour="black").status_code == 302
    before = vehicle_count()
    response = post_vehicle(supervisor, driver, plate="۲۲ج۳۳۳-۴۴", colour="black")
    assert response.status_code == 400
    assert "is already on the books" in response.get_data(as_text=True)
    assert vehicle_count() == before


def test_a_suspension_and_its_lifting_reach_the_board(app, supervisor, driver, announced):
    token = csrf_token_of(profile(supervisor, driver))
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions",
        data={"suspend-csrf_token": token, "suspend-reason": "unpaid commission"},
    )
    assert response.status_code == 302 and announced == [driver.id]
    suspension = db.session.scalar(select(Suspension))
    token = csrf_token_of(profile(supervisor, driver))
    lifted = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions/{suspension.id}/lift", data={"csrf_token": token}
    )
    assert lifted.status_code == 302 and announced == [driver.id, driver.id]
