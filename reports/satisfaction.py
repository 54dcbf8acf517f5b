"""Customer satisfaction per office day (or month): ratings, the average, CSAT and the response rate.

Cabdesk asks for a 1–5 rating only, so there is no 0–10 "would you recommend" score to make an NPS from; the
summary says so instead of showing a number computed from the wrong question.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func

from feedback.models import Feedback
from reports.base import Column, Period, Report, share
from reports.complaints import buckets

SATISFIED = 4  # CSAT counts the 4s and 5s of a 1–5 scale
NPS_NOTE = _l("NPS needs a 0–10 question; Cabdesk asks for a 1–5 rating, so there is none.")


def build(period: Period) -> Report:
    """Ratings answered per day or month with their average and CSAT, and the response rate of requests sent."""
    drawn = buckets(period)
    size = len(drawn.labels)
    ratings, points, satisfied, requested, answered = ([0] * size for _ in range(5))
    for n, count, total, good in drawn.count(
        Feedback.answered_at,
        func.count(),
        func.sum(Feedback.rating),
        func.sum(case((Feedback.rating >= SATISFIED, 1), else_=0)),
        where=(Feedback.rating.is_not(None),),
    ):
        ratings[n], points[n], satisfied[n] = count, int(total or 0), int(good or 0)
    # The response rate follows the requests sent in the period, answered then or later: it never passes 100%.
    for n, count, rated in drawn.count(Feedback.requested_at, func.count(), func.count(Feedback.rating)):
        requested[n], answered[n] = count, rated

    rows = [
        {
            drawn.x: label,
            "ratings": ratings[n],
            "average": _average(points[n], ratings[n]),
            "csat": share(satisfied[n], ratings[n]),
            "requested": requested[n],
            "response_rate": share(answered[n], requested[n]),
        }
        for n, label in enumerate(drawn.labels)
    ]
    columns = [
        Column(drawn.x, _l("Day") if drawn.x == "day" else _l("Month"), drawn.x),
        Column("ratings", _l("Ratings")),
        Column("average", _l("Average rating"), "decimal"),
        Column("csat", _l("CSAT"), "percent"),
        Column("requested", _l("Requests sent")),
        Column("response_rate", _l("Response rate"), "percent"),
    ]
    chart = {
        "type": "line",
        "labels": drawn.labels,
        "x": drawn.x,
        "stacked": False,
        # Two scales on one chart: "axis" tells the page which y axis each series is drawn against.
        "series": [
            {"label": str(_l("Average rating")), "data": [row["average"] for row in rows], "axis": "rating"},
            {"label": str(_l("CSAT")), "data": [row["csat"] for row in rows], "axis": "percent"},
        ],
    }
    summary = {
        "ratings": sum(ratings),
        "average": _average(sum(points), sum(ratings)),
        "csat": share(sum(satisfied), sum(ratings)),
        "requested": sum(requested),
        "answered": sum(answered),
        "response_rate": share(sum(answered), sum(requested)),
        "nps": None,
        "nps_note": str(NPS_NOTE),
    }
    return Report("satisfaction", columns, rows, chart, summary)


def _average(points: int, count: int) -> float | None:
    """The mean rating, two decimals; None for a day with no rating (a gap in the line, not a zero)."""
    return round(points / count, 2) if count else None
