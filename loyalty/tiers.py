"""The customer pyramid: platinum, gold, iron and lead, from what each subscriber spent and how lately.

The office's best customers are few and carry most of the revenue (the Pareto rule). Subscribers are
ranked by what they spent on completed trips within the window, then by how many trips, then by how
long they have been with the office. The top share becomes platinum, the next gold, then iron; the
rest, and anyone who has not travelled within the window, is lead. A subscriber who travelled in the
window but not lately drops one tier, so that a lapsing customer shows up before they are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core.extensions import db
from crm.models import Subscriber, Tier
from dispatch.models import Booking, BookingStatus

PYRAMID = (Tier.PLATINUM, Tier.GOLD, Tier.IRON, Tier.LEAD)
CHUNK = 5000


@dataclass(frozen=True)
class TierRules:
    """The office's thresholds: shares of active subscribers per tier, the window and the lapse."""

    shares: tuple[float, float, float] = (0.05, 0.15, 0.30)  # platinum, gold, iron; the rest is lead
    window_days: int = 365
    lapse_days: int = 180

    def __post_init__(self):
        if len(self.shares) != 3 or any(s < 0 for s in self.shares) or sum(self.shares) > 1:
            raise ValueError("tier shares: three non-negative fractions adding up to at most 1")
        if not 0 < self.lapse_days <= self.window_days:
            raise ValueError("the lapse must be positive and within the window")


def rules_from_config(config) -> TierRules:
    """The TierRules an app is configured with."""
    return TierRules(
        shares=tuple(config["TIER_SHARES"]),
        window_days=config["TIER_WINDOW_DAYS"],
        lapse_days=config["TIER_LAPSE_DAYS"],
    )


@dataclass(frozen=True)
class Travel:
    """What one subscriber did within the window."""

    subscriber_id: int
    spend: int
    trips: int
    last_trip: datetime
    joined: datetime


def assign_tiers(travel: list[Travel], rules: TierRules, now: datetime) -> dict[int, str]:
    """Tiers for the subscribers who travelled; everyone not listed is lead."""
    ranked = sorted(travel, key=lambda t: (-t.spend, -t.trips, t.joined, t.subscriber_id))
    bounds, total = [], 0.0
    for share in rules.shares:
        total += share
        bounds.append(round(total * len(ranked)))
    lapsed_before = now - timedelta(days=rules.lapse_days)
    tiers = {}
    for position, t in enumerate(ranked):
        level = next((i for i, bound in enumerate(bounds) if position < bound), 3)
        if t.last_trip < lapsed_before:
            level = min(level + 1, 3)
        tiers[t.subscriber_id] = PYRAMID[level]
    return tiers


def recompute_tiers(rules: TierRules, now: datetime) -> dict[str, int]:
    """Give every subscriber the tier the rules say; returns how many are in each tier."""
    since = now - timedelta(days=rules.window_days)
    rows = db.session.execute(
        select(
            Booking.subscriber_id,
            func.coalesce(func.sum(Booking.fare), 0),
            func.count(Booking.id),
            func.max(Booking.pickup_at),
            func.min(Subscriber.created_at),
        )
        .join(Subscriber, Subscriber.id == Booking.subscriber_id)
        .where(
            Booking.status == BookingStatus.COMPLETED,
            Booking.subscriber_id.is_not(None),
            Booking.pickup_at >= since,
            Booking.pickup_at <= now,
        )
        .group_by(Booking.subscriber_id)
    ).all()
    travel = [Travel(sid, int(spend), trips, last, joined) for sid, spend, trips, last, joined in rows]
    tiers = assign_tiers(travel, rules, now)
    by_tier: dict[str, list[int]] = {tier: [] for tier in PYRAMID}
    for subscriber_id, tier in tiers.items():
        by_tier[tier].append(subscriber_id)
    # Everyone starts from lead; the few above it are then set in chunks (no row-by-row updates).
    db.session.execute(
        update(Subscriber).where(Subscriber.tier != Tier.LEAD).values(tier=Tier.LEAD, tier_updated_at=now)
    )
    for tier in (Tier.PLATINUM, Tier.GOLD, Tier.IRON):
        ids = by_tier[tier]
        for start in range(0, len(ids), CHUNK):
            db.session.execute(
                update(Subscriber)
                .where(Subscriber.id.in_(ids[start : start + CHUNK]))
                .values(tier=tier, tier_updated_at=now)
            )
    db.session.flush()
    counts = dict(db.session.execute(select(Subscriber.tier, func.count()).group_by(Subscriber.tier)).all())
    return {tier.value: counts.get(tier, 0) for tier in PYRAMID}
