"""The supervisor's complaint log: filters and search, CSV, a complaint's page with its handling, keyword rules,
a driver's complaint history, and the feedback log (every request, its steps and every text in)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area, Role
from core.extensions import db
from core.i18n import show_number
from core.models import utcnow
from core.text import ascii_digits
from crm.models import Subscriber
from dispatch.models import Booking, BookingEvent
from drivers.models import Driver
from feedback.complaint_log import ComplaintFilter, FilterError, complaint_page, csv_rows, office_midnight, read_filter
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
from feedback.keywords import CATEGORY_NAMES, suggest
from feedback.models import Complaint, ComplaintKeyword, ComplaintStatus, Feedback, FeedbackStatus, InboundMessage
from geo.models import Zone
from supervisors.complaint_forms import (
    AssignForm,
    ButtonForm,
    CategoryForm,
    ComplaintFilterForm,
    FeedbackFilterForm,
    KeywordForm,
    NoteForm,
    StatusForm,
    options,
)
from supervisors.routes import bp

PER_PAGE = 50
TRY_TEXT_LENGTH = 1000
STATUS_NAMES = {
    "new": _l("new"),
    "investigating": _l("investigating"),
    "resolved": _l("resolved"),
    "rejected": _l("rejected"),
}
SEVERITY_NAMES = {1: _l("low"), 2: _l("normal"), 3: _l("high")}
SOURCE_NAMES = {"rating": _l("low rating"), "sms": _l("text message"), "phone": _l("phone call"), "agent": _l("agent")}
ACTION_NAMES = {
    "opened": _l("opened"),
    "status": _l("status changed"),
    "assigned": _l("assigned"),
    "note": _l("note"),
    "recategorised": _l("recategorised"),
    "customer": _l("customer wrote again"),
    "transcript": _l("call transcribed"),
}
FEEDBACK_STATUS_NAMES = {
    "scheduled": _l("scheduled"),
    "requested": _l("requested"),
    "answered": _l("answered"),
    "expired": _l("expired"),
    "skipped": _l("skipped"),
    "failed": _l("failed"),
}
CHANNEL_NAMES = {"sms": _l("text message"), "ivr": _l("automated call"), "agent": _l("agent")}
OUTCOME_NAMES = {
    "feedback_reply": _l("feedback reply"),
    "complaint": _l("complaint"),
    "opt_out": _l("opt-out"),
    "opt_in": _l("opt-in"),
    "logged": _l("logged only"),
}
NAMES = {
    "category": CATEGORY_NAMES,
    "status": STATUS_NAMES,
    "severity": SEVERITY_NAMES,
    "source": SOURCE_NAMES,
    "action": ACTION_NAMES,
    "feedback_status": FEEDBACK_STATUS_NAMES,
    "channel": CHANNEL_NAMES,
    "outcome": OUTCOME_NAMES,
}


def pretty(data) -> str:
    """A logged payload as indented JSON, Persian left readable (escaped by the template as text)."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _page_number() -> int:
    page = ascii_digits(request.args.get("page", "1")).strip()
    return int(page) if page.isdigit() and int(page) > 0 else 1


def _usernames(ids) -> dict[int, str]:
    wanted = {i for i in ids if i}
    return {u.id: u.username for u in db.session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}


def _by_id(model, ids) -> dict:
    wanted = {i for i in ids if i}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(wanted)))} if wanted else {}


def _zone_names() -> dict[int, str]:
    persian = str(get_locale()) == "fa"
    return {z.id: z.name_fa if persian else z.name_en for z in db.session.scalars(select(Zone).order_by(Zone.code))}


def _users(*roles: str, active_only: bool = False) -> list[User]:
    query = select(User).where(User.role.in_([str(r) for r in roles])).order_by(User.username)
    return list(db.session.scalars(query.where(User.active.is_(True)) if active_only else query))


def _log_form(zones: dict[int, str]) -> ComplaintFilterForm:
    everything = _("All")
    form = ComplaintFilterForm(formdata=request.args)
    form.status.choices = options(STATUS_NAMES.items(), everything)
    form.category.choices = options(CATEGORY_NAMES.items(), everything)
    form.severity.choices = options(SEVERITY_NAMES.items(), everything)
    form.sla_breached.choices = options([("1", _("SLA breached")), ("0", _("within SLA"))], everything)
    form.zone_id.choices = options(zones.items(), everything)
    # Bookings are taken at the console, by agents and by supervisors and admins standing in.
    agents = _users(Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
    form.agent_id.choices = options(((u.id, u.username) for u in agents), everything)
    form.assigned_to_id.choices = options(((u.id, u.username) for u in _users(*HANDLERS)), everything)
    return form


@bp.route("/complaints")
@area_required(Area.SUPERVISION)
def complaints():
    """The complaint log, newest first, by dates, status, category, driver, agent, zone, severity, SLA and words."""
    now = utcnow()
    zones = _zone_names()
    form = _log_form(zones)
    try:
        wanted = read_filter(request.args)
    except FilterError as exc:
        for name, message in exc.fields.items():
            if name in form:
                form[name].errors = [message]
        stray = {name: message for name, message in exc.fields.items() if name not in form}
        return render_template("supervisors/complaints.html", form=form, stray=stray, complaints=[], total=0), 400
    page = _page_number()
    rows, total = complaint_page(wanted, page, PER_PAGE, now)
    return render_template(
        "supervisors/complaints.html",
        form=form,
        stray={},
        complaints=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        args=wanted.as_args(),
        late={c.id for c in rows if sla_breached(c, now)},
        flagged=flagged_drivers(now),
        people=_usernames(c.assigned_to_id for c in rows),
        drivers=_by_id(Driver, (c.driver_id for c in rows)),
        subscribers=_by_id(Subscriber, (c.subscriber_id for c in rows)),
        zones=zones,
        names=NAMES,
    )


@bp.route("/complaints.csv")
@area_required(Area.SUPERVISION)
def complaints_csv():
    """The filtered log as CSV (spreadsheet-safe cells), written to a temporary file first."""
    try:
        wanted = read_filter(request.args)
    except FilterError:
        # The log page says what is wrong with the filter, next to the field.
        return redirect(url_for("supervisors.complaints", **request.args), 303)
    # A temporary file: a big log must not sit in memory, and a failure midway must not send half a file.
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (send_file closes it once sent)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    csv.writer(text).writerows(csv_rows(wanted))
    text.flush()
    text.detach()
    spool.seek(0)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return send_file(spool, mimetype="text/csv", as_attachment=True, download_name=f"complaints-{stamp}.csv")


def _complaint_or_404(complaint_id: int) -> Complaint:
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        abort(404)
    return complaint


def _action_forms(item: Complaint) -> dict:
    """The complaint page's forms, their choices filled for this complaint."""
    status = StatusForm()
    status.status.choices = options((s, STATUS_NAMES[s]) for s in NEXT_STATUSES.get(ComplaintStatus(item.status), ()))
    handlers = [(u.id, u.username) for u in _users(*HANDLERS, active_only=True)]
    if item.assigned_to_id and item.assigned_to_id not in dict(handlers):
        # Shown as it is, even when that person can no longer take complaints, rather than as "nobody".
        handlers.append((item.assigned_to_id, _usernames([item.assigned_to_id]).get(item.assigned_to_id, "?")))
    assignee = AssignForm(data={"assignee": item.assigned_to_id})
    assignee.assignee.choices = options(handlers, _("nobody"))
    category = CategoryForm(data={"category": item.category, "severity": item.severity})
    category.category.choices = options(CATEGORY_NAMES.items())
    category.severity.choices = options(SEVERITY_NAMES.items())
    return {
        "status_form": status,
        "assign_form": assignee,
        "category_form": category,
        "note_form": NoteForm(),
    }


@bp.route("/complaints/<int:complaint_id>")
@area_required(Area.SUPERVISION)
def complaint(complaint_id: int):
    """One complaint: what was said, the trip's timeline and route, the recording, the audit trail, the actions."""
    item = _complaint_or_404(complaint_id)
    booking = db.session.get(Booking, item.booking_id) if item.booking_id else None
    timeline = []
    if booking is not None:
        timeline = list(
            db.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking.id).order_by(BookingEvent.id)
            )
        )
    texts = db.session.scalars(
        select(InboundMessage).where(InboundMessage.complaint_id == item.id).order_by(InboundMessage.id)
    ).all()
    return render_template(
        "supervisors/complaint.html",
        complaint=item,
        booking=booking,
        timeline=timeline,
        feedback=db.session.get(Feedback, item.feedback_id) if item.feedback_id else None,
        texts=texts,
        subscriber=db.session.get(Subscriber, item.subscriber_id) if item.subscriber_id else None,
        driver=db.session.get(Driver, item.driver_id) if item.driver_id else None,
        zone=_zone_names().get(item.zone_id, ""),
        people=_usernames(
            [e.user_id for e in item.events] + [e.user_id for e in timeline] + [item.assigned_to_id, item.agent_id]
        ),
        late=sla_breached(item, utcnow()),
        names=NAMES,
        **_action_forms(item),
    )


def _act(complaint_id: int, form, change):
    """Check the posted form, let the complaint engine act, commit; a refusal is flashed and changes nothing."""
    item = _complaint_or_404(complaint_id)
    back = url_for("supervisors.complaint", complaint_id=complaint_id)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors or not form.is_submitted():
            abort(400)
        flash("; ".join(str(e) for errors in form.errors.values() for e in errors), "error")
        return redirect(back, 303)
    try:
        change(item)
    except ComplaintError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back, 303)
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(back)


@bp.route("/complaints/<int:complaint_id>/status", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_status(complaint_id: int):
    """Move the complaint on; resolving or rejecting needs the note the customer is texted."""
    form = StatusForm()
    return _act(
        complaint_id,
        form,
        lambda c: change_status(c, form.status.data or "", current_user.id, form.note.data, utcnow()),
    )


@bp.route("/complaints/<int:complaint_id>/assign", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_assign(complaint_id: int):
    """Give the complaint to a supervisor or admin (or to nobody)."""
    form = AssignForm()
    return _act(complaint_id, form, lambda c: assign(c, form.assignee.data, current_user.id, utcnow()))


@bp.route("/complaints/<int:complaint_id>/note", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_note(complaint_id: int):
    """Keep a note on the complaint."""
    form = NoteForm()
    return _act(complaint_id, form, lambda c: add_note(c, current_user.id, form.note.data, utcnow()))


@bp.route("/complaints/<int:complaint_id>/category", methods=["POST"])
@area_required(Area.SUPERVISION)
def complaint_category(complaint_id: int):
    """Correct the category and severity."""
    form = CategoryForm()
    return _act(
        complaint_id,
        form,
        lambda c: recategorise(c, form.category.data or "", form.severity.data, current_user.id, utcnow()),
    )


@bp.route("/complaint-rules", methods=["GET", "POST"])
@area_required(Area.SUPERVISION)
def complaint_rules():
    """The keyword rules that suggest a complaint's category, a form to add one, and a box to try a text."""
    form = KeywordForm()
    form.category.choices = options(CATEGORY_NAMES.items())
    form.severity.choices = options(SEVERITY_NAMES.items())
    status = 200
    if form.is_submitted():
        if not form.validate_on_submit():
            if "csrf_token" in form.errors:
                abort(400)
            status = 400
        else:
            try:
                add_keyword(form.category.data or "", form.phrase.data, form.language.data or "", form.severity.data)
            except ComplaintError as exc:
                db.session.rollback()
                flash(str(exc), "error")
                status = 400
            else:
                db.session.commit()
                flash(_("Rule added."), "success")
                return redirect(url_for("supervisors.complaint_rules"))
    tried = request.args.get("text", "")[:TRY_TEXT_LENGTH]
    rules = db.session.scalars(
        select(ComplaintKeyword).order_by(ComplaintKeyword.category, ComplaintKeyword.language, ComplaintKeyword.phrase)
    ).all()
    return (
        render_template(
            "supervisors/complaint_rules.html",
            rules=rules,
            tried=tried,
            suggestion=suggest(tried, keyword_rules()) if tried.strip() else None,
            form=form,
            button=ButtonForm(),
            names=NAMES,
        ),
        status,
    )


@bp.route("/complaint-rules/<int:rule_id>/delete", methods=["POST"])
@area_required(Area.SUPERVISION)
def delete_complaint_rule(rule_id: int):
    """Remove a keyword rule."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        remove_keyword(rule_id)
    except ComplaintError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Rule deleted."), "success")
    return redirect(url_for("supervisors.complaint_rules"))


@bp.route("/drivers/<int:driver_id>/complaints")
@area_required(Area.SUPERVISION)
def driver_complaints(driver_id: int):
    """A driver's complaint history, newest first, with the count of the last 30 days and the flag."""
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        abort(404)
    now = utcnow()
    page = _page_number()
    rows, total = complaint_page(ComplaintFilter(driver_id=driver.id), page, PER_PAGE, now)
    recent = recent_complaint_count(driver.id, now)
    return render_template(
        "supervisors/driver_complaints.html",
        driver=driver,
        complaints=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        recent=recent,
        flag_count=current_app.config["COMPLAINT_FLAG_COUNT"],
        flagged=recent >= current_app.config["COMPLAINT_FLAG_COUNT"],
        late={c.id for c in rows if sla_breached(c, now)},
        names=NAMES,
    )


def _feedback_form() -> FeedbackFilterForm:
    everything = _("All")
    form = FeedbackFilterForm(formdata=request.args)
    form.status.choices = options(((s, FEEDBACK_STATUS_NAMES[s]) for s in FeedbackStatus), everything)
    form.channel.choices = options(CHANNEL_NAMES.items(), everything)
    form.rating.choices = options(((n, show_number(n)) for n in range(1, 6)), everything)
    form.outcome.choices = options(OUTCOME_NAMES.items(), everything)
    return form


def _feedback_query(form: FeedbackFilterForm):
    """The feedback requests the (valid) filter asks for, newest first; the days are the office's."""
    query = select(Feedback).options(selectinload(Feedback.events)).order_by(Feedback.id.desc())
    for name in ("status", "channel"):
        if getattr(form, name).data:
            query = query.where(getattr(Feedback, name) == getattr(form, name).data)
    if form.rating.data:
        query = query.where(Feedback.rating == int(form.rating.data))
    if form.driver_id.data:
        query = query.where(Feedback.driver_id == int(ascii_digits(form.driver_id.data)))
    if form.date_from.data:
        query = query.where(Feedback.created_at >= office_midnight(date.fromisoformat(form.date_from.data)))
    if form.date_to.data:
        end = date.fromisoformat(form.date_to.data) + timedelta(days=1)
        query = query.where(Feedback.created_at < office_midnight(end))
    return query


@bp.route("/feedback")
@area_required(Area.SUPERVISION)
def feedback_log():
    """Every feedback request with its steps (Twilio's payloads included), and every text that came in."""
    form = _feedback_form()
    if not form.validate():
        return render_template(
            "supervisors/feedback.html",
            form=form,
            requests=[],
            texts=[],
            total=0,
            names=NAMES,
            pretty=pretty,
            texts_limit=0,
        ), 400
    page = _page_number()
    query = _feedback_query(form)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    requests = db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    texts = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(PER_PAGE)
    if form.outcome.data:
        texts = texts.where(InboundMessage.outcome == form.outcome.data)
    return render_template(
        "supervisors/feedback.html",
        form=form,
        requests=requests,
        texts=db.session.scalars(texts).all(),
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        args={k: v for k, v in request.args.items() if k != "page" and v},
        drivers=_by_id(Driver, (f.driver_id for f in requests)),
        names=NAMES,
        pretty=pretty,
        texts_limit=PER_PAGE,
    )
