"""Where an incoming call goes: turned away, into the after-hours menu, or into the desk queue."""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """What the desk does with a new call."""

    REJECT = "reject"  # a barred caller hears a short message
    MENU = "menu"  # closed, or nobody at the console: voicemail or a call back
    QUEUE = "queue"  # wait for the next agent


def route_call(barred: bool, agents_ready: int, open_now: bool) -> Route:
    """The route of a new call, given who calls, who is at the console and the hour."""
    if barred:
        return Route.REJECT
    if not open_now or agents_ready == 0:
        return Route.MENU
    return Route.QUEUE
