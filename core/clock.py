"""Time in one convention: naive UTC in the database, Asia/Shanghai for people.

SQLite drops tzinfo on the way back, PostgreSQL keeps it; storing naive UTC everywhere
keeps comparisons identical on both.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "一二三四五六日"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware (any zone) or naive-local → naive UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def to_local(value: dt.datetime) -> dt.datetime:
    """Naive UTC → aware Asia/Shanghai."""
    return value.replace(tzinfo=dt.UTC).astimezone(LOCAL_TZ)


def local_today() -> dt.date:
    """Today where the villages are: before 08:00 Beijing time the UTC date is still yesterday."""
    return to_local(utcnow()).date()


def local_date_label(value: dt.datetime) -> str:
    """'12月8日（周二）' for a naive-UTC instant."""
    local = to_local(value)
    return f"{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）"


def local_time_label(value: dt.datetime) -> str:
    return to_local(value).strftime("%H:%M")
