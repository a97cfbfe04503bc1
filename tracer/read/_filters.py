"""Which calls a query looks at (`Filters`), the times a person types (`parse_since`, `parse_time`), and the
WHERE clauses they become. Pure: no store, no I/O."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Which calls a query looks at. Empty means everything; several models/services match any of them; every
    tag must match. `start` is inclusive, `end` exclusive (timezone-aware datetimes; naive ones are UTC).

    A window with a start ends at now (`window_end`) unless it says otherwise: calls stamped in the future by a
    host whose clock runs fast are not "the last 24 hours" (`clock_skew` counts them). Only `Filters()`, no start
    and no end, is everything, future included.

    >>> Filters(start=dt.datetime(2026, 11, 24, tzinfo=dt.UTC), end=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    ...         models=("claude-opus-4-5",), tags={"feature": "search"}).models
    ('claude-opus-4-5',)
    >>> Filters(start=dt.datetime(2026, 11, 24, tzinfo=dt.UTC)).end is not None
    True
    """

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    models: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Tuples and a plain dict whatever was passed, so Filters hash the same way in Streamlit's cache.
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "services", tuple(self.services))
        object.__setattr__(self, "tags", dict(sorted(dict(self.tags).items())))
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end) if self.end is not None or self.start is None else window_end())

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.models, self.services, tuple(self.tags.items())))


# A window's default end is now, rounded up to this step: Filters made within one step are equal (and hash equal),
# so a page's repeated queries still hit the dashboard's cache (its lifetime is 10 s, `dashboard/state.py`).
WINDOW_END_STEP_S = 10


def window_end(now: dt.datetime | None = None) -> dt.datetime:
    """The end of a window that ends at now: `now` rounded up to the next `WINDOW_END_STEP_S` seconds.

    >>> window_end(dt.datetime(2026, 11, 24, 12, 0, 3, tzinfo=dt.UTC)).isoformat()
    '2026-11-24T12:00:10+00:00'
    """
    stamp = (now or dt.datetime.now(dt.UTC)).timestamp()
    return dt.datetime.fromtimestamp(stamp - stamp % WINDOW_END_STEP_S + WINDOW_END_STEP_S, dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> dt.timedelta:
    """`"24h"` -> 24 hours. Units s, m, h, d, w. Raises ValueError with the accepted form.

    >>> parse_since("90m")
    datetime.timedelta(seconds=5400)
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO timestamp (naive = UTC) or a duration back from now (`"2h"` = two hours ago).

    >>> parse_time("2h", now=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)).isoformat()
    '2026-11-24T10:00:00+00:00'
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        return now - parse_since(text)
    except ValueError:
        pass
    try:
        return _utc(dt.datetime.fromisoformat(text))  # type: ignore[return-value]
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO time (2026-11-24T10:00) nor a duration (24h)") from None


def where(filters: Filters, alias: str = "c", *, time_column: str = "start_time", prefix: str = "") -> tuple[str, list[Any]]:
    """The WHERE clause over the calls view (aliased `alias`) for `filters`, and its parameters. `prefix` names
    the call's columns on another view (`call_` on attempts: `call_model`, `call_service_name`, `call_tags`).

    >>> where(Filters(models=("a", "b"), tags={"feature": "x"}))
    ('WHERE c.model IN (?, ?) AND json_extract_string(CAST(c.tags AS JSON), ?) = ?', ['a', 'b', 'feature', 'x'])
    """
    return clauses(filters, alias, time_column, prefix, filters.start, filters.end, filters.tags)


def clauses(
    filters: Filters, alias: str, time_column: str, prefix: str, lo: Any, hi: Any, tags: Mapping[str, str]
) -> tuple[str, list[Any]]:
    """The WHERE clause of `where`, with the window's bounds and the tags given apart (the per-minute totals
    bound their minutes by numbers and have no tags)."""
    found: list[str] = []
    params: list[Any] = []
    if lo is not None:
        found.append(f"{alias}.{time_column} >= ?")
        params.append(lo)
    if hi is not None:
        found.append(f"{alias}.{time_column} < ?")
        params.append(hi)
    if filters.models:
        found.append(f"{alias}.{prefix}model IN ({', '.join('?' * len(filters.models))})")
        params.extend(filters.models)
    if filters.services:
        found.append(f"{alias}.{prefix}service_name IN ({', '.join('?' * len(filters.services))})")
        params.extend(filters.services)
    for key, value in tags.items():
        # Tags are the store's MAP(VARCHAR, VARCHAR), read through JSON: a call without the key gives NULL.
        found.append(f"json_extract_string(CAST({alias}.{prefix}tags AS JSON), ?) = ?")
        params.extend([_json_key(key), value])
    return ("WHERE " + " AND ".join(found) if found else ""), params


def _json_key(key: str) -> str:
    # A bare key is looked up as an object key; one that starts with '$' would be read as a JSON path.
    return key if not key.startswith("$") else '$."' + key.replace('"', '\\"') + '"'


def events_where(filters: Filters) -> tuple[str, list[Any]]:
    """The WHERE clause over the events view (aliased `e`): only the window applies to events."""
    found, params = [], []
    if filters.start is not None:
        found.append("e.time >= ?")
        params.append(filters.start)
    if filters.end is not None:
        found.append("e.time < ?")
        params.append(filters.end)
    return ("WHERE " + " AND ".join(found) if found else ""), params


def and_(clause: str, condition: str) -> str:
    """`clause` (a WHERE clause, or nothing) with `condition` added.

    >>> and_("", "x > 1"), and_("WHERE y", "x > 1")
    ('WHERE x > 1', 'WHERE y AND x > 1')
    """
    return f"{clause} AND {condition}" if clause else f"WHERE {condition}"
