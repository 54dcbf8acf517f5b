"""The supervisor's complaint log: filters and search, CSV, a complaint's page with its handling, keyword rules,
a driver's complaint history, and the feedback log (every request, its steps and every text in)."""

from __future__ import annotations

import csv
import io
import tempfile

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from core.extensions import db
from core.models import utcnow
from dispatch.models import Booking, BookingEvent
from drivers.models import Driver
from feedback.complaint_log import FilterError, complaint_page, csv_rows, read_filter
from feedback.complaints import (
    HANDLERS,
    NEXT_STATUSES,
    ComplaintError,
    add_keyword,
    add_note,
    assign,
    change_status,
    flagged_drivers,
    keyword_rules,
    recategorise,
    recent_complaint_count,
    remove_keyword,
    sla_breached,
)
from feedback.keywords import CATEGORIES, suggest
from feedback.models import Complaint, ComplaintKeyword, ComplaintStatus, Feedback, InboundMessage
from geo.models import Zone
from supervisors.forms import ActionForm
from supervisors.routes import bp

PER_PAGE = 50
FEEDBACK_PAGE = 50


def _people(ids) -> dict[int, str]:
    wanted = {i for i in ids if i}
    return {u.id: u.username for u in db.session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}


def _choices() -> dict:
    return {
        "categories": CATEGORIES,
        "statuses": [s.value for s in ComplaintStatus],
        "zones": db.session.scalars(select(Zone).order_by(Zone.code)).all(),
        "handlers": db.session.scalars(
            select(User).where(User.role.in_(HANDLERS), User.active.is_(True)).order_by(User.username)
        ).all(),
        "agents": db.session.scalars(select(User).where(User.role == "agent").order_by(User.username)).all(),
    }


@bp.route("/complaints")
@area_required(Area.SUPERVISION)
def complaints():
    """The complaint log, newest first, by dates, status, category, driver, agent, zone, severity, SLA and words."""
    now = utcnow()
    try:
        wanted = read_filter(request.args)
        errors, status = {}, 200
    except FilterError as exc:
        wanted, errors, status = None, exc.fields, 400
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and int(page) > 0 else 1
    rows, total = complaint_page(wanted, page, PER_PAGE, now) if wanted is not None else ([], 0)
    return (
        render_template(
            "supervisors/complaints.html",
            complaints=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            args=wanted.as_args() if wanted is not None else {},
            raw=request.args,
            errors=errors,
            flagged=flagged_drivers(now),
            late={c.id for c in rows if sla_breached(c, now)},
            people=_people(c.assigned_to_id for c in rows),
            drivers={d.id: d for d in db.session.scalars(select(Driver))},
            **_choices(),
        ),
        status,
    )


@bp.route("/complaints.csv")
@area_required(Area.SUPERVISION)
def complaints_csv():
    """The filtered log as CSV (spreadsheet-safe cells), written to a temporary file first."""
    try:
        wanted = read_filter(request.args)
    except FilterError as exc:
        return {"error": {"code": "invalid", "message": str(exc), "fields": exc.fields}}, 400
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (send_file closes it once sent)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    csv.writer(text).writerows(csv_rows(wanted))
    text.flush()
    text.detach()
    spool.seek(0)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return send_file(spool, mimetype="text/csv", as_attachment=True, download_name=f"complaints-{stamp}.csv")


def _complaint_or_404(complaint_id: int) -> Complaint:
    return db.session.get(Complaint, complaint_id) or abort(404)


@bp.route("/complaints/<int:complaint_id>")
@area_required(Area.SUPERVISION)
def complaint(complaint_id: int):
    """One complaint: what was said, the trip's timeline and route, the recording, the audit trail, the actions."""
    item = _complaint_or_404(complaint_id)
    booking = db.session.get(Booking, item.booking_id) if item.booking_id else None
    timeline = (
        db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking.id).order_by(BookingEvent.id))
        if booking is not None
        else []
    )
    return render_template(
        "supervisors/complaint.html",
        complaint=item,
        booking=booking,
        timeline=list(timeline),
        feedback=db.session.get(Feedback, item.feedback_id) if item.feedback_id else None,
        texts=db.session.scalars(select(InboundMessage).where(InboundMessage.complaint_id == item.id)).all(),
        driver=db.session.get(Driver, item.driver_id) if item.driver_id else None,
        people=_people([e.user_id for e in item.events] + [item.assigned_to_id, item.agent_id]),
        late=sla_breached(item, utcnow()),
        next_statuses=NEXT_STATUSES.get(ComplaintStatus(item.status), ()),
        form=ActionForm(),
        **_choices(),
    )


def _act(complaint_id: int, action, done: str):
    """Check the CSRF token, let the complaint engine act, commit; a refusal is flashed and changes nothing."""
    item = _complaint_or_404(complaint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(item, request.form)
    except (ComplaintError, ValueError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("supervisors.complaint", complaint_id=complaint_id)), 303
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("supervisors.complaint", complaint_id=complaint_id))


@bp.route("/complaints/<int:complaint_id>/status", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_status(complaint_id: int):
    """Move the complaint on; resolving or rejecting needs the note the customer is texted."""
    return _act(
        complaint_id,
        lambda c, f: change_status(c, f.get("status", ""), current_user.id, f.get("note", ""), utcnow()),
        _("Saved."),
    )


@bp.route("/complaints/<int:complaint_id>/assign", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_assign(complaint_id: int):
    """Give the complaint to a supervisor or admin (or to nobody)."""
    raw = request.form.get("assignee", "")
    return _act(
        complaint_id,
        lambda c, f: assign(c, int(raw) if raw.isdigit() else None, current_user.id, utcnow()),
        _("Saved."),
    )


@bp.route("/complaints/<int:complaint_id>/note", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_note(complaint_id: int):
    """Keep a note on the complaint."""
    return _act(complaint_id, lambda c, f: add_note(c, current_user.id, f.get("note", ""), utcnow()), _("Saved."))


@bp.route("/complaints/<int:complaint_id>/category", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_category(complaint_id: int):
    """Correct the category and severity."""
    severity = request.form.get("severity", "")
    return _act(
        complaint_id,
        lambda c, f: recategorise(
            c, f.get("category", ""), int(severity) if severity.isdigit() else 0, current_user.id, utcnow()
        ),
        _("Saved."),
    )


@bp.route("/complaint-rules", methods=["GET", "POST"])
@area_required(Area.SUPERVISION)
def complaint_rules():
    """The keyword rules that suggest a complaint's category, a form to add one, and a box to try a text."""
    form = ActionForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        severity = request.form.get("severity", "")
        try:
            add_keyword(
                request.form.get("category", ""),
                request.form.get("phrase", ""),
                request.form.get("language", ""),
                int(severity) if severity.isdigit() else 0,
            )
        except ComplaintError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            status = 400
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("supervisors.complaint_rules"))
    tried = request.args.get("text", "")[:1000]
    return (
        render_template(
            "supervisors/complaint_rules.html",
            rules=db.session.scalars(
                select(ComplaintKeyword).order_by(ComplaintKeyword.category, ComplaintKeyword.phrase)
            ),
            tried=tried,
            suggestion=suggest(tried, keyword_rules()) if tried.strip() else None,
            categories=CATEGORIES,
            form=form,
        ),
        status,
    )


@bp.route("/complaint-rules/<int:rule_id>/delete", methods=["POST"])
@area_required(Area.SUPERVISION)
def delete_complaint_rule(rule_id: int):
    """Remove a keyword rule."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        remove_keyword(rule_id)
    except ComplaintError as exc:
        flash(str(exc), "error")
        return redirect(url_for("supervisors.complaint_rules"))
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("supervisors.complaint_rules"))


@bp.route("/drivers/<int:driver_id>/complaints")
@area_required(Area.SUPERVISION)
def driver_complaints(driver_id: int):
    """A driver's complaint history, newest first, with the count of the last 30 days and the flag."""
    from flask import current_app

    driver = db.session.get(Driver, driver_id) or abort(404)
    now = utcnow()
    count = recent_complaint_count(driver.id, now)
    rows = db.session.scalars(
        select(Complaint).where(Complaint.driver_id == driver.id).order_by(Complaint.created_at.desc()).limit(500)
    ).all()
    return render_template(
        "supervisors/driver_complaints.html",
        driver=driver,
        complaints=rows,
        recent=count,
        flagged=count >= current_app.config["COMPLAINT_FLAG_COUNT"],
    )


@bp.route("/feedback")
@area_required(Area.SUPERVISION)
def feedback_log():
    """Every feedback request with its steps (Twilio's payloads included), and every text that came in."""
    query = select(Feedback).order_by(Feedback.id.desc())
    status = request.args.get("status", "")
    if status:
        query = query.where(Feedback.status == status[:16])
    rating = request.args.get("rating", "")
    if rating in {"1", "2", "3", "4", "5"}:
        query = query.where(Feedback.rating == int(rating))
    outcome = request.args.get("outcome", "")
    texts = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(FEEDBACK_PAGE)
    if outcome:
        texts = texts.where(InboundMessage.outcome == outcome[:16])
    return render_template(
        "supervisors/feedback.html",
        requests=db.session.scalars(query.limit(FEEDBACK_PAGE)).all(),
        texts=db.session.scalars(texts).all(),
        status=status,
        rating=rating,
        outcome=outcome,
    )
