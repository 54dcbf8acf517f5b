"""Duplicate subscribers: finding likely pairs and merging one into another, keeping all history."""

from __future__ import annotations

from difflib import SequenceMatcher

from sqlalchemy import func, select, update

from core.extensions import db
from core.text import normalize_persian
from crm.activity import move_months
from crm.models import Address, Subscriber, SubscriberMerge, Tier
from crm.services import SubscriberError, refresh_search_key

TIER_RANK = {Tier.PLATINUM: 0, Tier.GOLD: 1, Tier.IRON: 2, Tier.LEAD: 3}
# ~50 m: two saved addresses this close are "the same address" for duplicate hunting.
SAME_PLACE_DEGREES = 0.0005
SIMILAR_NAME = 0.8
# Tables whose link to a subscriber is the record itself, not history to move.
NOT_MOVED = {
    ("subscriber_merges", "survivor_id"),
    ("subscriber_merges", "merged_id"),
    ("subscribers", "merged_into_id"),
    ("subscriber_months", "subscriber_id"),  # part of the key: added to the survivor's months (move_months)
}


def name_similarity(a: str, b: str) -> float:
    """How alike two names are once Persian spellings are folded (0 to 1)."""
    return SequenceMatcher(None, normalize_persian(a), normalize_persian(b)).ratio()


def find_duplicates(limit: int = 100) -> list[dict]:
    """Likely duplicate pairs: alike names with a saved address at the same place."""
    cell_lat = func.round(Address.lat / SAME_PLACE_DEGREES)
    cell_lon = func.round(Address.lon / SAME_PLACE_DEGREES)
    crowded = (
        select(cell_lat.label("cl"), cell_lon.label("cn"))
        .join(Subscriber, Subscriber.id == Address.subscriber_id)
        .where(Subscriber.merged_into_id.is_(None))
        .group_by(cell_lat, cell_lon)
        .having(func.count(func.distinct(Address.subscriber_id)) > 1)
        .subquery()
    )
    rows = db.session.execute(
        select(crowded.c.cl, crowded.c.cn, Subscriber.id, Subscriber.name)
        .join(Address, (cell_lat == crowded.c.cl) & (cell_lon == crowded.c.cn))
        .join(Subscriber, Subscriber.id == Address.subscriber_id)
        .where(Subscriber.merged_into_id.is_(None))
        .distinct()
    ).all()
    by_cell: dict[tuple, dict[int, str]] = {}
    for cl, cn, subscriber_id, name in rows:
        by_cell.setdefault((cl, cn), {})[subscriber_id] = name
    pairs: dict[tuple[int, int], dict] = {}
    for people in by_cell.values():
        ids = sorted(people)
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                score = name_similarity(people[first], people[second])
                if score >= SIMILAR_NAME and (first, second) not in pairs:
                    pairs[(first, second)] = {
                        "subscriber_ids": [first, second],
                        "names": [people[first], people[second]],
                        "reason": "similar name at the same address",
                        "score": round(score, 2),
                    }
    return sorted(pairs.values(), key=lambda p: -p["score"])[:limit]


def _history_links():
    """Every (table, column) that points at a subscriber and holds history to move on a merge."""
    subscribers = db.metadata.tables["subscribers"]
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is subscribers.c.id and (table.name, fk.parent.name) not in NOT_MOVED:
                yield table, fk.parent


def merge_subscribers(
    survivor: Subscriber, duplicate: Subscriber, merged_by_id: int | None = None, reason: str = ""
) -> SubscriberMerge:
    """Move everything of ``duplicate`` (numbers, addresses, calls, trips, notes…) to ``survivor``.

    The duplicate record is kept, marked as merged, and the merge is audited with a snapshot of
    what it was and which rows moved.
    """
    if survivor.id == duplicate.id:
        raise SubscriberError("a subscriber cannot be merged into itself", {"subscriber_ids": "same"})
    if survivor.merged_into_id or duplicate.merged_into_id:
        raise SubscriberError("one of these subscribers was already merged", {"subscriber_ids": "merged"})
    snapshot = {
        "name": duplicate.name,
        "language": duplicate.language,
        "notes": duplicate.notes,
        "tier": duplicate.tier,
        "barred": duplicate.barred,
        "barred_reason": duplicate.barred_reason,
        "sms_opt_out": duplicate.sms_opt_out,
        "no_show_count": duplicate.no_show_count,
        "phones": [p.e164 for p in duplicate.phones],
        "moved": {},
    }
    for table, column in _history_links():
        key_column = next(iter(table.primary_key.columns))
        ids = db.session.scalars(select(key_column).where(column == duplicate.id)).all()
        if ids:
            snapshot["moved"][f"{table.name}.{column.name}"] = list(ids)
            db.session.execute(update(table).where(column == duplicate.id).values({column.name: survivor.id}))
    months = move_months(duplicate.id, survivor.id)
    if months:
        snapshot["moved"]["subscriber_months.subscriber_id"] = months

    # The stricter flag wins: a barred or opted-out duplicate keeps that wish on the survivor.
    if duplicate.barred and not survivor.barred:
        survivor.barred, survivor.barred_reason = True, duplicate.barred_reason
    survivor.sms_opt_out = survivor.sms_opt_out or duplicate.sms_opt_out
    survivor.no_show_count += duplicate.no_show_count
    if TIER_RANK.get(duplicate.tier, 3) < TIER_RANK.get(survivor.tier, 3):
        survivor.tier = duplicate.tier
    if duplicate.notes and duplicate.notes not in survivor.notes:
        survivor.notes = f"{survivor.notes}\n{duplicate.notes}".strip()[:2000]
    duplicate.merged_into_id = survivor.id
    duplicate.search_key = ""
    audit = SubscriberMerge(
        survivor_id=survivor.id,
        merged_id=duplicate.id,
        merged_by_id=merged_by_id,
        reason=reason[:500],
        snapshot=snapshot,
    )
    db.session.add(audit)
    db.session.flush()
    # Bulk updates bypass the identity map: reload what moved before reading it again.
    db.session.expire(survivor, ["phones", "addresses"])
    db.session.expire(duplicate, ["phones", "addresses"])
    refresh_search_key(survivor)
    db.session.flush()
    return audit
