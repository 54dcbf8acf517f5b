"""Windows of the office clock ("07:00-23:00", "23:00-06:00"): office hours, night surcharges."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Windows = tuple[tuple[time, time], ...]


def parse_windows(text: str) -> Windows:
    """``"07:00-23:00"`` or ``"06:00-14:00,15:00-24:00"`` as (start, end) pairs; ``24:00`` means midnight."""
    spans = []
    for part in text.replace(" ", "").split(","):
        start, sep, end = part.partition("-")
        if not sep:
            raise ValueError(f"{part!r} is not HH:MM-HH:MM")
        spans.append((_clock(start), _clock(end)))
    return tuple(spans)


def _clock(text: str) -> time:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not HH:MM")
    if (int(hours), int(minutes)) == (24, 0):
        return time.max
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return time(int(hours), int(minutes))


def in_windows(moment: datetime, windows: Windows, zone: str) -> bool:
    """Whether a moment falls in one of the windows, read on the given zone's clock."""
    local = moment.astimezone(ZoneInfo(zone)).time()
    # A window whose end comes before its start runs past midnight (e.g. 23:00-06:00).
    return any(start <= local < end if start <= end else local >= start or local < end for start, end in windows)


def office_date(moment: datetime, zone: str) -> date:
    """The calendar day at the office (its time zone) at that moment: the day papers expire on."""
    return moment.astimezone(ZoneInfo(zone)).date()


def window_end(moment: datetime, windows: Windows, zone: str) -> datetime | None:
    """When the window that ``moment`` falls in ends (in the time zone of ``moment``), or None if it is in none."""
    if not in_windows(moment, windows, zone):
        return None
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    ends = []
    for start, end in windows:
        inside = start <= local.time() < end if start <= end else local.time() >= start or local.time() < end
        if not inside:
            continue
        if end == time.max:
            end_day, end_time = local.date() + timedelta(days=1), time(0, 0)
        elif start > end and local.time() >= start:
            end_day, end_time = local.date() + timedelta(days=1), end  # past midnight: tomorrow's end
        else:
            end_day, end_time = local.date(), end
        ends.append(datetime.combine(end_day, end_time, tzinfo=tz))
    return max(ends).astimezone(moment.tzinfo) if ends else None


def office_midnight(day: date, zone: str) -> datetime:
    """The moment an office calendar day starts (for date filters and periods that mean the office's days)."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone))
