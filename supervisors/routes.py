"""Wallboard and complaint log pages."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber, SubscriberMerge
from crm.services import SubscriberError
from dispatch.models import Booking
from feedback.models import Complaint, Feedback
from feedback.services import OPEN_STATUSES
from supervisors.forms import MergeForm

bp = Blueprint("supervisors", __name__, url_prefix="/supervisor")


@bp.route("/")
@area_required(Area.SUPERVISION)
def wallboard():
    """The floor at a glance: bookings by state, open complaints, recent satisfaction."""
    bookings_by_status = dict(db.session.execute(select(Booking.status, func.count()).group_by(Booking.status)).all())
    open_complaints = db.session.scalar(select(func.count(Complaint.id)).where(Complaint.status.in_(OPEN_STATUSES)))
    since = utcnow() - timedelta(days=30)
    average_rating = db.session.scalar(
        select(func.avg(Feedback.rating)).where(Feedback.rating.is_not(None), Feedback.answered_at >= since)
    )
    return render_template(
        "supervisors/wallboard.html",
        bookings_by_status=bookings_by_status,
        open_complaints=open_complaints,
        average_rating=average_rating,
    )


@bp.route("/duplicates")
@area_required(Area.SUPERVISION)
def duplicates():
    """Likely duplicate subscribers, and the merges done so far."""
    from crm.merge import find_duplicates

    pairs = find_duplicates(limit=100)
    ids = {i for pair in pairs for i in pair["subscriber_ids"]}
    people = {s.id: s for s in db.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids)))}
    merges = db.session.scalars(select(SubscriberMerge).order_by(SubscriberMerge.id.desc()).limit(50)).all()
    return render_template("supervisors/duplicates.html", pairs=pairs, people=people, merges=merges, form=MergeForm())


@bp.route("/duplicates/merge", methods=["POST"])
@area_required(Area.SUPERVISION)
def merge():
    """Merge one subscriber into another; everything moves, the merge is audited."""
    from crm.merge import merge_subscribers

    form = MergeForm()
    if not form.validate_on_submit():
        flash(_("Choose which record to keep."), "error")
        return redirect(url_for("supervisors.duplicates"))
    survivor = db.session.get(Subscriber, form.survivor_id.data)
    duplicate = db.session.get(Subscriber, form.merged_id.data)
    if survivor is None or duplicate is None:
        abort(404)
    try:
        merge_subscribers(survivor, duplicate, merged_by_id=current_user.id, reason=form.reason.data or "")
    except SubscriberError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("supervisors.duplicates"))
    db.session.commit()
    flash(_("Merged into %(name)s.", name=survivor.name), "success")
    return redirect(url_for("supervisors.duplicates"))


@bp.route("/subscribers.csv")
@area_required(Area.SUPERVISION)
def export_subscribers_csv():
    """The whole subscriber book as CSV (one row per address), the same file `flask subscribers export` writes."""
    import io
    import tempfile

    from crm.exporter import export_subscribers

    # Written to a temporary file first: a big book must not sit in memory, and a failure midway
    # must not send half a file.
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (send_file closes it once sent)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    export_subscribers(text)
    text.flush()
    text.detach()
    spool.seek(0)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return send_file(spool, mimetype="text/csv", as_attachment=True, download_name=f"subscribers-{stamp}.csv")


from supervisors import complaint_pages as _complaint_pages  # noqa: E402,F401
from supervisors import driver_pages as _driver_pages  # noqa: E402,F401
from supervisors import settlement_pages as _settlement_pages  # noqa: E402,F401
