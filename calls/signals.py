"""Signals the call book sends once a change is committed, for the live consoles to pass on.

Services queue them with ``core.signals.queue_signal``; ``commit_and_announce`` sends them after the commit.
"""

from __future__ import annotations

from blinker import Namespace

from core.signals import commit_and_announce, queue_signal

__all__ = ["agent_state_changed", "call_changed", "commit_and_announce", "queue_signal"]

_signals = Namespace()

# Sent with call_id=…, event="waiting" | "taken" | "answered" | "ended" | "released" | "missed" | "wrapped_up"
# | "handled".
call_changed = _signals.signal("call-changed")
# Sent with user_id=…, state=… when an agent's state changes.
agent_state_changed = _signals.signal("agent-state-changed")
