"""The value pyramid: a hand-worked office of ten subscribers, and the nightly job through a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from crm.models import Subscriber
from crm.services import create_subscriber
from dispatch.models import Booking
from loyalty.tiers import TierRules, Travel, assign_tiers, recompute_tiers

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RULES = TierRules(shares=(0.1, 0.2, 0.3), window_days=365, lapse_days=90)


def travel(subscriber_id, spend, trips=1, days_ago=1, joined_days_ago=400):
    return Travel(subscriber_id, spend, trips, NOW - timedelta(days=days_ago), NOW - timedelta(days=joined_days_ago))


def test_shares_of_a_hand_worked_office():
    # Ten travellers, spend 100..10: 10% platinum (1), 20% gold (2), 30% iron (3), the rest lead (4).
    tiers = assign_tiers([travel(i, 110 - 10 * i) for i in range(1, 11)], RULES, NOW)
    assert [tiers[i] for i in range(1, 11)] == [
        "platinum",
        "gold",
        "gold",
        "iron",
        "iron",
        "iron",
        "lead",
        "lead",
        "lead",
        "lead",
    ]


def test_a_lapsing_customer_drops_one_tier():
    tiers = assign_tiers([travel(1, 1000, days_ago=100), *(travel(i, 10) for i in range(2, 11))], RULES, NOW)
    assert tiers[1] == "gold"


def test_ties_go_to_more_trips_then_longer_tenure():
    tiers = assign_tiers(
        [
            travel(1, 500, trips=2, joined_days_ago=10),
            travel(2, 500, trips=5, joined_days_ago=10),
            travel(3, 500, trips=2, joined_days_ago=900),
            *(travel(i, 1) for i in range(4, 11)),
        ],
        TierRules(shares=(0.1, 0.1, 0.1)),
        NOW,
    )
    assert (tiers[2], tiers[3], tiers[1]) == ("platinum", "gold", "iron")


@pytest.mark.parametrize("shares", [(0.5, 0.5, 0.5), (-0.1, 0.2, 0.3), (0.1, 0.2)])
def test_impossible_shares_are_refused(shares):
    with pytest.raises(ValueError):
        TierRules(shares=shares)


def book(subscriber, fare, days_ago, status="completed"):
    db.session.add(
        Booking(
            subscriber_id=subscriber.id,
            status=status,
            pickup_text="x",
            pickup_lat=35.7,
            pickup_lon=51.4,
            pickup_at=NOW - timedelta(days=days_ago),
            fare=fare,
            currency="IRR",
        )
    )


@pytest.fixture
def office(app):
    people = [create_subscriber(f"Subscriber {i}", [f"0912111{i:04d}"], "IR") for i in range(10)]
    for i, person in enumerate(people[:9]):
        for trip in range(i + 1):  # person 8 travels most
            book(person, 1_000_000 * (i + 1), days_ago=3 + trip)
    book(people[9], 99_000_000, days_ago=10, status="cancelled")  # cancelled trips earn nothing
    book(people[9], 99_000_000, days_ago=500)  # outside the window
    db.session.commit()
    return people


def test_recompute_from_bookings(office):
    counts = recompute_tiers(RULES, NOW)
    db.session.commit()
    tiers = dict(db.session.execute(select(Subscriber.name, Subscriber.tier)).all())
    assert tiers["Subscriber 8"] == "platinum"
    assert tiers["Subscriber 9"] == "lead"
    # 9 travellers: bounds round(0.9)=1, round(2.7)=3, round(5.4)=5; the one who never travelled is lead too.
    assert counts == {"platinum": 1, "gold": 2, "iron": 2, "lead": 5}
    assert all(s.tier_updated_at is not None for s in db.session.scalars(select(Subscriber)) if s.tier != "lead")


def test_recomputing_twice_changes_nothing(office):
    first = recompute_tiers(RULES, NOW)
    second = recompute_tiers(RULES, NOW)
    assert first == second


def test_the_nightly_job_runs_in_a_real_worker(app, office, redis_client):
    from rq import Queue, SimpleWorker

    from loyalty.tasks import recompute_tiers_job

    app.config.update(TIER_SHARES=(0.1, 0.2, 0.3), TIER_WINDOW_DAYS=3650, TIER_LAPSE_DAYS=3650)
    queue = Queue(connection=redis_client)
    job = queue.enqueue(recompute_tiers_job)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    db.session.expire_all()
    tiers = dict(db.session.execute(select(Subscriber.name, Subscriber.tier)).all())
    # The configured ten-year window takes in subscriber 9's big trip of 500 days ago.
    assert (tiers["Subscriber 9"], tiers["Subscriber 8"]) == ("platinum", "gold")


def test_every_nth_trip_is_discounted():
    from loyalty.rules import LoyaltyRule, loyalty_discount

    rule = LoyaltyRule(every_nth=5, percent=20)
    assert [loyalty_discount(rule, before, 1_000_000) for before in range(3, 10)] == [0, 200_000, 0, 0, 0, 0, 200_000]
    assert loyalty_discount(LoyaltyRule(), 4, 1_000_000) == 0
    with pytest.raises(ValueError):
        LoyaltyRule(every_nth=5, percent=150)


def test_completed_trips_are_counted(office):
    from loyalty.rules import completed_trips

    assert completed_trips(office[8].id) == 9
    assert completed_trips(office[9].id) == 1  # the cancelled one does not count
