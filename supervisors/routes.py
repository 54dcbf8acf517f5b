"""The supervisor's pages: the wallboard, duplicates and the subscriber export (more in the sibling modules)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber, SubscriberMerge
from crm.services import SubscriberError
from reports.floor import floor_snapshot
from supervisors.forms import MergeForm

bp = Blueprint("supervisors", __name__, url_prefix="/supervisor")


@bp.route("/")
@area_required(Area.SUPERVISION)
def wallboard():
    """The live floor for a wall screen: drawn from the figures now, then kept up to date over Socket.IO."""
    config = current_app.config
    settings = {
        "time_zone": config["OFFICE_TIMEZONE"],
        "language": str(get_locale()),
        "longest_wait_marks": list(config["WALLBOARD_THRESHOLDS"]["longest_wait"]),
    }
    return render_template("supervisors/wallboard.html", floor=floor_snapshot(utcnow()), settings=settings)


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
from supervisors import driver_record_pages as _driver_record_pages  # noqa: E402,F401
from supervisors import report_pages as _report_pages  # noqa: E402,F401
from supervisors import settlement_pages as _settlement_pages  # noqa: E402,F401
