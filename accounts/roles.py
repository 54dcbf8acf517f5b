"""Roles and the areas of Cabdesk each role may enter."""

from enum import StrEnum


class Role(StrEnum):
    """A staff member's job on the floor."""

    AGENT = "agent"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DRIVER = "driver"  # a driver's own login to the mobile page, made with the driver's record


# The roles of the office's staff, created by admins; driver logins come with a driver's record.
STAFF_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)


class Area(StrEnum):
    """A part of the product guarded as one unit: its pages, API routes and live channels."""

    CONSOLE = "console"  # answering calls, booking, the subscriber book
    DISPATCH = "dispatch"  # the dispatcher board, drivers, assignments
    SUPERVISION = "supervision"  # wallboard, complaint and feedback logs, reports
    ADMINISTRATION = "administration"  # staff accounts, fare rules, office settings
    DRIVING = "driving"  # the driver's mobile page: offers, own trips, position


# Supervisors oversee the floor, so they may step into the console and the board;
# admins run the system and may enter everything.
AREAS_BY_ROLE: dict[Role, frozenset[Area]] = {
    Role.AGENT: frozenset({Area.CONSOLE}),
    Role.DISPATCHER: frozenset({Area.DISPATCH}),
    Role.SUPERVISOR: frozenset({Area.CONSOLE, Area.DISPATCH, Area.SUPERVISION}),
    Role.ADMIN: frozenset(Area) - {Area.DRIVING},
    Role.DRIVER: frozenset({Area.DRIVING}),
}


def role_may_enter(role: str, area: Area) -> bool:
    """Whether a role may use an area."""
    try:
        return area in AREAS_BY_ROLE[Role(role)]
    except ValueError:
        return False
