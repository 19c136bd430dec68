"""Time periods for statistics and reports: ``from``/``to`` or a ``window`` ending now.

Pure parsing (no I/O), shared by the API and the CLI so both accept the same spellings:

- a date (``2026-11-01``) is a whole UTC day: ``from`` starts at its midnight, ``to``
  includes it (the period ends at the next midnight);
- a datetime (``2026-11-01T12:00:00+01:00``, ``…Z``) is that instant; without an offset it
  is taken as UTC; ``to`` is exclusive;
- a window (``90s``, ``30m``, ``24h``, ``7d``) ends now.

A period is half-open, ``start <= t < end``, so consecutive reports never count a row twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from balance_manager.domain.errors import InvalidInput

_WINDOW = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = timedelta(days=3660)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def parse_window(value: str, *, field: str = "window") -> timedelta:
    match = _WINDOW.match(value)
    if match is None:
        raise InvalidInput(
            f"{field} must be a number and a unit (s, m, h, d), e.g. 24h or 7d",
            code="invalid_window",
            field=field,
        )
    window = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if not timedelta(0) < window <= MAX_WINDOW:
        raise InvalidInput(
            f"{field} must be longer than zero and at most {MAX_WINDOW.days} days",
            code="invalid_window",
            field=field,
        )
    return window


def parse_instant(value: str, *, field: str, end: bool) -> datetime:
    """A date or a datetime as an aware UTC datetime; a date given as ``end`` means the
    end of that day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO 8601 date (2026-11-01) or datetime (2026-11-01T00:00:00Z)",
            code="invalid_datetime",
            field=field,
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def parse_period(
    *,
    start: str | None,
    end: str | None,
    window: str | None,
    now: datetime,
    default_window: timedelta | None = None,
) -> Period:
    """The period a request asks for. ``from`` and ``to`` (``to`` defaults to now) or
    ``window``; neither → ``default_window`` ending now, or an error naming ``from``."""
    if window is not None:
        if start is not None or end is not None:
            raise InvalidInput(
                "send either window or from/to, not both", code="ambiguous_period", field="window"
            )
        return Period(now - parse_window(window), now)
    if start is None:
        if end is not None:
            raise InvalidInput("from is required with to", code="missing_field", field="from")
        if default_window is None:
            raise InvalidInput("from is required (or window)", code="missing_field", field="from")
        return Period(now - default_window, now)
    period = Period(
        parse_instant(start, field="from", end=False),
        now if end is None else parse_instant(end, field="to", end=True),
    )
    if period.end <= period.start:
        raise InvalidInput("to must be after from", code="empty_period", field="to")
    return period
