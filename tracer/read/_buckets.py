"""Time buckets: how wide a chart's points are for a window, and the SQL that puts a time in its bucket."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tracer.read._filters import Filters, where
from tracer.read._store import Readable

BUCKETS_S: tuple[int, ...] = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_POINTS = 120


def bucket_seconds(window: dt.timedelta | None, max_points: int = MAX_POINTS) -> int:
    """The smallest bucket (from `BUCKETS_S`) that splits `window` into at most `max_points` points.

    >>> bucket_seconds(dt.timedelta(hours=24)), bucket_seconds(dt.timedelta(minutes=2)), bucket_seconds(None)
    (900, 1, 60)
    """
    if window is None:
        return 60
    seconds = window.total_seconds()
    for size in BUCKETS_S:
        if seconds / size <= max_points:
            return size
    return BUCKETS_S[-1]


# time_bucket(width, t) for a width in whole seconds, as integer arithmetic on the epoch microseconds: the same
# buckets (DuckDB's origin for sub-day widths, 2000-01-03 00:00:00 UTC, and its floor for times before it), without
# time_bucket on a TIMESTAMPTZ, which goes through ICU (the difference is in docs/footprint.md).
_ORIGIN_US = 946_857_600_000_000


def bucket(column: str) -> str:
    """The SQL for the start of `column`'s time bucket; its parameters come from `bucket_params(seconds)`."""
    return f"make_timestamptz({bucket_us(f'epoch_us({column})')})"


def bucket_us(micros: str) -> str:
    """`bucket` over epoch microseconds (`micros`, SQL), in epoch microseconds. A bucket's start is its own bucket's
    start, and a minute lies in one bucket of a whole number of minutes: so `bucket_us` of a minute's start (the
    per-minute totals' `t`) is the bucket of every call in that minute."""
    return f"({micros} - (({micros} - {_ORIGIN_US}) % ? + ?) % ?)"


def with_width(frame: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """`frame` with its bucket width in seconds as a column, `bucket_s`: a chart states it and turns sums into rates."""
    frame["bucket_s"] = pd.Series(int(seconds), index=frame.index, dtype="int64")
    return frame


def bucket_params(seconds: int) -> list[int]:
    width = int(seconds) * 1_000_000
    return [width, width, width]


def time_window(store: Readable, filters: Filters) -> pd.DataFrame:
    """`first`, `last` call start and `calls` in the filtered window (first/last NaT when there are none)."""
    clause, params = where(filters)
    return store.sql(f"SELECT min(c.start_time) AS first, max(c.start_time) AS last, count(*) AS calls FROM calls c {clause}", params)


def bucket_for(store: Readable, filters: Filters) -> int:
    """The bucket width (seconds) for the window of `filters`; an open end is where the calls end."""
    start, end = filters.start, filters.end
    if start is None or end is None:
        window = time_window(store, filters)
        first, last = window["first"].iloc[0], window["last"].iloc[0]
        if pd.isna(first):
            return 60
        start = start or first.to_pydatetime()
        end = end or last.to_pydatetime()
    return bucket_seconds(end - start)
