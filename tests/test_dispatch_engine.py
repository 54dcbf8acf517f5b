"""The dispatch engine: offers one driver at a time, timeouts, stand queues, trips, and never two on one job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.auto import dispatch_booking
from dispatch.bookings import BookingError, DispatchConflict, Stop, create_booking
from dispatch.duty import change_status, check_in
from dispatch.models import Booking, DispatchOffer
from dispatch.offers import accept_offer, assign_driver, decline_offer, expire_offer, offer_counts, offer_job
from dispatch.tasks import release_prebookings, sweep_dispatch
from dispatch.trips import cancel_booking, mark_no_show, report_progress
from drivers.services import DriverError, report_position
from tests.support.office import AZADI, NEAR_AZADI, TAJRISH, VANAK, add_driver, drivers_on_duty, on_duty_at, sedan_rule


@pytest.fixture
def office(app, tehran_zones, redis_client):
    """The Tehran zones, a sedan tariff, and the office's settings as tests expect them."""
    app.config.update(DISPATCH_MODE="nearest", OFFER_TIMEOUT=20, PREBOOKING_LEAD_MINUTES=15)
    sedan_rule()
    db.session.commit()
    return tehran_zones


def book(pickup=AZADI, dropoff=VANAK, **kwargs) -> Booking:
    booking = create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=pickup[0], lon=pickup[1], text="pickup"),
        dropoff=Stop(lat=dropoff[0], lon=dropoff[1], text="dropoff") if dropoff else None,
        pickup_at=kwargs.pop("pickup_at", None),
        vehicle_class=kwargs.pop("vehicle_class", "sedan"),
        notes="",
        now=kwargs.pop("now", utcnow()),
    )
    commit_and_announce()
    return booking


def test_a_booking_is_quoted_and_waits_for_a_driver(office):
    booking = book()
    assert booking.status == "requested"
    assert booking.fare > 0 and booking.currency == "IRR" and booking.distance_km > 5
    assert booking.pickup_zone_id == office["D09"].id
    assert [(e.from_status, e.to_status) for e in booking.events] == [(None, "requested")]


@pytest.mark.parametrize(
    "pickup,dropoff,pickup_at,message",
    [
        ((36.9, 50.1), VANAK, None, "outside the service area"),
        (AZADI, AZADI, None, "same place"),
        (AZADI, VANAK, timedelta(hours=-2), "has passed"),
        (AZADI, VANAK, timedelta(days=800), "days ahead"),
        (AZADI, None, timedelta(days=800), "days ahead"),
    ],
)
def test_bad_bookings_are_refused_and_nothing_is_kept(office, pickup, dropoff, pickup_at, message):
    with pytest.raises(BookingError, match=message):
        book(pickup, dropoff, pickup_at=utcnow() + pickup_at if pickup_at else None)
    db.session.rollback()
    assert db.session.scalar(select(Booking.id)) is None


def test_the_nearest_available_driver_gets_the_offer_then_the_next_when_it_times_out(office):
    far, near = drivers_on_duty(VANAK, NEAR_AZADI)
    booking = book()
    first = dispatch_booking(booking, utcnow())
    commit_and_announce()
    assert (first.driver_id, first.method, booking.status, booking.driver_id) == (
        near.id,
        "nearest",
        "offered",
        near.id,
    )
    assert first.eta_min is not None and first.eta_min < 5
    # Time runs out: the offer expires and the booking waits; the next round goes to the other driver.
    assert expire_offer(first.id, utcnow()) is None, "an offer is not expired before its time"
    booking_after = expire_offer(first.id, first.expires_at + timedelta(seconds=1))
    commit_and_announce()
    assert booking_after.status == "requested" and booking_after.driver_id is None
    second = dispatch_booking(booking, utcnow())
    commit_and_announce()
    assert second.driver_id == far.id
    assert offer_counts(near.id) == {"expired": 1}


def test_accepting_makes_the_job_theirs_and_late_or_foreign_accepts_are_refused(office):
    a, b = drivers_on_duty(NEAR_AZADI, VANAK)
    booking = book()
    offer = dispatch_booking(booking, utcnow())
    commit_and_announce()
    with pytest.raises(DispatchConflict, match="another driver"):
        accept_offer(offer, b, utcnow())
    with pytest.raises(DispatchConflict, match="expired"):
        accept_offer(offer, a, offer.expires_at + timedelta(seconds=1))
    accept_offer(offer, a, utcnow())
    commit_and_announce()
    assert (booking.status, booking.driver_id, a.status) == ("assigned", a.id, "busy")
    with pytest.raises(DispatchConflict, match="accepted already"):
        accept_offer(offer, a, utcnow())


def test_a_decline_sends_the_job_to_the_next_driver(office):
    a, b = drivers_on_duty(NEAR_AZADI, VANAK)
    booking = book()
    offer = dispatch_booking(booking, utcnow())
    decline_offer(offer, a, utcnow(), "too far")
    commit_and_announce()
    assert booking.status == "requested"
    assert dispatch_booking(booking, utcnow()).driver_id == b.id
    assert offer_counts(a.id) == {"declined": 1}


def test_a_driver_never_holds_two_jobs_and_a_job_never_two_drivers(office):
    a, b = drivers_on_duty(NEAR_AZADI, VANAK)
    first, second = book(), book(pickup=VANAK, dropoff=TAJRISH)
    offer_job(first, a, utcnow(), "manual")
    commit_and_announce()
    with pytest.raises(DispatchConflict, match="already has a live job"):
        offer_job(second, a, utcnow(), "manual")
    db.session.rollback()
    with pytest.raises(DispatchConflict, match="offered now"):
        offer_job(first, b, utcnow(), "manual")
    db.session.rollback()
    # The auto-dispatcher passes over the driver who holds an offer.
    assert dispatch_booking(second, utcnow()).driver_id == b.id


def test_break_busy_and_stale_drivers_get_no_offers(office, app):
    on_break, stale, busy = (add_driver(c, f"0912111005{i}") for i, c in enumerate(("T50", "T51", "T52")))
    for driver in (on_break, stale, busy):
        on_duty_at(driver, NEAR_AZADI)
    change_status(on_break, "break", utcnow())
    change_status(busy, "busy", utcnow())
    db.session.commit()
    booking = book()
    # The stale driver last reported three minutes ago (past DRIVER_STALE_SECONDS).
    assert dispatch_booking(booking, utcnow() + timedelta(minutes=3)) is None
    assert dispatch_booking(booking, utcnow()).driver_id == stale.id


def test_a_driver_who_turns_available_is_offered_the_waiting_job_at_once(office):
    driver = add_driver("T60", "09121110060")
    db.session.commit()
    booking = book()
    assert dispatch_booking(booking, utcnow()) is None
    on_duty_at(driver, NEAR_AZADI)
    commit_and_announce()
    db.session.refresh(booking)
    assert (booking.status, booking.driver_id) == ("offered", driver.id)


def test_the_stand_queue_goes_first_in_queue_first_mode(office, app):
    app.config["DISPATCH_MODE"] = "queue_first"
    # The driver at the stand is inside district 9 but further from the pickup than the other.
    at_stand, _nearer = drivers_on_duty((35.6850, 51.3300), NEAR_AZADI)
    assert check_in(at_stand, utcnow()) == (office["D09"].id, 1)
    db.session.commit()
    booking = book()
    offer = dispatch_booking(booking, utcnow())
    assert (offer.driver_id, offer.method) == (at_stand.id, "queue")
    accept_offer(offer, at_stand, utcnow())
    commit_and_announce()
    from dispatch.stands import place_in_queue

    assert place_in_queue(at_stand.id) is None, "a driver dispatched from the stand leaves its queue"


def test_a_trip_runs_to_completion_with_the_waiting_charge(office):
    driver = add_driver("T80", "09121110080")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    booking = book()
    quoted = booking.fare
    accept_offer(dispatch_booking(booking, utcnow()), driver, utcnow())
    now = utcnow()
    report_progress(booking, "arrived", now, driver.id)
    report_progress(booking, "on_trip", now + timedelta(minutes=5), driver.id)
    report_progress(booking, "completed", now + timedelta(minutes=30), driver.id)
    commit_and_announce()
    assert booking.status == "completed" and booking.waiting_min == 5.0
    assert booking.fare == quoted + 5 * 20_000
    assert driver.status == "available"
    with pytest.raises(DispatchConflict, match="completed now"):
        report_progress(booking, "completed", now + timedelta(minutes=31), driver.id)


def test_no_show_and_late_cancellation(office):
    a, b = drivers_on_duty(NEAR_AZADI, VANAK)
    first, second = book(), book(pickup=VANAK, dropoff=TAJRISH)
    assign_driver(first, a, utcnow(), None)
    assign_driver(second, b, utcnow(), None)
    for booking, driver in ((first, a), (second, b)):
        report_progress(booking, "arrived", utcnow(), driver.id)
    mark_no_show(first, utcnow(), None, a.id)
    cancel_booking(second, "changed plans", utcnow(), None)
    commit_and_announce()
    assert (first.status, first.cancel_reason) == ("no_show", "")
    assert (second.status, second.cancellation_fee) == ("cancelled", 300_000)
    assert a.status == b.status == "available"
    with pytest.raises(DispatchConflict):
        cancel_booking(first, "again", utcnow(), None)


def test_a_pre_booking_is_released_once_at_its_lead_time(office):
    pickup_at = utcnow() + timedelta(hours=2)
    booking = book(pickup_at=pickup_at)
    assert booking.status == "scheduled"
    assert release_prebookings(utcnow()) == []
    later = pickup_at - timedelta(minutes=14)
    assert release_prebookings(later) == [booking.id]
    assert release_prebookings(later) == [], "a second run (another worker) releases nothing"
    commit_and_announce()
    db.session.refresh(booking)
    assert booking.status == "requested"


def test_an_impossible_jump_is_refused_and_the_position_kept(office):
    driver = add_driver("T95", "09121110095")
    on_duty_at(driver, AZADI)
    db.session.commit()
    with pytest.raises(DriverError, match="refused"):
        report_position(driver, 38.08, 46.29, utcnow() + timedelta(seconds=5), utcnow().date())  # Tabriz
    with pytest.raises(DriverError, match="latitude"):
        report_position(driver, 123, 51.3, utcnow(), utcnow().date())
    from core.queues import redis_connection
    from drivers.positions import last_sighting

    sighting = last_sighting(redis_connection(), driver.id)
    assert abs(sighting.lat - AZADI[0]) < 1e-4


def test_the_worker_dispatches_a_new_booking_and_the_sweep_expires_lost_offers(office, redis_client):
    driver = add_driver("T99", "09121110099")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    booking = book()
    queue = Queue(connection=redis_client)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    db.session.expire_all()
    offer = db.session.scalar(select(DispatchOffer).where(DispatchOffer.booking_id == booking.id))
    assert offer is not None and offer.driver_id == driver.id and offer.outcome == "pending"
    # The expiry job was lost (say Redis restarted): the sweep closes the overdue offer.
    offer.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = queue.enqueue(sweep_dispatch)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert result.return_value()["expired"] == 1
    db.session.expire_all()
    assert db.session.get(DispatchOffer, offer.id).outcome == "expired"


def test_the_sweep_restores_the_position_index_after_redis_lost_it(office, redis_client):
    driver = add_driver("T98", "09121110098")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    redis_client.flushall()  # Redis restarted empty
    booking = book()
    assert dispatch_booking(booking, utcnow()) is None
    db.session.rollback()
    assert sweep_dispatch()["restored"] == 1
    db.session.refresh(booking)
    assert (booking.status, booking.driver_id) == ("offered", driver.id)


def test_with_a_routing_service_the_nearest_by_road_time_gets_the_offer(office, app):
    from tests.support.osrm_stub import osrm_stub

    # Across the river: the nearest in a straight line, but a long way round by road.
    _across_the_river, round_the_corner = drivers_on_duty(NEAR_AZADI, (35.7060, 51.3480))
    booking = book()
    with osrm_stub() as osrm:
        osrm.answer_for = lambda start, end: (9000.0, 1500.0) if abs(start[1] - NEAR_AZADI[0]) < 1e-4 else None
        app.config["ROUTING_URL"] = osrm.url
        offer = dispatch_booking(booking, utcnow())
    assert offer.driver_id == round_the_corner.id
    assert offer.eta_min < 25, "the ETA offered is the road time, not the long way round"


def test_a_dispatcher_reassigns_an_assigned_or_offered_job_and_the_passenger_hears_of_the_new_driver(office):
    from notifications.models import OutboundMessage

    first, second, third = (add_driver(c, f"0912111050{i}") for i, c in enumerate(("A1", "A2", "A3")))
    for driver in (first, second, third):
        on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    booking = book()
    assign_driver(booking, first, utcnow(), None)
    commit_and_announce()
    assign_driver(booking, second, utcnow(), None, "first driver stuck in traffic")
    commit_and_announce()
    assert (booking.status, booking.driver_id) == ("assigned", second.id)
    assert (first.status, second.status) == ("available", "busy")
    texts = db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "driver_assigned")).all()
    assert len(texts) == 2 and "A۲" in texts[1].body  # the passenger reads Persian: Persian digits
    # From an offer out to one driver, straight to another.
    other = book(pickup=VANAK, dropoff=TAJRISH)
    offer = offer_job(other, first, utcnow(), "nearest")
    commit_and_announce()
    assign_driver(other, third, utcnow(), None)
    commit_and_announce()
    db.session.refresh(offer)
    assert (other.driver_id, offer.outcome, first.status) == (third.id, "withdrawn", "available")


def test_a_van_job_finds_the_van_behind_twenty_five_nearer_sedans(office, redis_client):
    from drivers import positions

    van = add_driver("V1", "09121110600", vehicle_class="van")
    on_duty_at(van, (35.7200, 51.3600))  # about 3 km away
    db.session.commit()
    now = utcnow().timestamp()
    for i in range(25):  # sedans everywhere nearer (their rows do not matter: they are not vans)
        positions.record(redis_client, 90_000 + i, AZADI[0] + i * 1e-4, AZADI[1], now, available=True)
    booking = book(dropoff=None, vehicle_class="van")
    offer = dispatch_booking(booking, utcnow())
    assert offer is not None and offer.driver_id == van.id


def test_silent_drivers_at_the_head_of_a_queue_do_not_use_up_its_tries(office, app, redis_client):
    from drivers import positions

    app.config.update(DISPATCH_MODE="queue_first", QUEUE_TRIES=1)
    silent, ready = add_driver("Q1", "09121110701"), add_driver("Q2", "09121110702")
    for driver in (silent, ready):
        on_duty_at(driver, (35.6850, 51.3300))
        check_in(driver, utcnow())
    db.session.commit()
    redis_client.zadd(positions.SEEN, {silent.id: utcnow().timestamp() - 600})  # the phone died ten minutes ago
    offer = dispatch_booking(book(), utcnow())
    assert (offer.driver_id, offer.method) == (ready.id, "queue")
    db.session.rollback()
    assert sweep_dispatch()["left_queues"] == 1, "the sweep takes the silent driver out of the queue"


def test_a_driver_joins_only_the_queue_of_the_zone_they_are_in(office):
    driver = add_driver("Q3", "09121110703")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    with pytest.raises(DriverError, match="zone they are in"):
        check_in(driver, utcnow(), office["IKA"].id)
    assert check_in(driver, utcnow(), office["IKA"].id, by_dispatcher=True)[0] == office["IKA"].id


def test_a_driver_who_went_offline_meanwhile_is_not_assigned(office, app):
    from drivers.models import Driver
    from drivers.services import DriverStateChanged

    driver = add_driver("S1", "09121110801")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    booking = book()
    seen_by_dispatcher = db.session.get(Driver, driver.id)  # the board shows them available
    with app.app_context():  # meanwhile, on the driver's phone
        change_status(db.session.get(Driver, driver.id), "offline", utcnow())
        commit_and_announce()
    with pytest.raises(DriverStateChanged, match="offline now"):
        assign_driver(booking, seen_by_dispatcher, utcnow(), None)
    db.session.rollback()
    assert db.session.get(Booking, booking.id).status == "requested"
