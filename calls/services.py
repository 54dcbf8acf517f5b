"""The desk's call book: recording calls as the network reports them, who took which, and agent states.

Functions here only flush; the webhook, request or job that calls them commits. A call's own row is the
guard against races: taking a call is one conditional UPDATE, so two agents clicking at once cannot
both win.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from calls.models import (
    MISSED_CALL_STATUSES,
    AgentPresence,
    AgentState,
    AgentStateChange,
    Call,
    CallEvent,
    CallStatus,
)
from core.database import savepoint
from core.extensions import db
from core.models import utcnow
from crm.phones import PhoneNumberError, to_e164
from crm.services import find_by_phone

# What networks put in From when the caller hides their number, including Twilio's placeholder numbers.
WITHHELD_CALLERS = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unknown",
        "unavailable",
        "blocked",
        "private",
        "withheld",
        "+266696687",
        "+86282452253",
        "+8656696",
        "+7378742833",
        "+2562533",
    }
)
DISPOSITIONS = ("booked", "enquiry", "where_is_my_car", "complaint", "cancellation", "wrong_number", "other")
FIELD_LIMIT = 64


class CallConflict(Exception):
    """A change to a call that lost a race or does not fit the call's state."""


def caller_number(raw: str | None, region: str) -> str | None:
    """The caller's number in E.164, or None when it is withheld or not a number at all."""
    text = (raw or "").strip()
    if text.lower() in WITHHELD_CALLERS:
        return None
    try:
        return to_e164(text, region)
    except PhoneNumberError:
        return None


def _event(call: Call, status: str, payload: dict | None) -> None:
    db.session.add(CallEvent(call_id=call.id, status=status[:32], payload=payload or {}))


def find_call(provider_sid: str) -> Call | None:
    """The call Twilio knows by this CallSid."""
    return db.session.scalar(select(Call).where(Call.provider_sid == provider_sid))


def record_inbound_call(provider_sid: str, from_raw: str, to_raw: str, region: str, payload: dict) -> tuple[Call, bool]:
    """Keep a call that just reached the desk; a retried webhook returns the first record and False."""
    existing = find_call(provider_sid)
    if existing is not None:
        return existing, False
    e164 = caller_number(from_raw, region)
    subscriber = find_by_phone(e164, region) if e164 else None
    call = Call(
        provider_sid=provider_sid,
        direction="inbound",
        from_number=(from_raw or "")[:FIELD_LIMIT],
        caller_e164=e164,
        to_number=(to_raw or "")[:FIELD_LIMIT],
        subscriber_id=subscriber.id if subscriber else None,
        status=CallStatus.QUEUED,
        queued_at=utcnow(),
    )
    try:
        with savepoint():
            db.session.add(call)
            db.session.flush()
    except IntegrityError:
        # The same webhook, retried, arrived twice at once: the other request stored it first.
        return find_call(provider_sid), False
    _event(call, "incoming", payload)
    db.session.flush()
    return call, True


def set_call_status(call: Call, status: CallStatus, payload: dict | None = None) -> Call:
    """Move a call to a state the network or the menu reported, and keep the step."""
    call.status = status
    _event(call, status, payload)
    db.session.flush()
    return call


def claim_call(call_id: int, agent_id: int) -> Call:
    """Give a waiting call to the agent who clicked first; everyone else gets CallConflict."""
    busy = db.session.scalar(
        select(Call.id).where(Call.agent_id == agent_id, Call.status.in_([CallStatus.RINGING, CallStatus.ANSWERED]))
    )
    if busy is not None:
        raise CallConflict("you are already on a call")
    taken = db.session.execute(
        update(Call)
        .where(Call.id == call_id, Call.status == CallStatus.QUEUED, Call.agent_id.is_(None))
        .values(status=CallStatus.RINGING, agent_id=agent_id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise CallConflict("this call was taken by someone else or is no longer waiting")
    call = db.session.get(Call, call_id)
    db.session.refresh(call)
    _event(call, "claimed", {"agent_id": agent_id})
    db.session.flush()
    return call


def release_call(call: Call, reason: str) -> Call:
    """Put a call an agent could not be connected to back at the front of the queue."""
    if call.status == CallStatus.RINGING:
        call.status, call.agent_id = CallStatus.QUEUED, None
        _event(call, "released", {"reason": reason[:200]})
        db.session.flush()
    return call


def mark_answered(call: Call, payload: dict | None = None) -> Call:
    """The agent picked up: the conversation starts now."""
    if call.status in (CallStatus.RINGING, CallStatus.QUEUED):
        call.status, call.answered_at = CallStatus.ANSWERED, utcnow()
        _event(call, "answered", payload)
        db.session.flush()
    return call


def mark_ended(call: Call, payload: dict | None = None, at: datetime | None = None) -> Call:
    """The line closed: a caller who never reached an agent abandoned the call; repeated reports change nothing."""
    if call.ended_at is not None:
        return call
    call.ended_at = at or utcnow()
    if call.status == CallStatus.ANSWERED:
        call.status = CallStatus.COMPLETED
    elif call.status in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.MENU, CallStatus.DIALING):
        call.status = CallStatus.ABANDONED
    _event(call, "ended", payload)
    db.session.flush()
    return call


def wrap_up(call: Call, agent_id: int, disposition: str, notes: str = "") -> Call:
    """The agent's last word on a call: what it was about, and an optional note."""
    if call.agent_id != agent_id:
        raise CallConflict("only the agent who took the call can wrap it up")
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of: {', '.join(DISPOSITIONS)}")
    if len(notes) > 2000:
        raise ValueError("the note may be at most 2000 characters")
    call.disposition, call.notes, call.wrapped_up_at = disposition, notes.strip(), utcnow()
    _event(call, "wrapped_up", {"disposition": disposition})
    db.session.flush()
    return call


def waiting_calls() -> list[Call]:
    """Calls waiting for an agent, longest wait first."""
    return list(
        db.session.scalars(select(Call).where(Call.status == CallStatus.QUEUED).order_by(Call.queued_at, Call.id))
    )


def current_call(agent_id: int) -> Call | None:
    """The call an agent is on, being rung for, or wrapping up, if any."""
    live = db.session.scalar(
        select(Call)
        .where(Call.agent_id == agent_id, Call.status.in_([CallStatus.RINGING, CallStatus.ANSWERED]))
        .order_by(Call.id.desc())
    )
    if live is not None:
        return live
    presence = db.session.get(AgentPresence, agent_id)
    if presence is not None and presence.state == AgentState.WRAP_UP and presence.call_id:
        return db.session.get(Call, presence.call_id)
    return None


def missed_calls(limit: int = 50) -> list[Call]:
    """Calls nobody talked to and nobody has dealt with yet, newest first."""
    return list(
        db.session.scalars(
            select(Call)
            .where(Call.status.in_(MISSED_CALL_STATUSES), Call.handled_at.is_(None), Call.caller_e164.is_not(None))
            .order_by(Call.id.desc())
            .limit(limit)
        )
    )


def mark_handled(call: Call, user_id: int) -> Call:
    """Someone called back or dealt with a missed call."""
    if call.handled_at is None:
        call.handled_at, call.handled_by_id = utcnow(), user_id
        db.session.flush()
    return call


def set_agent_state(user_id: int, state: AgentState, call_id: int | None = None) -> AgentPresence:
    """Record an agent's new state (and keep the change for the reports); the same state again is no change."""
    presence = db.session.get(AgentPresence, user_id)
    if presence is None:
        presence = AgentPresence(user_id=user_id, state=AgentState.OFFLINE, since=utcnow())
        db.session.add(presence)
    if presence.state != state or presence.call_id != call_id:
        presence.state, presence.since, presence.call_id = state, utcnow(), call_id
        db.session.add(AgentStateChange(user_id=user_id, state=state, call_id=call_id))
    db.session.flush()
    return presence


def agent_state(user_id: int) -> str:
    """An agent's current state."""
    presence = db.session.get(AgentPresence, user_id)
    return presence.state if presence else AgentState.OFFLINE


def agents_ready() -> int:
    """How many agents are logged in to the console and not away."""
    return db.session.scalar(
        select(func.count()).where(
            AgentPresence.state.in_([AgentState.AVAILABLE, AgentState.ON_CALL, AgentState.WRAP_UP])
        )
    )
