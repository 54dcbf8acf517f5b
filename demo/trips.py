"""The demo office's history: bookings with their status trail, the calls that brought them, fares."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from geopy.distance import geodesic

from accounts.models import User
from calls.models import Call, CallEvent, CallStatus
from crm.models import Address, Subscriber
from demo.people import PhoneMaker
from demo.places import TEHRAN, Place, ZoneLocator
from dispatch.models import Booking, BookingEvent, DispatchOffer, OfferOutcome
from dispatch.models import BookingStatus as S
from drivers.models import Driver, DriverStatus, VehicleClass
from fares import services as fares
from fares.models import FareRule

OFFICE_NUMBER = "+982188776655"
ROAD_FACTOR = 1.3  # Tehran's streets run about 30% longer than the straight line
# Relative number of pickups per local hour: the morning and evening rush dominate.
HOURLY_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.3, 0.8, 2, 5, 7, 5, 3, 3, 3, 3, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2]
# The office clock the demo's tariffs (night surcharge) are read on.
TEHRAN_ZONE = "Asia/Tehran"
OFFER_TIMEOUT = timedelta(seconds=20)  # the default OFFER_TIMEOUT
ON_TRIP_BOARDING = timedelta(minutes=3)  # from the pickup time to moving off, for trips under way now
CLASS_WEIGHTS = {VehicleClass.SEDAN: 85, VehicleClass.VAN: 10, VehicleClass.PREMIUM: 5}
CANCEL_REASONS = ["مسافر منصرف شد", "مسافر با خودروی دیگری رفت", "راننده آزاد پیدا نشد", "تأخیر راننده"]
NO_SHOW_REASON = "مسافر پس از ده دقیقه انتظار حاضر نشد و تلفن را جواب نداد"
BOOKING_NOTES = ["چمدان دارد", "با کودک؛ صندلی کودک لازم نیست", "لطفاً در ماشین سیگار کشیده نشود",
                 "مسافر عصا دارد، جلوی در بایستید", "دو بستهٔ بزرگ همراه دارد", "کولر روشن باشد"]  # fmt: skip


def quote_fare(
    rule: FareRule, distance_km: float, duration_min: float, pickup_at: datetime, zone_codes: set[str]
) -> tuple[int, list[dict]]:
    """The fare engine's quote (fares.services) with its lines in Persian, as the office keeps them."""
    fare, lines = fares.quote_fare(rule, distance_km, duration_min, pickup_at, zone_codes, TEHRAN_ZONE)
    return fare, fares.breakdown(lines, "fa")


@dataclass
class Office:
    """What the trip generator draws on: the people, cars, zones and rules already in the session."""

    rng: random.Random
    now: datetime
    agents: list[User]
    dispatcher: User
    subscribers: list[Subscriber]
    drivers: list[Driver]
    rules: dict[str, FareRule]
    zone_ids: dict[str, int]
    locator: ZoneLocator
    places: list[Place]
    phones: PhoneMaker
    calls: list[Call] = field(default_factory=list)


@dataclass
class _Leg:
    """Where a trip goes: the text the driver sees, the point, the saved address and the zone."""

    text: str
    lat: float
    lon: float
    address_id: int | None
    zone_code: str | None


class TripMaker:
    """Builds bookings (with events and calls) into lists the caller adds to the session."""

    def __init__(self, office: Office):
        self.office = office
        self.rng = office.rng
        self._busy: dict[int, list[tuple[datetime, datetime]]] = {d.id: [] for d in office.drivers}
        self._by_class: dict[str, list[Driver]] = {}
        for driver in office.drivers:
            self._by_class.setdefault(driver.vehicles[0].vehicle_class, []).append(driver)
        self._city_places = [p for p in office.places if p.kind == "metro_station"]
        self._airport = next(p for p in office.places if p.kind == "airport")
        self._rail = next(p for p in office.places if p.kind == "rail_station")
        # Agents differ in how many calls they take, which gives the reports something to show.
        self._agent_weights = [self.rng.uniform(0.6, 1.4) for _ in office.agents]
        self._zone_codes = {zone_id: code for code, zone_id in office.zone_ids.items()}
        self._call_for: dict[int, Call] = {}  # id(booking) -> its call, until calls have ids
        # (booking, driver, offered at, accepted at or None) of the live bookings, until bookings have ids
        self._offers: list[tuple[Booking, Driver, datetime, datetime | None]] = []

    # --- building blocks -------------------------------------------------------------------

    def _seconds(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=round(self.rng.uniform(low, high)))

    def _agent(self) -> User:
        return self.rng.choices(self.office.agents, self._agent_weights)[0]

    def _past_pickup(self) -> datetime:
        """A moment in the last 90 days (at least four hours ago, so trips are over), busier in rush hours."""
        while True:
            day = (self.office.now.astimezone(TEHRAN) - timedelta(days=self.rng.randrange(90))).date()
            hour = self.rng.choices(range(24), HOURLY_WEIGHTS)[0]
            local = datetime.combine(day, time(hour, self.rng.randrange(60)), TEHRAN)
            if local <= self.office.now - timedelta(hours=4):
                return local.astimezone(self.office.now.tzinfo)

    def _dropoff(self, subscriber: Subscriber, pickup: Address) -> _Leg:
        others = [a for a in subscriber.addresses if a.id != pickup.id]
        if others and self.rng.random() < 0.5:
            a = self.rng.choice(others)
            return _Leg(f"{a.label}: {a.text}", a.lat, a.lon, a.id, self._code_of(a.zone_id))
        roll = self.rng.random()
        place = self._airport if roll < 0.05 else self._rail if roll < 0.09 else self.rng.choice(self._city_places)
        text = place.name_fa if place.kind != "metro_station" else f"ایستگاه مترو {place.name_fa}"
        return _Leg(text, place.lat, place.lon, None, self.office.locator.locate(place.lat, place.lon))

    def _code_of(self, zone_id: int | None) -> str | None:
        return self._zone_codes.get(zone_id)

    def _driver(self, vehicle_class: str, start: datetime, end: datetime, on_shift: bool = False) -> Driver:
        """A driver of the class free over the interval (on shift now, if asked)."""
        candidates = self._by_class[vehicle_class]
        for _ in range(200):
            driver = self.rng.choice(candidates)
            if on_shift and driver.status != DriverStatus.AVAILABLE:
                continue
            if all(end <= s or start >= e for s, e in self._busy[driver.id]):
                self._busy[driver.id].append((start, end))
                return driver
        raise RuntimeError(f"no free {vehicle_class} driver for the demo")

    def _base(self, subscriber: Subscriber, pickup_at: datetime, vehicle_class: str) -> Booking:
        """A booking with its route and fare, no status history yet."""
        pickup = self.rng.choice(subscriber.addresses)
        while True:
            leg = self._dropoff(subscriber, pickup)
            straight = geodesic((pickup.lat, pickup.lon), (leg.lat, leg.lon)).km
            if straight >= 0.8:
                break
        distance = round(straight * ROAD_FACTOR, 1)
        hour = pickup_at.astimezone(TEHRAN).hour
        speed = 18 if hour in (7, 8, 9, 16, 17, 18, 19) else 38 if hour >= 22 or hour < 6 else 27
        speed *= 1 + min(distance, 60) / 60  # long trips run mostly on the motorways
        duration = float(round(distance / (speed * self.rng.uniform(0.8, 1.15)) * 60 + 2))
        rule = self.office.rules[vehicle_class]
        codes = {c for c in (self._code_of(pickup.zone_id), leg.zone_code) if c}
        fare, breakdown = quote_fare(rule, distance, duration, pickup_at, codes)
        mobiles = [p.e164 for p in subscriber.phones if p.kind == "mobile"]
        return Booking(
            subscriber_id=subscriber.id,
            phone=(mobiles or [subscriber.phones[0].e164])[0],
            pickup_text=pickup.text,
            pickup_lat=pickup.lat,
            pickup_lon=pickup.lon,
            pickup_address_id=pickup.id,
            pickup_zone_id=pickup.zone_id,
            dropoff_text=leg.text,
            dropoff_lat=leg.lat,
            dropoff_lon=leg.lon,
            dropoff_address_id=leg.address_id,
            dropoff_zone_id=self.office.zone_ids.get(leg.zone_code) if leg.zone_code else None,
            pickup_at=pickup_at,
            vehicle_class=vehicle_class,
            notes=self.rng.choice(BOOKING_NOTES) if self.rng.random() < 0.1 else "",
            fare_rule_id=rule.id,
            fare=fare,
            currency=rule.currency,
            fare_breakdown=breakdown,
            distance_km=distance,
            duration_min=duration,
        )

    def _reprice(self, booking: Booking, pickup_at: datetime) -> None:
        """Move a booking's pickup time and quote its fare again (the night surcharge may change)."""
        codes = {c for c in (self._code_of(booking.pickup_zone_id), self._code_of(booking.dropoff_zone_id)) if c}
        rule = self.office.rules[booking.vehicle_class]
        booking.pickup_at = pickup_at
        booking.fare, booking.fare_breakdown = quote_fare(
            rule, booking.distance_km, booking.duration_min, pickup_at, codes
        )

    def _take_call(self, booking: Booking, subscriber: Subscriber, request_at: datetime) -> User:
        """The agent who took the booking, with the inbound call it came on (most bookings have one)."""
        agent = self._agent()
        if self.rng.random() < 0.85:
            queued = request_at - self._seconds(60, 150)
            answered = queued + self._seconds(3, 40)
            ended = request_at + self._seconds(10, 60)
            caller = self.rng.choice(subscriber.phones).e164
            call = self._call(caller, subscriber.id, agent, queued, answered, ended, "booking")
            self._call_for[id(booking)] = call
        return agent

    def _call(self, caller, subscriber_id, agent, queued, answered, ended, disposition) -> Call:
        sid = f"CA{self.rng.getrandbits(128):032x}"
        status = CallStatus.COMPLETED if answered else CallStatus.ABANDONED
        call = Call(
            provider_sid=sid,
            direction="inbound",
            from_number=caller,
            caller_e164=caller,
            to_number=OFFICE_NUMBER,
            subscriber_id=subscriber_id,
            agent_id=agent.id if agent else None,
            status=status,
            queued_at=queued,
            answered_at=answered,
            ended_at=ended,
            disposition=disposition,
            created_at=queued,
        )
        steps = [("ringing", queued)] + ([("in-progress", answered)] if answered else []) + [("completed", ended)]
        call.events = [CallEvent(status=s, at=at, payload={"CallSid": sid, "CallStatus": s}) for s, at in steps]
        self.office.calls.append(call)
        return call

    @staticmethod
    def _record(booking: Booking, steps: list[tuple[str, datetime, User | None, Driver | None, str]]) -> None:
        """Give a booking its status trail; its status is where the trail ends."""
        previous = None
        for status, at, user, driver, reason in steps:
            booking.events.append(
                BookingEvent(
                    from_status=previous,
                    to_status=status,
                    at=at,
                    user_id=user.id if user else None,
                    driver_id=driver.id if driver else None,
                    reason=reason,
                )
            )
            previous = status
        booking.status = previous

    # --- bookings ---------------------------------------------------------------------------

    def past_booking(self, subscriber: Subscriber) -> Booking:
        """A finished booking: mostly completed, some cancelled, a few no-shows."""
        vehicle_class = self.rng.choices(list(CLASS_WEIGHTS), list(CLASS_WEIGHTS.values()))[0]
        pickup_at = self._past_pickup()
        booking = self._base(subscriber, pickup_at, vehicle_class)
        prebooked = self.rng.random() < 0.15
        request_at = pickup_at - (self._seconds(3600, 30 * 3600) if prebooked else self._seconds(480, 900))
        booking.created_at = request_at
        agent = self._take_call(booking, subscriber, request_at)
        booking.created_by_id = agent.id
        dispatcher = self.office.dispatcher
        outcome = self.rng.choices(["completed", "cancelled", "no_show"], [85, 10, 5])[0]
        steps = [(S.REQUESTED, request_at, agent, None, "")]
        if prebooked:
            steps.append((S.SCHEDULED, request_at + self._seconds(20, 60), agent, None, ""))
            offer_at = pickup_at - self._seconds(600, 1200)
        else:
            offer_at = request_at + self._seconds(20, 90)
        lateness = self._seconds(-120, 480) if self.rng.random() < 0.9 else self._seconds(600, 1500)
        arrive = max(pickup_at + lateness, offer_at + timedelta(minutes=3))
        start = arrive + self._seconds(60, 300)
        end = start + timedelta(minutes=booking.duration_min)
        if outcome == "cancelled" and self.rng.random() < 0.4:  # before any driver took it
            reason = self.rng.choice(CANCEL_REASONS[:3])
            steps.append((S.CANCELLED, offer_at + self._seconds(60, 400), agent, None, reason))
            booking.cancel_reason = reason
            self._record(booking, steps)
            return booking
        driver = self._driver(vehicle_class, offer_at, end if outcome == "completed" else start)
        booking.driver_id, booking.vehicle_id = driver.id, driver.vehicles[0].id
        assigned_at = offer_at + self._seconds(5, 40)
        steps += [
            (S.OFFERED, offer_at, dispatcher, driver, ""),
            (S.ASSIGNED, assigned_at, dispatcher, driver, ""),
        ]
        if outcome == "cancelled":
            reason = self.rng.choice(CANCEL_REASONS)
            steps.append((S.CANCELLED, assigned_at + self._seconds(120, 600), agent, driver, reason))
            booking.cancel_reason = reason
        elif outcome == "no_show":
            steps.append((S.ARRIVED, arrive, None, driver, ""))
            steps.append((S.NO_SHOW, arrive + self._seconds(600, 900), None, driver, NO_SHOW_REASON))
            booking.cancel_reason = NO_SHOW_REASON
        else:
            steps += [(S.ARRIVED, arrive, None, driver, ""), (S.ON_TRIP, start, None, driver, "")]
            steps.append((S.COMPLETED, end, None, driver, ""))
            booking.completed_at = end
        self._record(booking, steps)
        return booking

    def live_bookings(self, subscribers: list[Subscriber]) -> list[Booking]:
        """Today's open bookings in every live state, so the dispatcher board has work on it."""
        now, bookings = self.office.now, []
        plan = [S.REQUESTED] * 3 + [S.OFFERED] + [S.ASSIGNED] * 3 + [S.ARRIVED] + [S.ON_TRIP] * 3
        plan += [S.SCHEDULED] * 3
        for status, subscriber in zip(plan, subscribers, strict=False):
            spare_van = any(d.status == DriverStatus.AVAILABLE for d in self._by_class[VehicleClass.VAN])
            van = spare_van and self.rng.random() < 0.15
            vehicle_class = VehicleClass.VAN if van else VehicleClass.SEDAN
            ago = {S.REQUESTED: (30, 180), S.OFFERED: (120, 240), S.ASSIGNED: (240, 480),
                   S.ARRIVED: (660, 840), S.ON_TRIP: (1500, 2400), S.SCHEDULED: (3600, 8 * 3600)}  # fmt: skip
            request_at = now - self._seconds(*ago[status])
            ahead = self._seconds(3600, 5 * 3600) if status == S.SCHEDULED else timedelta(minutes=10)
            pickup_at = (now + ahead) if status == S.SCHEDULED else request_at + ahead
            booking = self._base(subscriber, pickup_at, vehicle_class)
            if status == S.ON_TRIP:
                # Still on the road: started a fraction of the trip's length ago, not more.
                start = now - timedelta(minutes=booking.duration_min * self.rng.uniform(0.2, 0.8))
                pickup_at = start - ON_TRIP_BOARDING
                request_at = pickup_at - timedelta(minutes=10)
                self._reprice(booking, pickup_at)
            booking.created_at = request_at
            agent = self._take_call(booking, subscriber, request_at)
            booking.created_by_id = agent.id
            steps = [(S.REQUESTED, request_at, agent, None, "")]
            if status == S.SCHEDULED:
                steps.append((S.SCHEDULED, request_at + self._seconds(20, 60), agent, None, ""))
            elif status != S.REQUESTED:
                self._dispatch_live(booking, status, request_at, steps)
            self._record(booking, steps)
            bookings.append(booking)
        return bookings

    def _dispatch_live(self, booking: Booking, status: str, request_at: datetime, steps: list) -> None:
        now = self.office.now
        offer_at = request_at + self._seconds(20, 60)
        driver = self._driver(booking.vehicle_class, offer_at, now + timedelta(hours=2), on_shift=True)
        steps.append((S.OFFERED, offer_at, self.office.dispatcher, driver, ""))
        booking.driver_id = driver.id  # the driver offered, as the API shows it
        if status == S.OFFERED:  # made just now: the demo starts with a countdown running on the board
            offer_at = now - self._seconds(2, 5)
            steps[-1] = (S.OFFERED, offer_at, self.office.dispatcher, driver, "")
            self._offers.append((booking, driver, offer_at, None))
            return
        driver.status = DriverStatus.BUSY
        booking.vehicle_id = driver.vehicles[0].id
        assigned_at = offer_at + self._seconds(5, 40)
        self._offers.append((booking, driver, offer_at, assigned_at))
        steps.append((S.ASSIGNED, assigned_at, self.office.dispatcher, driver, ""))
        if status == S.ARRIVED:
            arrive = min(booking.pickup_at + self._seconds(-60, 120), now - timedelta(minutes=1))
            steps.append((S.ARRIVED, max(arrive, assigned_at + timedelta(minutes=2)), None, driver, ""))
        elif status == S.ON_TRIP:
            arrive = booking.pickup_at + self._seconds(0, 60)
            steps.append((S.ARRIVED, arrive, None, driver, ""))
            steps.append((S.ON_TRIP, booking.pickup_at + ON_TRIP_BOARDING, None, driver, ""))

    def offers(self) -> list[DispatchOffer]:
        """The offers behind today's live bookings (accepted, or the one still waiting), once bookings have ids."""
        return [
            DispatchOffer(
                booking_id=booking.id,
                driver_id=driver.id,
                offered_at=offered_at,
                expires_at=offered_at + OFFER_TIMEOUT,
                outcome=OfferOutcome.ACCEPTED if accepted_at else OfferOutcome.PENDING,
                answered_at=accepted_at,
                method="nearest",
            )
            for booking, driver, offered_at, accepted_at in self._offers
        ]

    def link_calls(self, bookings: list[Booking]) -> None:
        """Point bookings at their calls, once the calls have been flushed and have ids."""
        for booking in bookings:
            if call := self._call_for.get(id(booking)):
                booking.call_id = call.id

    def other_calls(self, count: int) -> None:
        """Calls that led to no booking: enquiries answered by an agent, and callers who hung up."""
        subscribers = self.office.subscribers
        for _ in range(count):
            subscriber = self.rng.choice(subscribers) if self.rng.random() < 0.8 else None
            caller = self.rng.choice(subscriber.phones).e164 if subscriber else self.office.phones.mobile()
            queued = self._past_pickup()
            if self.rng.random() < 0.5:
                self._call(caller, subscriber and subscriber.id, None, queued, None,
                           queued + self._seconds(15, 120), "")  # fmt: skip
            else:
                answered = queued + self._seconds(3, 40)
                self._call(caller, subscriber and subscriber.id, self._agent(), queued, answered,
                           answered + self._seconds(40, 240), "enquiry")  # fmt: skip
