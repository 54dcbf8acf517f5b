"""The office's loyalty rule: every Nth completed trip of a subscriber is discounted.

The fare engine asks for the discount when it quotes; the rule itself lives here so that the office
changes it in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.extensions import db
from dispatch.models import Booking, BookingStatus


@dataclass(frozen=True)
class LoyaltyRule:
    """Every ``every_nth`` trip gets ``percent`` off; ``every_nth`` 0 switches the rule off."""

    every_nth: int = 0
    percent: int = 0

    def __post_init__(self):
        if self.every_nth < 0 or not 0 <= self.percent <= 100:
            raise ValueError("loyalty rule: every_nth ≥ 0 and a percent from 0 to 100")


def rule_from_config(config) -> LoyaltyRule:
    """The LoyaltyRule an app is configured with."""
    return LoyaltyRule(config["LOYALTY_EVERY_NTH_TRIP"], config["LOYALTY_DISCOUNT_PERCENT"])


def completed_trips(subscriber_id: int) -> int:
    """How many trips a subscriber has completed with the office."""
    return db.session.scalar(
        select(func.count(Booking.id)).where(
            Booking.subscriber_id == subscriber_id, Booking.status == BookingStatus.COMPLETED
        )
    )


def loyalty_discount(rule: LoyaltyRule, trips_before: int, fare: int) -> int:
    """The discount (in the fare's unit, rounded down) on the trip after ``trips_before`` completed ones."""
    if rule.every_nth == 0 or rule.percent == 0 or (trips_before + 1) % rule.every_nth:
        return 0
    return fare * rule.percent // 100
