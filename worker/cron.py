"""Crontab schedules and time zones as the scheduler reads them, and the config problems they can have.

Settings validation and the scheduler share these, so `validate` refuses exactly what `run` would.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) is Sunday


def _weekday(token: str) -> int:
    t = token.strip().lower()
    if t[:3] in CRON_WEEKDAYS and len(t) >= 3:
        return CRON_WEEKDAYS.index(t[:3])
    if t.isdigit() and 0 <= int(t) <= 7:
        return int(t)
    raise ValueError(f"day of week {token!r}: use 0-7 (0 and 7 are Sunday) or sun-sat")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3 terms, which counts from Monday (0) not Sunday (0).

    Spelled out as day names, so "1-5" still means Monday to Friday and "0" or "7" still Sunday.
    """
    if field.strip() == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"day of week {item!r}: the step must be at least 1")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _weekday(a), _weekday(b)
            if first > last:
                raise ValueError(f"day of week {item!r}: the range runs backwards")
        else:
            first = _weekday(base)
            last = 6 if step_text else first
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(CRON_WEEKDAYS[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """A standard five-field crontab expression (minute hour day month weekday) as a trigger."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(weekday),
        timezone=timezone,
    )


def zone_problem(tz: str) -> str:
    """'' when `tz` is an IANA time zone, else the config problem naming the key."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f'scheduler.timezone: "{tz}" is not an IANA time zone (e.g. "UTC", "America/Denver")'
    return ""


def schedule_problem(job: str, expr: str, exc: Exception) -> str:
    return (
        f'jobs.{job}.schedule: "{expr}" is not a cron expression '
        f'(minute hour day month weekday, e.g. "*/15 * * * *"): {exc}'
    )


def check_schedule(job: str, expr: str, tz: str) -> str:
    """'' when `expr` is a schedule `run` can use (empty: not scheduled), else the problem."""
    if not expr.strip():
        return ""
    try:
        cron_trigger(expr, tz if not zone_problem(tz) else "UTC")
    except ValueError as exc:
        return schedule_problem(job, expr, exc)
    return ""
