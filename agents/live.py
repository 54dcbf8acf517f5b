"""Passing the call book's changes on to the live consoles over Socket.IO (push, never poll)."""

from __future__ import annotations

from calls.models import Call, CallStatus
from calls.signals import agent_state_changed, call_changed
from core.extensions import db, socketio

NAMESPACE = "/console"
AGENTS_ROOM = "agents"


def agent_room(user_id: int) -> str:
    """The room of one agent's tabs, so that all of them show the same call and state."""
    return f"agent:{user_id}"


@call_changed.connect
def push_call_change(_app, call_id: int, event: str, **_extra) -> None:
    """Tell every console of a change to a call; the agent who has it gets their own copy."""
    from agents.screen_pop import call_card

    call = db.session.get(Call, call_id)
    if call is None:
        return
    card = call_card(call)
    if event in ("waiting", "released"):
        socketio.emit("call_waiting", card, to=AGENTS_ROOM, namespace=NAMESPACE)
    elif event == "missed":
        socketio.emit("missed_call", card, to=AGENTS_ROOM, namespace=NAMESPACE)
    else:
        update = {"id": call.id, "status": call.status, "agent_id": call.agent_id, "agent_name": card["agent_name"]}
        socketio.emit("call_update", update, to=AGENTS_ROOM, namespace=NAMESPACE)
    if call.agent_id and call.status != CallStatus.QUEUED:
        socketio.emit("my_call", card, to=agent_room(call.agent_id), namespace=NAMESPACE)


@agent_state_changed.connect
def push_agent_state(_app, user_id: int, state: str, **_extra) -> None:
    """Keep every tab of an agent on the same state."""
    socketio.emit("presence", {"state": state}, to=agent_room(user_id), namespace=NAMESPACE)
