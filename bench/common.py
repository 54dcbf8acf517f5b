"""What the benchmarks share: a subscriber row as the bulk loaders insert it."""

from __future__ import annotations

from datetime import datetime


def subscriber_row(subscriber_id: int, name: str, search_key: str, now: datetime) -> dict:
    """Every column of a plain subscriber (lead tier, no flags), for SQLAlchemy Core's executemany."""
    return {
        "id": subscriber_id,
        "name": name,
        "language": "fa",
        "notes": "",
        "tier": "lead",
        "barred": False,
        "barred_reason": "",
        "sms_opt_out": False,
        "no_show_count": 0,
        "tier_updated_at": None,
        "updated_at": now,
        "created_at": now,
        "search_key": search_key,
        "merged_into_id": None,
    }
