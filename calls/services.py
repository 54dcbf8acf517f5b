"""The desk's call book: the life of every call and of the agents who take them.

Functions here only flush and queue signals; the webhook, request or job that calls them commits with
``calls.signals.commit_and_announce``. A call's state is moved only by conditional UPDATEs that name the
state they expect, so two actors at once (two agents clicking Answer, a hang-up while an agent is being
rung) cannot both win; the database's partial unique index keeps an agent on one live call at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from calls.intake import Route
from calls.models import (
    MISSED_CALL_STATUSES,
    AgentPresence,
    AgentState,
    AgentStateChange,
    Call,
    CallEvent,
    CallStatus,
)
from calls.signals import agent_state_changed, call_changed, queue_signal
from core.database import savepoint
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
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
NOTE_LIMIT = 2000


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
    _events(call, (status, payload))


def _events(call: Call, *steps: tuple[str, dict | None]) -> None:
    """Keep steps of a call's history, all in one INSERT (nothing needs their ids)."""
    rows = [{"call_id": call.id, "status": status[:32], "payload": payload or {}} for status, payload in steps]
    db.session.execute(insert(CallEvent), rows)


def _tell(call: Call, event: str) -> None:
    queue_signal(call_changed, call_id=call.id, event=event)


def _move(call: Call, expected: tuple[str, ...], **values) -> bool:
    """Change a call only if it is still in one of the ``expected`` states; True if it was."""
    moved = db.session.execute(
        update(Call)
        .where(Call.id == call.id, Call.status.in_(expected))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(call)
    return moved.rowcount == 1


def find_call(provider_sid: str) -> Call | None:
    """The call Twilio knows by this CallSid."""
    return db.session.scalar(select(Call).where(Call.provider_sid == provider_sid))


ROUTE_STATUS = {Route.REJECT: CallStatus.REJECTED, Route.MENU: CallStatus.MENU, Route.QUEUE: CallStatus.QUEUED}


def record_inbound_call(
    provider_sid: str,
    from_raw: str,
    to_raw: str,
    region: str,
    payload: dict,
    route_for: Callable[[Subscriber | None], Route],
) -> tuple[Call, bool]:
    """Keep a call that just reached the desk, already where ``route_for(caller)`` sends it.

    The route is worked out before the first write, so that SQLite's write lock is held only for the
    inserts. A retried webhook returns the first record and False: the unique CallSid refuses its INSERT
    (no SELECT first, which every new call would miss).
    """
    e164 = caller_number(from_raw, region)
    subscriber = find_by_phone(e164, region) if e164 else None
    route = route_for(subscriber)
    call = Call(
        provider_sid=provider_sid,
        direction="inbound",
        from_number=(from_raw or "")[:FIELD_LIMIT],
        caller_e164=e164,
        to_number=(to_raw or "")[:FIELD_LIMIT],
        subscriber=subscriber,
        status=ROUTE_STATUS[route],
        queued_at=utcnow(),
    )
    try:
        with savepoint():
            db.session.add(call)
            db.session.flush()
    except IntegrityError:
        # The same webhook, retried (or twice at once): the first delivery stored the call.
        return find_call(provider_sid), False
    _events(call, ("incoming", payload), (f"route:{route}", None))
    if route is Route.QUEUE:
        _tell(call, "waiting")
    db.session.flush()
    return call, True


def record_outbound_call(provider_sid: str, number: str, agent_id: int, region: str) -> Call:
    """Keep a call an agent placed from the console (click-to-call), linked to the subscriber it rings."""
    subscriber = find_by_phone(number, region)
    call = Call(
        provider_sid=provider_sid,
        direction="outbound",
        from_number="",
        caller_e164=number,
        to_number=number,
        subscriber_id=subscriber.id if subscriber else None,
        agent_id=agent_id,
        status=CallStatus.DIALING,
        queued_at=utcnow(),
    )
    db.session.add(call)
    db.session.flush()
    return call


def long_waits(max_wait_seconds: int) -> list[Call]:
    """Calls that have waited in the queue longer than the office lets a caller wait."""
    since = utcnow() - timedelta(seconds=max_wait_seconds)
    return list(
        db.session.scalars(
            select(Call).where(Call.status == CallStatus.QUEUED, Call.queued_at < since).order_by(Call.queued_at)
        )
    )


def move_to_menu(call: Call, payload: dict | None = None) -> Call:
    """A caller who waited too long leaves the queue for the voicemail / call-back menu."""
    if _move(call, (CallStatus.QUEUED,), status=CallStatus.MENU):
        _event(call, "menu_after_wait", payload)
        _tell(call, "left_queue")
    db.session.flush()
    return call


def leave_in_menu(call: Call, status: CallStatus, payload: dict | None = None) -> Call:
    """The caller chose in the menu: a call-back request or a voicemail, both for the missed calls."""
    # From the menu; a voicemail may follow a call-back request, never the other way, and never twice.
    expected = (CallStatus.MENU, CallStatus.CALLBACK) if status == CallStatus.VOICEMAIL else (CallStatus.MENU,)
    if _move(call, expected, status=status):
        _event(call, status, payload)
        _tell(call, "missed")
    db.session.flush()
    return call


def to_complaint_line(call: Call, payload: dict | None = None) -> Call:
    """The caller chose the complaint line, from the greeting or the menu: out of the queue and the missed calls."""
    if _move(call, (CallStatus.QUEUED, CallStatus.MENU), status=CallStatus.COMPLAINT_LINE):
        _event(call, CallStatus.COMPLAINT_LINE, payload)
        _tell(call, "left_queue")
    db.session.flush()
    return call


def keep_recording(call: Call, url: str) -> Call:
    """Keep the address of a voicemail's recording."""
    call.recording_url = url[:500]
    db.session.flush()
    return call


def claim_call(call_id: int, agent_id: int) -> Call:
    """Give a waiting call to the agent who clicked first; everyone else gets CallConflict."""
    try:
        with savepoint():
            taken = db.session.execute(
                update(Call)
                .where(Call.id == call_id, Call.status == CallStatus.QUEUED, Call.agent_id.is_(None))
                .values(status=CallStatus.RINGING, agent_id=agent_id)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        # The partial unique index: this agent is already on another live call.
        raise CallConflict("you are already on a call") from None
    if taken.rowcount != 1:
        raise CallConflict("this call was taken by someone else or is no longer waiting")
    call = db.session.get(Call, call_id)
    db.session.refresh(call)
    _event(call, "claimed", {"agent_id": agent_id})
    _tell(call, "taken")
    set_agent_state(agent_id, AgentState.ON_CALL, call.id)
    return call


def release_call(call: Call, reason: str) -> Call:
    """Put a call whose agent could not be reached back in the queue (unless the caller left meanwhile)."""
    agent_id = call.agent_id
    if _move(call, (CallStatus.RINGING,), status=CallStatus.QUEUED, agent_id=None):
        _event(call, "released", {"reason": reason[:200]})
        _tell(call, "released")
        if agent_id:
            _free_agent(agent_id, call.id)
    db.session.flush()
    return call


def mark_answered(call: Call, payload: dict | None = None) -> Call:
    """The agent picked up: the conversation starts now."""
    if _move(call, (CallStatus.RINGING,), status=CallStatus.ANSWERED, answered_at=utcnow()):
        _event(call, "answered", payload)
        _tell(call, "answered")
        set_agent_state(call.agent_id, AgentState.ON_CALL, call.id)
    db.session.flush()
    return call


def mark_ended(call: Call, payload: dict | None = None) -> Call:
    """The line closed; repeated reports change nothing.

    A caller who talked with an agent completed the call and the agent wraps up; one who never reached
    an agent abandoned it and the agent being rung, if any, is free again. An outbound call simply ends.
    """
    if call.ended_at is not None:
        return call
    now = utcnow()
    if call.direction == "outbound" or call.status == CallStatus.ANSWERED:
        final = CallStatus.COMPLETED
    elif call.status in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.MENU):
        final = CallStatus.ABANDONED
    else:
        final = call.status  # voicemail, call-back, rejected: already final
    if not _move(call, (call.status,), status=final, ended_at=now):
        return mark_ended(call, payload)  # it moved under us (answered just now): decide again
    _event(call, "ended", payload)
    _tell(call, "ended")
    if call.agent_id and call.direction == "inbound":
        if final == CallStatus.COMPLETED:
            set_agent_state(call.agent_id, AgentState.WRAP_UP, call.id)
        else:
            _free_agent(call.agent_id, call.id)
    db.session.flush()
    return call


def wrap_up(call: Call, agent_id: int, disposition: str, notes: object = "") -> Call:
    """The agent's last word on an ended call: what it was about, and an optional note."""
    if call.agent_id != agent_id:
        raise CallConflict("only the agent who took the call can wrap it up")
    if call.ended_at is None:
        raise CallConflict("the call is still going on: wrap it up when it has ended")
    if disposition not in DISPOSITIONS:
        raise ValueError(f"disposition must be one of: {', '.join(DISPOSITIONS)}")
    if notes is None:
        notes = ""
    if not isinstance(notes, str):
        raise ValueError("the note must be text")
    if len(notes) > NOTE_LIMIT:
        raise ValueError(f"the note may be at most {NOTE_LIMIT} characters")
    call.disposition, call.notes, call.wrapped_up_at = disposition, notes.strip(), utcnow()
    _event(call, "wrapped_up", {"disposition": disposition})
    _tell(call, "wrapped_up")
    _free_agent(agent_id, call.id)
    db.session.flush()
    return call


def waiting_calls() -> list[Call]:
    """Calls waiting for an agent, longest wait first."""
    return list(
        db.session.scalars(select(Call).where(Call.status == CallStatus.QUEUED).order_by(Call.queued_at, Call.id))
    )


def current_call(agent_id: int) -> Call | None:
    """The call an agent is on, being rung for, or wrapping up, if any."""
    presence = db.session.get(AgentPresence, agent_id)
    if presence is not None and presence.call_id and presence.state in (AgentState.ON_CALL, AgentState.WRAP_UP):
        return db.session.get(Call, presence.call_id)
    return None


def missed_calls(limit: int = 50) -> list[Call]:
    """Inbound calls nobody talked to and nobody has dealt with yet, newest first."""
    return list(
        db.session.scalars(
            select(Call)
            .where(
                Call.direction == "inbound",
                Call.status.in_(MISSED_CALL_STATUSES),
                Call.handled_at.is_(None),
                Call.caller_e164.is_not(None),
            )
            .order_by(Call.id.desc())
            .limit(limit)
        )
    )


def mark_handled(call: Call, user_id: int) -> Call:
    """Someone called back or dealt with a missed call."""
    if call.handled_at is None:
        call.handled_at, call.handled_by_id = utcnow(), user_id
        _tell(call, "handled")
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
        queue_signal(agent_state_changed, user_id=user_id, state=state)
    db.session.flush()
    return presence


def _free_agent(user_id: int, call_id: int) -> None:
    """An agent whose state belonged to this call is available again (one who moved on is left alone)."""
    presence = db.session.get(AgentPresence, user_id)
    if presence is not None and presence.call_id == call_id:
        set_agent_state(user_id, AgentState.AVAILABLE)


def agent_state(user_id: int) -> str:
    """An agent's current state."""
    presence = db.session.get(AgentPresence, user_id)
    return presence.state if presence else AgentState.OFFLINE


def agents_ready() -> int:
    """How many agents are at the console and not away."""
    return db.session.scalar(
        select(func.count()).where(
            AgentPresence.state.in_([AgentState.AVAILABLE, AgentState.ON_CALL, AgentState.WRAP_UP])
        )
    )
