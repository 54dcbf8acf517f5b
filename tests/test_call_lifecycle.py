"""The life of a call under real concurrency and awkward timing: the review's cases, each able to fail."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from accounts.services import find_user
from calls.intake import Route
from calls.models import AgentState, Call, CallStatus
from calls.services import (
    CallConflict,
    agent_state,
    agents_ready,
    claim_call,
    mark_ended,
    missed_calls,
    record_inbound_call,
    record_outbound_call,
    release_call,
    set_agent_state,
    wrap_up,
)
from core.extensions import db


def new_call(sid_digit: str) -> Call:
    sid = "CA" + sid_digit * 32
    call, _ = record_inbound_call(sid, "+989123456789", "+982188888888", "IR", {}, lambda _caller: Route.QUEUE)
    db.session.commit()
    return call


def race(app, *actions):
    """Run each action in its own thread, app context and database session, all starting together."""
    start = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(index, action):
        with app.app_context():
            start.wait()
            try:
                results[index] = action()
                db.session.commit()
            except CallConflict:
                db.session.rollback()
                results[index] = "conflict"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_two_agents_clicking_at_once_one_wins(app, make_user, attempt):
    first, second = make_user("agent", "first").id, make_user("agent", "second").id
    call_id = new_call("1").id
    results = race(app, lambda: claim_call(call_id, first).agent_id, lambda: claim_call(call_id, second).agent_id)
    assert sorted(map(str, results)) == sorted([str(first), "conflict"]) or sorted(map(str, results)) == sorted(
        [str(second), "conflict"]
    )
    db.session.expire_all()
    assert db.session.get(Call, call_id).agent_id in (first, second)


@pytest.mark.parametrize("attempt", range(3))
def test_one_agent_in_two_tabs_gets_one_call_of_two(app, make_user, attempt):
    agent = make_user("agent", "tabs").id
    one, two = new_call("2").id, new_call("3").id
    results = race(app, lambda: claim_call(one, agent).id, lambda: claim_call(two, agent).id)
    assert results.count("conflict") == 1
    db.session.expire_all()
    ringing = db.session.scalars(select(Call).where(Call.agent_id == agent)).all()
    assert len(ringing) == 1


def test_a_hang_up_while_the_agent_is_rung_frees_the_agent(app, make_user):
    agent = make_user("agent").id
    set_agent_state(agent, AgentState.AVAILABLE)
    call = claim_call(new_call("4").id, agent)
    db.session.commit()
    assert agent_state(agent) == AgentState.ON_CALL
    mark_ended(call)
    db.session.commit()
    assert call.status == CallStatus.ABANDONED
    assert agent_state(agent) == AgentState.AVAILABLE


def test_an_agent_whose_call_ended_does_not_stay_ready_after_leaving(app, make_user):
    agent = make_user("agent").id
    set_agent_state(agent, AgentState.AVAILABLE)
    call = claim_call(new_call("5").id, agent)
    mark_ended(call)
    set_agent_state(agent, AgentState.OFFLINE)  # the last tab closed
    db.session.commit()
    assert agents_ready() == 0


def test_a_release_after_the_caller_left_does_not_bring_the_call_back(app, make_user):
    agent = make_user("agent").id
    call = claim_call(new_call("6").id, agent)
    db.session.commit()
    # The caller hangs up (another request) while this one still waits for Twilio.
    with app.app_context():
        mark_ended(db.session.get(Call, call.id))
        db.session.commit()
        db.session.remove()
    release_call(call, "twilio did not answer")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Call, call.id)
    assert stored.status == CallStatus.ABANDONED and stored.ended_at is not None
    assert call.id not in [c.id for c in db.session.scalars(select(Call).where(Call.status == "queued"))]


def test_wrap_up_waits_for_the_end_of_the_call_and_takes_text_only(app, make_user):
    agent = make_user("agent").id
    call = claim_call(new_call("7").id, agent)
    with pytest.raises(CallConflict):
        wrap_up(call, agent, "booked")
    mark_ended(call)
    with pytest.raises(ValueError):
        wrap_up(call, agent, "booked", {"not": "text"})
    wrap_up(call, agent, "booked", None)
    assert call.notes == ""


def test_an_outbound_call_is_never_a_missed_call(app, make_user):
    agent = make_user("agent").id
    outbound = record_outbound_call("CA" + "8" * 32, "+989123456789", agent, "IR")
    mark_ended(outbound)
    db.session.commit()
    assert outbound.status == CallStatus.COMPLETED
    assert missed_calls() == []
    assert find_user("agent") is not None
