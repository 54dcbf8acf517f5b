"""Background jobs of the loyalty engine."""

from __future__ import annotations

from flask import current_app

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from loyalty.tiers import recompute_tiers, rules_from_config


@in_app_context
def recompute_tiers_job() -> dict[str, int]:
    """Recompute every subscriber's value tier (nightly); running it twice gives the same result."""
    counts = recompute_tiers(rules_from_config(current_app.config), utcnow())
    db.session.commit()
    current_app.logger.info("value tiers recomputed: %s", counts)
    return counts
