"""What an agent does with calls from the console: answer, wrap up, call back, set their state.

Answers are JSON for the console's script; every write needs the page's CSRF token in X-CSRFToken.
"""

from __future__ import annotations

from flask import abort, current_app, jsonify, request
from flask_login import current_user

from accounts.auth import area_required
from accounts.roles import Area
from agents.blueprint import bp
from calls.models import AgentState, Call
from calls.services import (
    DISPOSITIONS,
    CallConflict,
    claim_call,
    mark_handled,
    record_outbound_call,
    release_call,
    set_agent_state,
    wrap_up,
)
from calls.signals import commit_and_announce
from core.errors import json_error
from core.extensions import db
from crm.phones import PhoneNumberError, to_e164
from twilio_rest.client import TwilioError

SETTABLE_STATES = (AgentState.AVAILABLE, AgentState.AWAY)


def _error(status: int, code: str, message: str):
    return json_error(status, code, message)


def _call_or_404(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    return call


@bp.route("/calls/<int:call_id>/answer", methods=["POST"])
@area_required(Area.CONSOLE)
def answer_call(call_id: int):
    """Take a waiting call: exactly one agent wins; the caller is then rung through to them."""
    from telephony.bridge import connect_agent

    try:
        call = claim_call(call_id, current_user.id)
    except CallConflict as conflict:
        db.session.rollback()
        return _error(409, "conflict", str(conflict))
    commit_and_announce()
    try:
        connect_agent(call, current_user)
    except TwilioError as exc:
        release_call(call, f"could not reach Twilio: {exc}")
        commit_and_announce()
        return _error(502, "telephony", "The call could not be put through. It is back in the queue.")
    return jsonify(id=call.id, status=call.status)


@bp.route("/calls/<int:call_id>/wrap-up", methods=["POST"])
@area_required(Area.CONSOLE)
def wrap_up_call(call_id: int):
    """Close the agent's work on a call with a disposition and an optional note."""
    call = _call_or_404(call_id)
    body = request.get_json(silent=True) or {}
    try:
        wrap_up(call, current_user.id, str(body.get("disposition", "")), body.get("notes", ""))
    except CallConflict as conflict:
        db.session.rollback()
        return _error(409, "conflict", str(conflict))
    except ValueError as invalid:
        db.session.rollback()
        return _error(400, "invalid", str(invalid))
    commit_and_announce()
    return jsonify(id=call.id, disposition=call.disposition)


@bp.route("/presence", methods=["POST"])
@area_required(Area.CONSOLE)
def set_presence():
    """The agent steps away or comes back."""
    state = (request.get_json(silent=True) or {}).get("state")
    if state not in SETTABLE_STATES:
        return _error(400, "invalid", f"state must be one of: {', '.join(SETTABLE_STATES)}")
    set_agent_state(current_user.id, AgentState(state))
    commit_and_announce()
    return jsonify(state=state)


@bp.route("/calls/<int:call_id>/handled", methods=["POST"])
@area_required(Area.CONSOLE)
def handled(call_id: int):
    """A missed call was dealt with: it leaves the list."""
    call = _call_or_404(call_id)
    mark_handled(call, current_user.id)
    commit_and_announce()
    return jsonify(id=call.id, handled_at=call.handled_at.isoformat())


@bp.route("/call-back", methods=["POST"])
@area_required(Area.CONSOLE)
def call_back_route():
    """Click-to-call: ring the agent, then the customer; a missed call given by ``call_id`` is marked handled."""
    from telephony.bridge import call_back

    body = request.get_json(silent=True) or {}
    try:
        number = to_e164(str(body.get("number", "")), current_app.config["DEFAULT_REGION"])
    except PhoneNumberError as exc:
        return _error(400, "invalid", str(exc))
    try:
        sid = call_back(number, current_user)
    except TwilioError as exc:
        current_app.logger.warning("call-back failed: %s", exc)
        return _error(502, "telephony", "The call could not be placed. Please try again.")
    outbound = record_outbound_call(sid, number, current_user.id, current_app.config["DEFAULT_REGION"])
    missed_id = body.get("call_id")
    if isinstance(missed_id, int) and (missed := db.session.get(Call, missed_id)) is not None:
        mark_handled(missed, current_user.id)
    commit_and_announce()
    return jsonify(id=outbound.id, sid=sid), 201


@bp.route("/dispositions")
@area_required(Area.CONSOLE)
def dispositions():
    """The wrap-up codes."""
    return jsonify(items=list(DISPOSITIONS))


@bp.route("/voice-token")
@area_required(Area.CONSOLE)
def voice_token():
    """A token for the agent's browser softphone; 503 when the office has not set browser calls up."""
    from telephony.bridge import client_identity
    from telephony.softphone import TOKEN_SECONDS, softphone_token
    from twilio_rest.client import TwilioNotConfigured

    identity = client_identity(current_user)
    try:
        token = softphone_token(identity)
    except TwilioNotConfigured as exc:
        return _error(503, "not_configured", str(exc))
    return jsonify(token=token, identity=identity, expires_in=TOKEN_SECONDS)
