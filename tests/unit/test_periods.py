"""Periods for statistics and reports: dates, datetimes, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from balance_manager.domain.errors import InvalidInput
from balance_manager.domain.periods import Period, parse_period

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def period(**kw: str | None) -> Period:
    return parse_period(start=kw.get("start"), end=kw.get("end"), window=kw.get("window"), now=NOW)


def test_dates_are_whole_utc_days_with_to_included() -> None:
    assert period(start="2026-11-01", end="2026-11-30") == Period(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert period(start="2026-11-01", end="2026-11-01").seconds == 86400


def test_datetimes_are_instants_and_naive_ones_utc() -> None:
    got = period(start="2026-11-01T10:00:00+02:00", end="2026-11-01T09:00:00Z")
    assert got == Period(datetime(2026, 11, 1, 8, tzinfo=UTC), datetime(2026, 11, 1, 9, tzinfo=UTC))
    assert period(start="2026-11-01T08:00:00").start == datetime(2026, 11, 1, 8, tzinfo=UTC)


def test_to_defaults_to_now_and_windows_end_now() -> None:
    assert period(start="2026-11-30").end == NOW
    assert period(window="24h") == Period(NOW - timedelta(days=1), NOW)
    assert period(window="90s").seconds == 90
    assert period(window=" 7d ").seconds == 7 * 86400
    assert parse_period(
        start=None, end=None, window=None, now=NOW, default_window=timedelta(hours=1)
    ) == Period(NOW - timedelta(hours=1), NOW)


@pytest.mark.parametrize(
    ("kw", "field", "code"),
    [
        ({}, "from", "missing_field"),
        ({"end": "2026-11-01"}, "from", "missing_field"),
        ({"start": "2026-11-31"}, "from", "invalid_datetime"),
        ({"start": "2026-11-01", "end": "tomorrow"}, "to", "invalid_datetime"),
        ({"start": "2026-11-02", "end": "2026-11-01"}, "to", "empty_period"),
        ({"start": "2026-11-01T10:00Z", "end": "2026-11-01T10:00Z"}, "to", "empty_period"),
        ({"window": "24h", "start": "2026-11-01"}, "window", "ambiguous_period"),
        ({"window": "0s"}, "window", "invalid_window"),
        ({"window": "-1h"}, "window", "invalid_window"),
        ({"window": "1w"}, "window", "invalid_window"),
        ({"window": "999999d"}, "window", "invalid_window"),
    ],
)
def test_bad_periods_name_their_field(kw: dict[str, str], field: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        period(**kw)
    assert (caught.value.field, caught.value.code) == (field, code)
