"""Signals the call book sends after a change is committed, for the live consoles to pass on."""

from blinker import Namespace

_signals = Namespace()

# Sent with call_id=…, event="waiting" | "taken" | "answered" | "ended" | "released" | "missed" | "wrapped_up".
call_changed = _signals.signal("call-changed")
# Sent with user_id=…, state=… when an agent's state changes.
agent_state_changed = _signals.signal("agent-state-changed")
