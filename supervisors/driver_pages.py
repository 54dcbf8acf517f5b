"""Driver pages for supervisors and admins: the driver book, a driver's profile and standing, papers to renew."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from core.extensions import db
from core.i18n import show_day, show_number
from core.models import utcnow
from core.signals import commit_and_announce
from core.timewindows import office_date
from dispatch.models import Booking, BookingStatus, OfferOutcome
from dispatch.offers import offer_counts
from drivers.accounts import (
    MAX_DOCUMENT_BYTES,
    AccountError,
    add_document,
    decide_proposal,
    document_path,
    expiring_documents,
    lift,
    suspend,
)
from drivers.models import Driver, DriverContract, DriverDocument, Suspension
from drivers.services import DriverError, create_driver, dispatch_block_reason, vehicle_of
from earnings.commission import plan_codes
from earnings.contracts import add_contract
from earnings.ledger import LedgerError, adjust, balances, last_entry, lines
from earnings.models import LedgerEntry
from feedback.complaints import flagged_drivers, recent_complaint_count
from feedback.models import Feedback
from supervisors.driver_forms import (
    DOCUMENT_KIND_NAMES,
    VEHICLE_CLASS_NAMES,
    AdjustmentForm,
    ConfirmProposalForm,
    ContractForm,
    DocumentForm,
    NewDriverForm,
    SuspendForm,
    record_forms,
)
from supervisors.routes import bp

LEDGER_LINES = 50
RECENT_TRIPS = 20
RECENT_RATINGS = 10
# Each profile form with its prefix (the page has several forms with a "reason" or a "number").
PROFILE_FORMS = {
    "contract": ContractForm,
    "paper": DocumentForm,
    "suspend": SuspendForm,
    "confirm": ConfirmProposalForm,
    "adjust": AdjustmentForm,
}


def _clock() -> tuple[datetime, date]:
    now = utcnow()
    return now, office_date(now, current_app.config["OFFICE_TIMEZONE"])


def _office_moment(value: datetime | None) -> datetime | None:
    """A moment typed on the office's wall clock (a datetime-local field) as an aware datetime."""
    return value.replace(tzinfo=ZoneInfo(current_app.config["OFFICE_TIMEZONE"])) if value is not None else None


def expiry(day: date | None, today: date) -> tuple[str, str] | None:
    """A paper's expiry badge (its class and text) when it has expired or expires within the reminder period."""
    if day is None:
        return None
    days = (day - today).days
    if days < 0:
        return "danger", _("expired")
    if days == 0:
        return "danger", _("expires today")
    if days <= current_app.config["DOCUMENT_REMINDER_DAYS"]:
        return "", ngettext("expires in %(days)s day", "expires in %(days)s days", days, days=show_number(days))
    return None


def _driver_or_404(driver_id: int) -> Driver:
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        abort(404)
    return driver


def _names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    users = db.session.scalars(select(User).where(User.id.in_(ids))).all() if ids else []
    return {u.id: u.display_name or u.username for u in users}


def _line_numbers(entry_ids: set[int | None]) -> dict[int, int]:
    ids = {i for i in entry_ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(LedgerEntry.id, LedgerEntry.seq).where(LedgerEntry.id.in_(ids))).all())


@bp.route("/drivers", methods=["GET", "POST"])
@area_required(Area.SUPERVISION)
def drivers():
    """Every driver with their car, contract, what blocks them from offers, complaint flag and balance; add one."""
    form = NewDriverForm(prefix="new")
    status = 200
    if form.validate_on_submit():
        car = {k: getattr(form, k).data for k in ("plate", "make_model", "colour", "vehicle_class")}
        try:
            driver = create_driver(
                form.call_sign.data, form.name.data, form.phone.data, form.pin.data, form.language.data, vehicle=car
            )
        except DriverError as error:
            db.session.rollback()
            flash(str(error), "error")
            status = 400
        else:
            db.session.commit()
            flash(_("Driver %(call_sign)s added.", call_sign=driver.call_sign), "success")
            return redirect(url_for("supervisors.driver", driver_id=driver.id))
    elif form.is_submitted():
        flash(_("Please correct the marked fields."), "error")
        status = 400
    now, today = _clock()
    flagged = flagged_drivers(now)
    owed = balances()
    rows = [
        {
            "driver": d,
            "vehicle": vehicle_of(d),
            "blocked": dispatch_block_reason(d, now, today),
            "complaints": flagged.get(d.id),
            "balance": owed.get(d.id, 0),
        }
        for d in db.session.scalars(select(Driver).options(selectinload(Driver.vehicles)).order_by(Driver.call_sign))
    ]
    return render_template(
        "supervisors/drivers.html",
        rows=rows,
        form=form,
        class_names=VEHICLE_CLASS_NAMES,
        currency=current_app.config["CURRENCY"],
        show_day=show_day,
    ), status


def _profile(driver: Driver, status: int = 200, **submitted):
    """Render the profile; a form that was just refused is shown as submitted, the others empty."""
    forms = {name: cls(prefix=name, formdata=None) for name, cls in PROFILE_FORMS.items()}
    forms.update(record_forms(driver))
    forms.update({name: form for name, form in submitted.items() if form is not None})
    forms["contract"].plan_code.choices = [(code, code) for code in plan_codes()]
    now, today = _clock()
    contracts = db.session.scalars(
        select(DriverContract).where(DriverContract.driver_id == driver.id).order_by(DriverContract.id.desc())
    ).all()
    documents = db.session.scalars(
        select(DriverDocument).where(DriverDocument.driver_id == driver.id).order_by(DriverDocument.id.desc())
    ).all()
    suspensions = db.session.scalars(
        select(Suspension).where(Suspension.driver_id == driver.id).order_by(Suspension.id.desc())
    ).all()
    last = last_entry(driver.id)
    ledger = list(reversed(lines(driver.id, after_seq=max(0, last.seq - LEDGER_LINES)))) if last else []
    trips = db.session.scalars(
        select(Booking)
        .where(Booking.driver_id == driver.id, Booking.status == BookingStatus.COMPLETED)
        .order_by(Booking.completed_at.desc())
        .limit(RECENT_TRIPS)
    ).all()
    rated = (Feedback.driver_id == driver.id, Feedback.rating.is_not(None))
    rating_average, rating_count = db.session.execute(
        select(func.avg(Feedback.rating), func.count()).where(*rated)
    ).one()
    ratings = db.session.scalars(
        select(Feedback).where(*rated).order_by(Feedback.answered_at.desc()).limit(RECENT_RATINGS)
    ).all()
    offers = offer_counts(driver.id)
    answered = sum(offers.get(o, 0) for o in (OfferOutcome.ACCEPTED, OfferOutcome.DECLINED, OfferOutcome.EXPIRED))
    people = (
        {c.created_by_id for c in contracts} | {d.uploaded_by_id for d in documents} | {e.author_id for e in ledger}
    )
    for s in suspensions:
        people |= {s.created_by_id, s.decided_by_id, s.lifted_by_id}
    return render_template(
        "supervisors/driver.html",
        driver=driver,
        now=now,
        today=today,
        blocked=dispatch_block_reason(driver, now, today),
        current_vehicle=vehicle_of(driver),
        contracts=contracts,
        documents=documents,
        suspensions=suspensions,
        ledger=ledger,
        balance=last.balance_after if last else 0,
        trips=trips,
        rating_average=rating_average,
        rating_count=rating_count,
        ratings=ratings,
        complaints=recent_complaint_count(driver.id, now),
        complaint_flag=current_app.config["COMPLAINT_FLAG_COUNT"],
        complaints_url=url_for("supervisors.driver", driver_id=driver.id) + "/complaints",
        offers_answered=answered,
        offers_accepted=offers.get(OfferOutcome.ACCEPTED, 0),
        names=_names(people),
        corrected=_line_numbers({e.corrects_id for e in ledger}),
        forms=forms,
        kind_names=DOCUMENT_KIND_NAMES,
        class_names=VEHICLE_CLASS_NAMES,
        reminder_days=current_app.config["DOCUMENT_REMINDER_DAYS"],
        currency=current_app.config["CURRENCY"],
        show_day=show_day,
        expiry=expiry,
    ), status


def _refused(driver: Driver, message: str | None = None, **submitted):
    """Undo whatever the service began, say why, and show the profile again with the form as typed (400)."""
    db.session.rollback()
    flash(message or _("Please correct the marked fields."), "error")
    return _profile(driver, 400, **submitted)


def _done(driver: Driver, message: str, anchor: str):
    # Announced, not just committed: a suspension or a new contract changes what the board and the phone show.
    commit_and_announce()
    flash(message, "success")
    return redirect(url_for("supervisors.driver", driver_id=driver.id, _anchor=anchor))


@bp.route("/drivers/<int:driver_id>")
@area_required(Area.SUPERVISION)
def driver(driver_id: int):
    """A driver's profile: identity, cars, standing, contracts, papers, suspensions, ledger, trips and ratings."""
    return _profile(_driver_or_404(driver_id))


@bp.route("/drivers/<int:driver_id>/contracts", methods=["POST"])
@area_required(Area.SUPERVISION)
def add_driver_contract(driver_id: int):
    """Put the driver under a new contract and its commission plan."""
    driver = _driver_or_404(driver_id)
    form = ContractForm(prefix="contract")
    if not form.validate_on_submit():
        return _refused(driver, contract=form)
    try:
        add_contract(
            driver,
            form.number.data,
            form.plan_code.data,
            form.starts_on.data,
            form.ends_on.data,
            form.terms.data,
            current_user.id,
            utcnow(),
        )
    except LedgerError as error:
        return _refused(driver, str(error), contract=form)
    return _done(driver, _("Contract added."), "contracts")


@bp.route("/drivers/<int:driver_id>/papers", methods=["POST"])
@area_required(Area.SUPERVISION)
def add_driver_paper(driver_id: int):
    """Keep a paper of the driver's; the scan's type and size are checked by the service, not trusted."""
    driver = _driver_or_404(driver_id)
    form = DocumentForm(prefix="paper")
    if not form.validate_on_submit():
        return _refused(driver, paper=form)
    upload = form.scan.data
    # One byte more than allowed is enough for the service to tell the file is too large.
    data = upload.stream.read(MAX_DOCUMENT_BYTES + 1) if upload else None
    try:
        add_document(
            driver,
            form.kind.data,
            form.number.data,
            form.expires_on.data,
            data or None,
            upload.filename if upload else "",
            current_user.id,
            utcnow(),
        )
    except AccountError as error:
        return _refused(driver, str(error), paper=form)
    return _done(driver, _("Paper added."), "papers")


@bp.route("/drivers/<int:driver_id>/papers/<int:document_id>")
@area_required(Area.SUPERVISION)
def download_paper(driver_id: int, document_id: int):
    """Download a paper's scan, only through the driver it belongs to (nosniff comes from core.security_headers)."""
    document = db.session.get(DriverDocument, document_id)
    if document is None or document.driver_id != driver_id:
        abort(404)
    path = document_path(document)
    if path is None:
        abort(404)
    response = send_file(
        path, mimetype=document.content_type, as_attachment=True, download_name=document.file_name or path.name
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/drivers/<int:driver_id>/suspensions", methods=["POST"])
@area_required(Area.SUPERVISION)
def suspend_driver(driver_id: int):
    """Keep the driver out of dispatch from a moment (now if empty) until another, or until lifted."""
    driver = _driver_or_404(driver_id)
    form = SuspendForm(prefix="suspend")
    if not form.validate_on_submit():
        return _refused(driver, suspend=form)
    now = utcnow()
    starts_at = _office_moment(form.starts_at.data) or now
    try:
        suspend(driver, form.reason.data, starts_at, _office_moment(form.ends_at.data), current_user.id, now)
    except AccountError as error:
        return _refused(driver, str(error), suspend=form)
    return _done(driver, _("Driver %(call_sign)s suspended.", call_sign=driver.call_sign), "suspensions")


def _suspension_or_404(driver: Driver, suspension_id: int) -> Suspension:
    suspension = db.session.get(Suspension, suspension_id)
    if suspension is None or suspension.driver_id != driver.id:
        abort(404)
    return suspension


@bp.route("/drivers/<int:driver_id>/suspensions/<int:suspension_id>/confirm", methods=["POST"])
@area_required(Area.SUPERVISION)
def confirm_suspension(driver_id: int, suspension_id: int):
    """Confirm a proposed suspension: in force from now, until the moment given or until lifted."""
    driver = _driver_or_404(driver_id)
    suspension = _suspension_or_404(driver, suspension_id)
    form = ConfirmProposalForm(prefix="confirm")
    if not form.validate_on_submit():
        return _refused(driver, confirm=form)
    try:
        decide_proposal(suspension, True, _office_moment(form.ends_at.data), current_user.id, utcnow())
    except AccountError as error:
        return _refused(driver, str(error), confirm=form)
    return _done(driver, _("Suspension confirmed."), "suspensions")


@bp.route("/drivers/<int:driver_id>/suspensions/<int:suspension_id>/decline", methods=["POST"])
@area_required(Area.SUPERVISION)
def decline_suspension(driver_id: int, suspension_id: int):
    """Turn down a proposed suspension; the driver keeps working."""
    driver = _driver_or_404(driver_id)
    suspension = _suspension_or_404(driver, suspension_id)
    try:
        decide_proposal(suspension, False, None, current_user.id, utcnow())
    except AccountError as error:
        return _refused(driver, str(error))
    return _done(driver, _("Suspension declined."), "suspensions")


@bp.route("/drivers/<int:driver_id>/suspensions/<int:suspension_id>/lift", methods=["POST"])
@area_required(Area.SUPERVISION)
def lift_suspension(driver_id: int, suspension_id: int):
    """End a suspension now."""
    driver = _driver_or_404(driver_id)
    suspension = _suspension_or_404(driver, suspension_id)
    try:
        lift(suspension, current_user.id, utcnow())
    except AccountError as error:
        return _refused(driver, str(error))
    return _done(driver, _("Suspension lifted."), "suspensions")


@bp.route("/drivers/<int:driver_id>/adjustments", methods=["POST"])
@area_required(Area.SUPERVISION)
def adjust_ledger(driver_id: int):
    """Post a bonus, a fine, a refund or a correction on the driver's ledger, with its reason and author."""
    driver = _driver_or_404(driver_id)
    form = AdjustmentForm(prefix="adjust")
    if not form.validate_on_submit():
        return _refused(driver, adjust=form)
    corrects_id = None
    if form.corrects_seq.data is not None:
        corrects_id = db.session.scalar(
            select(LedgerEntry.id).where(LedgerEntry.driver_id == driver.id, LedgerEntry.seq == form.corrects_seq.data)
        )
        if corrects_id is None:
            message = _("There is no line #%(seq)s on this driver's ledger.", seq=form.corrects_seq.data)
            return _refused(driver, message, adjust=form)
    try:
        entry = adjust(driver.id, form.amount.data, form.reason.data, current_user.id, utcnow(), corrects_id)
    except LedgerError as error:
        return _refused(driver, str(error), adjust=form)
    return _done(driver, _("Line #%(seq)s posted.", seq=entry.seq), "ledger")


@bp.route("/papers")
@area_required(Area.SUPERVISION)
def papers():
    """Papers of active drivers that expire within the reminder period or have expired, soonest first."""
    now, today = _clock()
    days = current_app.config["DOCUMENT_REMINDER_DAYS"]
    documents = expiring_documents(now, days)
    owners = {
        d.id: d for d in db.session.scalars(select(Driver).where(Driver.id.in_({x.driver_id for x in documents})))
    }
    return render_template(
        "supervisors/papers.html",
        documents=documents,
        owners=owners,
        today=today,
        reminder_days=days,
        kind_names=DOCUMENT_KIND_NAMES,
        show_day=show_day,
        expiry=expiry,
    )
