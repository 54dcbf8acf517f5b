"""The outbox as admins see it: every text, the failed ones with Twilio's reason, and a retry for each."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from accounts.auth import area_required
from accounts.roles import Area
from admin.routes import bp
from core.extensions import db
from notifications.models import MessageStatus, OutboundMessage
from notifications.outbox import retry_message

PAGE_SIZE = 200


def _filters() -> dict[str, str]:
    status = request.args.get("status", "")
    kind = request.args.get("kind", "")
    return {
        "status": status if status in set(MessageStatus) else "",
        "kind": kind[:32],
    }


@bp.route("/messages")
@area_required(Area.ADMINISTRATION)
def messages():
    """The outbox, newest first, filtered by status and kind; failed texts show why."""
    filters = _filters()
    query = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(PAGE_SIZE)
    if filters["status"]:
        query = query.where(OutboundMessage.status == filters["status"])
    if filters["kind"]:
        query = query.where(OutboundMessage.kind == filters["kind"])
    rows = db.session.scalars(query).all()
    counts = dict(
        db.session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all()
    )
    kinds = db.session.scalars(select(OutboundMessage.kind).distinct().order_by(OutboundMessage.kind)).all()
    return render_template(
        "admin/messages.html",
        texts=rows,
        filters=filters,
        counts=counts,
        kinds=kinds,
        statuses=list(MessageStatus),
        page_size=PAGE_SIZE,
    )


@bp.route("/messages/<int:message_id>/retry", methods=["POST"])
@area_required(Area.ADMINISTRATION)
def retry(message_id: int):
    """Send a failed text again (CSRF-checked like every form); it goes out once this request commits."""
    if retry_message(message_id):
        db.session.commit()
        flash(_("Text %(id)s will be sent again.", id=message_id), "success")
    else:
        db.session.rollback()
        flash(_("Text %(id)s is not a failed text; nothing to retry.", id=message_id), "error")
    back = {key: value for key, value in _filters().items() if value}
    return redirect(url_for("admin.messages", **back))
