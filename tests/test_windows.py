"""Date windows: no overlap, no gap, and each cart fetched exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loader.source import ConfigError, api_time, date_windows, parse_instant


def test_windows_cover_the_range_without_gap_or_overlap() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    end = datetime(2020, 12, 31, 6, 30, tzinfo=UTC)

    windows = date_windows(start, end, 90)

    assert windows[0][0] == start
    assert windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert all(b - a <= timedelta(days=90) for a, b in windows)
    assert len(windows) == 5


def test_an_empty_range_has_no_window() -> None:
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    assert date_windows(moment, moment, 7) == []


def test_api_time_is_utc_with_milliseconds() -> None:
    moment = datetime(2020, 3, 1, 21, 0, tzinfo=UTC).astimezone(
        datetime.now().astimezone().tzinfo
    )
    assert api_time(moment) == "2020-03-01T21:00:00.000Z"


def test_a_zone_less_start_date_is_utc_and_a_bad_one_is_named() -> None:
    assert parse_instant("2020-01-01", "start_date") == datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="sources.fakestore.start_date"):
        parse_instant("last tuesday", "start_date")
