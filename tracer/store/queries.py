"""Every SQL query the dashboard and `tracer report` run, over the store's views `calls`, `attempts`, `events`.

Each query is a function `(store, filters) -> pandas.DataFrame`; `store` is anything with `.sql(query, params)`
(`tracer.store.Store`, or `DuckDBFile` for a single DuckDB file holding the three views or tables). Values
always travel as parameters: the SQL text depends only on which filters are set, never on their values.

>>> from tracer.store.queries import Filters, open_store, cost_by_model
>>> store = open_store(".tracer")
>>> cost_by_model(store, Filters(models=("claude-sonnet-4-5",)))      # doctest: +SKIP

`NAMED` lists the queries that take only `(store, filters)`; benchmarks/store.py times each of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import math
import random
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, cast

import pandas as pd

from tracer.store import _rollup

log = logging.getLogger(__name__)


class Readable(Protocol):
    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame: ...


# --------------------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which calls a query looks at. Empty means everything; several models/services match any of them; every
    tag must match. `start` is inclusive, `end` exclusive (timezone-aware datetimes; naive ones are UTC).

    >>> Filters(start=dt.datetime(2026, 11, 24, tzinfo=dt.UTC), models=("claude-opus-4-5",), tags={"feature": "search"})
    Filters(start=datetime.datetime(2026, 11, 24, 0, 0, tzinfo=datetime.timezone.utc), end=None, models=('claude-opus-4-5',), services=(), tags={'feature': 'search'})
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
        object.__setattr__(self, "end", _utc(self.end))

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.models, self.services, tuple(self.tags.items())))


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
    """An ISO timestamp (naive = UTC) or a duration back from now (`"2h"` = two hours ago)."""
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
    return _clauses(filters, alias, time_column, prefix, filters.start, filters.end, filters.tags)


def _clauses(
    filters: Filters, alias: str, time_column: str, prefix: str, lo: Any, hi: Any, tags: Mapping[str, str]
) -> tuple[str, list[Any]]:
    """The WHERE clause of `where`, with the window's bounds and the tags given apart (see `_minutes_where`)."""
    clauses: list[str] = []
    params: list[Any] = []
    if lo is not None:
        clauses.append(f"{alias}.{time_column} >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append(f"{alias}.{time_column} < ?")
        params.append(hi)
    if filters.models:
        clauses.append(f"{alias}.{prefix}model IN ({', '.join('?' * len(filters.models))})")
        params.extend(filters.models)
    if filters.services:
        clauses.append(f"{alias}.{prefix}service_name IN ({', '.join('?' * len(filters.services))})")
        params.extend(filters.services)
    for key, value in tags.items():
        # CAST(... AS JSON) reads tags whether the store keeps them as a MAP, JSON or JSON text.
        clauses.append(f"json_extract_string(CAST({alias}.{prefix}tags AS JSON), ?) = ?")
        params.extend([_json_key(key), value])
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _json_key(key: str) -> str:
    # A bare key is looked up as an object key; one that starts with '$' would be read as a JSON path.
    return key if not key.startswith("$") else '$."' + key.replace('"', '\\"') + '"'


def _events_where(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.start is not None:
        clauses.append("e.time >= ?")
        params.append(filters.start)
    if filters.end is not None:
        clauses.append("e.time < ?")
        params.append(filters.end)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


# --------------------------------------------------------------------------------------------------------------
# Time buckets
# --------------------------------------------------------------------------------------------------------------

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
# buckets (DuckDB's origin for sub-day widths, 2000-01-03 00:00:00 UTC, and its floor for times before it), four
# times faster than time_bucket on a TIMESTAMPTZ, which goes through ICU (over 10M calls: 225 ms -> 50 ms).
_ORIGIN_US = 946_857_600_000_000


def _bucket(column: str) -> str:
    """The SQL for the start of `column`'s time bucket; its parameters come from `_bucket_params(seconds)`."""
    return f"make_timestamptz({_bucket_us(f'epoch_us({column})')})"


def _bucket_us(micros: str) -> str:
    """`_bucket` over epoch microseconds (`micros`, SQL), in epoch microseconds. A bucket's start is its own bucket's
    start, and a minute lies in one bucket of a whole number of minutes: so `_bucket_us` of a minute's start (the
    per-minute totals' `t`) is the bucket of every call in that minute."""
    return f"({micros} - (({micros} - {_ORIGIN_US}) % ? + ?) % ?)"


def _bucket_params(seconds: int) -> list[int]:
    width = int(seconds) * 1_000_000
    return [width, width, width]


def time_window(store: Readable, filters: Filters) -> pd.DataFrame:
    """`first`, `last` call start and `calls` in the filtered window (first/last NaT when there are none)."""
    clause, params = where(filters)
    return store.sql(f"SELECT min(c.start_time) AS first, max(c.start_time) AS last, count(*) AS calls FROM calls c {clause}", params)


def _bucket_for(store: Readable, filters: Filters) -> int:
    start, end = filters.start, filters.end
    if start is None or end is None:
        window = time_window(store, filters)
        first, last = window["first"].iloc[0], window["last"].iloc[0]
        if pd.isna(first):
            return 60
        start = start or first.to_pydatetime()
        end = end or last.to_pydatetime()
    return bucket_seconds(end - start)


# --------------------------------------------------------------------------------------------------------------
# Overview
# --------------------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------------------
# Totals per minute (tracer.store._rollup): most panels add them up instead of the rows
# --------------------------------------------------------------------------------------------------------------

_UNPRICED = _rollup.UNPRICED
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MINUTE = dt.timedelta(microseconds=_rollup.MINUTE_US)


def _has_rollups(store: Readable) -> bool:
    """Whether the store keeps the per-minute totals (`tracer.store.Store` does; a plain DuckDB file does not)."""
    return all(_has_columns(store, view, "t") for view, _, _ in _rollup.TABLES.values())


def _whole_minutes(store: Readable, filters: Filters, bucket: int | None) -> tuple[int | None, int | None, list[Filters]] | None:
    """How a query over `filters` reads the per-minute totals: (first whole minute, end of the last, in epoch
    microseconds, None for open ends), and the windows of the partial minutes at the edges, read from the rows.
    None when the totals cannot serve: a tag filter (tags are not among their keys), a store without them, time
    buckets finer than a minute, or a window without a whole minute in it."""
    if filters.tags or (bucket is not None and bucket % 60) or not _has_rollups(store):
        return None
    lo = hi = None
    edges: list[Filters] = []
    if filters.start is not None:
        start = _micros(filters.start)
        lo = -(-start // _rollup.MINUTE_US) * _rollup.MINUTE_US
        if lo > start:
            edges.append(replace(filters, end=_EPOCH + dt.timedelta(microseconds=lo)))
    if filters.end is not None:
        end = _micros(filters.end)
        hi = end // _rollup.MINUTE_US * _rollup.MINUTE_US
        if hi < end:
            edges.append(replace(filters, start=_EPOCH + dt.timedelta(microseconds=hi)))
    if lo is not None and hi is not None and lo >= hi:
        return None
    return lo, hi, edges


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _from_minutes(
    view: str,
    filters: Filters,
    split: tuple[int | None, int | None, list[Filters]],
    edge: Callable[[Filters], tuple[str, list[Any]]],
    time_column: str = "t",
) -> tuple[str, list[Any]]:
    """SQL (and parameters) of the rows of the per-minute `view` for the whole minutes of `split`
    (`_whole_minutes`), with the same totals computed from the rows (`edge(window)`, SQL and parameters) for each
    partial minute at the window's ends. `time_column`: the view's minute that the window applies to."""
    lo, hi, edges = split
    clause, params = _minutes_where(filters, lo, hi, time_column)
    parts = [f"SELECT * FROM {view} r {clause}"]
    for window in edges:
        sql, more = edge(window)
        parts.append(sql)
        params += more
    return " UNION ALL ".join(parts), params


def _minutes_where(filters: Filters, lo: int | None, hi: int | None, time_column: str = "t") -> tuple[str, list[Any]]:
    # Minute numbers for bounds; no tags: the totals are read only for queries without a tag filter.
    return _clauses(filters, "r", time_column, "", lo, hi, {})


def _call_totals(store: Readable, filters: Filters, bucket: int | None = None) -> tuple[str, list[Any]]:
    """SQL of the calls in `filters` added up per minute `t` and `_rollup.CALL_KEYS` (the columns of
    `calls_by_minute`), and its parameters: the per-minute totals for the window's whole minutes, the rows for the
    rest. Where the totals cannot serve, the rows added up per time bucket `t` (NULL without `bucket`). Either
    way `_bucket_us('t')` puts each row in its bucket, and sums over them are the sums over the calls."""
    split = _whole_minutes(store, filters, bucket)
    if split is None:
        clause, params = where(filters)
        if bucket is None:
            return f"SELECT {_rollup.call_totals('NULL::BIGINT')} FROM calls c {clause} GROUP BY ALL", params
        t = _bucket_us("epoch_us(c.start_time)")
        return f"SELECT {_rollup.call_totals(t)} FROM calls c {clause} GROUP BY ALL", [*_bucket_params(bucket), *params]

    def edge(window: Filters) -> tuple[str, list[Any]]:
        clause, params = where(window)
        return f"SELECT {_rollup.call_totals(_rollup.minute_of('c.start_time'))} FROM calls c {clause} GROUP BY ALL", params

    return _from_minutes("calls_by_minute", filters, split, edge)


def _attempt_totals(store: Readable, filters: Filters, bucket: int | None = None) -> tuple[str, list[Any]]:
    """As `_call_totals`, for the attempts of the calls in `filters` (the columns of `attempts_by_minute`: per
    minute of the attempt `t`, the call's `model`, the attempt's `http_status` and `error_type`)."""
    split = _whole_minutes(store, filters, bucket)
    if split is None:
        source, model, params = _attempts_join(store, filters)
        t, t_params = ("NULL::BIGINT", []) if bucket is None else (_bucket_us("epoch_us(a.start_time)"), _bucket_params(bucket))
        totals = _rollup.attempt_totals(t, "NULL::BIGINT", model, "NULL::VARCHAR")
        return f"SELECT {totals} FROM {source} GROUP BY ALL", [*t_params, *params]

    def edge(window: Filters) -> tuple[str, list[Any]]:
        source, model, params = _attempts_join(store, window)
        totals = _rollup.attempt_totals(_rollup.minute_of("a.start_time"), "NULL::BIGINT", model, "NULL::VARCHAR")
        return f"SELECT {totals} FROM {source} GROUP BY ALL", params

    return _from_minutes("attempts_by_minute", filters, split, edge, "call_t")


def _sum(column: str, condition: str | None = None) -> str:
    """`sum(column)` (FILTER (WHERE condition)) as a BIGINT, 0 when there is nothing to add."""
    total = f"sum({column})" + (f" FILTER (WHERE {condition})" if condition else "")
    return f"coalesce({total}, 0)::BIGINT"


_ALL_TOKENS = "(coalesce(sum(input_tokens), 0) + coalesce(sum(cache_read_tokens), 0) + coalesce(sum(cache_write_tokens), 0) + coalesce(sum(output_tokens), 0))::BIGINT"


def headline(store: Readable, filters: Filters) -> pd.DataFrame:
    """One row: cost_usd, calls, errors, error_rate, tokens by kind, unpriced_calls, p50/p95/p99 latency (ms).
    The latency percentiles leave out Message Batches results (`_TIMED`); everything else counts them."""
    totals, params = _call_totals(store, filters)
    frame = store.sql(
        f"""
        WITH p AS ({totals})
        SELECT coalesce(sum(cost_usd), 0)::DOUBLE AS cost_usd,
               {_sum('calls')} AS calls,
               {_sum('calls', "status = 'error'")} AS errors,
               coalesce(sum(calls) FILTER (WHERE status = 'error') / nullif(sum(calls), 0), 0)::DOUBLE AS error_rate,
               {_sum('input_tokens')} AS input_tokens,
               {_sum('cache_read_tokens')} AS cache_read_tokens,
               {_sum('cache_write_tokens')} AS cache_write_tokens,
               {_sum('output_tokens')} AS output_tokens,
               {_ALL_TOKENS} AS total_tokens,
               {_sum('unpriced_calls')} AS unpriced_calls,
               {_sum('(attempts - 1) * calls')} AS retries
        FROM p
        """,
        params,
    )
    (durations,) = _exact_percentiles(store, filters, [_Percentiles("0", "c.duration_ms", _P3, _TIMED)])
    for name, value in zip(("p50_ms", "p95_ms", "p99_ms"), durations.get(0, [None] * 3), strict=True):
        frame[name] = pd.Series([value], index=frame.index, dtype="float64")
    return frame


def cost_by_model(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: calls, cost_usd, errors, unpriced_calls and tokens by kind, costliest first."""
    totals, params = _call_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model,
               {_sum('calls')} AS calls,
               sum(cost_usd)::DOUBLE AS cost_usd,
               {_sum('calls', "status = 'error'")} AS errors,
               {_sum('unpriced_calls')} AS unpriced_calls,
               {_sum('input_tokens')} AS input_tokens,
               {_sum('cache_read_tokens')} AS cache_read_tokens,
               {_sum('cache_write_tokens')} AS cache_write_tokens,
               {_sum('output_tokens')} AS output_tokens,
               {_sum('thinking_tokens')} AS thinking_tokens
        FROM p
        GROUP BY model
        ORDER BY cost_usd DESC NULLS LAST, calls DESC, model
        """,
        params,
    )


def cost_over_time(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: calls, cost_usd, tokens (bucket size chosen from the window)."""
    size = _bucket_for(store, filters)
    totals, params = _call_totals(store, filters, size)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT make_timestamptz({_bucket_us('t')}) AS bucket, model,
               {_sum('calls')} AS calls,
               sum(cost_usd)::DOUBLE AS cost_usd,
               {_ALL_TOKENS} AS tokens
        FROM p
        GROUP BY ALL ORDER BY bucket, model
        """,
        [*params, *_bucket_params(size)],
    )


def cost_by_tag(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per tag key and value: calls and cost_usd, costliest first (calls without tags are left out)."""
    split = _whole_minutes(store, filters, None)
    if split is not None:

        def edge(window: Filters) -> tuple[str, list[Any]]:
            clause, params = where(window)
            return (
                f"SELECT {_rollup.tag_totals(_rollup.minute_of('c.start_time'))} FROM "
                f"(SELECT c.*, unnest(map_entries(c.tags)) AS e FROM calls c {clause}) c GROUP BY ALL"
            ), params

        totals, params = _from_minutes("tags_by_minute", filters, split, edge)
        return store.sql(
            f"""
            WITH p AS ({totals})
            SELECT tag, value, {_sum('calls')} AS calls, sum(cost_usd)::DOUBLE AS cost_usd
            FROM p
            GROUP BY ALL ORDER BY cost_usd DESC NULLS LAST, calls DESC, tag, value
            """,
            params,
        )
    clause, params = where(filters)
    if _tags_are_map(store):
        # Straight from the MAP's entries: four times faster than through JSON over 10M calls (1.45 s -> 0.36 s).
        tagged = f"SELECT unnest(map_entries(c.tags)) AS e, c.cost_usd FROM calls c {clause}"
        pairs = "SELECT e.key AS tag, e.value AS value, cost_usd FROM tagged"
    else:
        tagged = f"SELECT CAST(c.tags AS JSON) AS j, c.cost_usd FROM calls c {clause}"
        pairs = "SELECT k AS tag, json_extract_string(j, k) AS value, cost_usd FROM tagged, unnest(json_keys(j)) AS u(k)"
    return store.sql(
        f"""
        WITH tagged AS ({tagged}), pairs AS ({pairs})
        SELECT tag, value, count(*) AS calls, sum(cost_usd)::DOUBLE AS cost_usd
        FROM pairs
        GROUP BY ALL ORDER BY cost_usd DESC NULLS LAST, calls DESC, tag, value
        """,
        params,
    )


_map_tags: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _tags_are_map(store: Readable) -> bool:
    """Whether `calls.tags` is a DuckDB MAP (the store, dashboard.synthetic) rather than JSON; asked once per store."""
    try:
        known = _map_tags.get(store)
    except TypeError:  # not weak-referenceable: ask every time
        known = None
    if known is None:
        try:
            kind = str(store.sql("DESCRIBE SELECT tags FROM calls")["column_type"].iloc[0])
        except Exception:
            return False
        known = kind.upper().startswith("MAP(")
        with contextlib.suppress(TypeError):
            _map_tags[store] = known
    return known


def unpriced_calls(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model with no price: calls and tokens those calls used (their cost is unknown, not zero)."""
    totals, params = _call_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model, {_sum('unpriced_calls')} AS calls,
               {_sum('unpriced_input_tokens')} AS input_tokens,
               {_sum('unpriced_output_tokens')} AS output_tokens,
               max(unpriced_last_seen) AS last_seen
        FROM p WHERE unpriced_calls > 0
        GROUP BY model ORDER BY calls DESC, model
        """,
        params,
    )


def cache_tokens(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: uncached input, cache read and cache write tokens and the hit ratio (read / all input)."""
    totals, params = _call_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model,
               {_sum('input_tokens')} AS input_tokens,
               {_sum('cache_read_tokens')} AS cache_read_tokens,
               {_sum('cache_write_tokens')} AS cache_write_tokens,
               {_sum('cache_write_1h_tokens')} AS cache_write_1h_tokens,
               (coalesce(sum(cache_read_tokens), 0)
                / nullif(coalesce(sum(input_tokens), 0) + coalesce(sum(cache_read_tokens), 0) + coalesce(sum(cache_write_tokens), 0), 0))::DOUBLE AS hit_ratio
        FROM p
        GROUP BY model ORDER BY cache_read_tokens DESC, model
        """,
        params,
    )


def cache_savings(store: Readable, filters: Filters) -> pd.DataFrame:
    """`cache_tokens` plus what caching saved per model in USD at list prices: reads billed at the cache-read
    price instead of the input price, minus the premium paid for cache writes. `saved_usd` is NaN for a model
    without a price (or when no price data is installed)."""
    frame = cache_tokens(store, filters)
    rates = [_cache_rates(model) for model in frame["model"]]
    read_saving = [r[0] if r else None for r in rates]
    write_premium_5m = [r[1] if r else None for r in rates]
    write_premium_1h = [r[2] if r else None for r in rates]
    frame["read_saved_usd"] = pd.to_numeric(pd.Series(read_saving, index=frame.index, dtype=object)) * frame["cache_read_tokens"]
    five_min = frame["cache_write_tokens"] - frame["cache_write_1h_tokens"]
    frame["write_premium_usd"] = (
        pd.to_numeric(pd.Series(write_premium_5m, index=frame.index, dtype=object)) * five_min
        + pd.to_numeric(pd.Series(write_premium_1h, index=frame.index, dtype=object)) * frame["cache_write_1h_tokens"]
    )
    frame["saved_usd"] = frame["read_saved_usd"] - frame["write_premium_usd"]
    return frame


_rates_lock = threading.Lock()
_rates: dict[str, tuple[float, float, float] | None] = {}
_PROBE = 1000  # tokens per probe: small enough to stay below any long-context price tier


def _cache_rates(model: str) -> tuple[float, float, float] | None:
    """(input - cache read, cache write 5m - input, cache write 1h - input) in USD per token, or None."""
    with _rates_lock:
        if model in _rates:
            return _rates[model]
    rates: tuple[float, float, float] | None = None
    try:
        rates = _rates_from_tracer_cost(model)
    except ImportError:
        rates = _rates_from_genai_prices(model)
    except Exception:
        log.debug("no cache prices for %s", model, exc_info=True)
    with _rates_lock:
        _rates[model] = rates
    return rates


def _rates_from_tracer_cost(model: str) -> tuple[float, float, float] | None:
    from tracer.cost import cost_of  # the cost engineer's module; absent in a partial install

    def price(**usage: Any) -> Decimal | None:
        return cost_of(model, {"input_tokens": 0, "output_tokens": 0, **usage})

    plain = price(input_tokens=_PROBE)
    read = price(cache_read_input_tokens=_PROBE)
    write_5m = price(
        cache_creation_input_tokens=_PROBE,
        cache_creation={"ephemeral_5m_input_tokens": _PROBE, "ephemeral_1h_input_tokens": 0},
    )
    write_1h = price(
        cache_creation_input_tokens=_PROBE,
        cache_creation={"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": _PROBE},
    )
    if plain is None or read is None or write_5m is None:
        return None
    write_1h = write_1h if write_1h is not None else write_5m
    return (float(plain - read) / _PROBE, float(write_5m - plain) / _PROBE, float(write_1h - plain) / _PROBE)


def _rates_from_genai_prices(model: str) -> tuple[float, float, float] | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    try:
        # genai-prices counts input_tokens including the cached ones.
        plain = calc_price(Usage(input_tokens=_PROBE), model, provider_id="anthropic").total_price
        read = calc_price(Usage(input_tokens=_PROBE, cache_read_tokens=_PROBE), model, provider_id="anthropic").total_price
        write = calc_price(Usage(input_tokens=_PROBE, cache_write_tokens=_PROBE), model, provider_id="anthropic").total_price
    except Exception:
        return None
    # genai-prices has one cache-write price (5 minutes); the 1-hour write costs twice the input price.
    return (float(plain - read) / _PROBE, float(write - plain) / _PROBE, float(plain) / _PROBE)


# --------------------------------------------------------------------------------------------------------------
# Exact percentiles in two passes
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Percentiles:
    """One set of percentiles to compute exactly: of `value` (SQL over the calls `c`), per `key` (SQL giving an
    integer per group: `hash(c.model)`, or `0` for all rows at once), over the rows where `extra` holds as well.
    The first pass's buckets are `value` rounded down to whole units."""

    key: str
    value: str
    quantiles: tuple[float, ...]
    extra: str = ""
    key_params: tuple[Any, ...] = ()

    def bucket(self) -> str:
        # floor() never decreases as the value grows, so the buckets keep the values' order. A value too big for
        # BIGINT (or NaN) fails the cast and the whole computation falls back to quantile_cont.
        return f"floor({self.value})::BIGINT"

    def source(self, clause: str) -> str:
        return f"FROM calls c {_and(clause, ' AND '.join([f'{self.value} IS NOT NULL', *([self.extra] if self.extra else [])]))}"


def _exact_percentiles(store: Readable, filters: Filters, sets: Sequence[_Percentiles]) -> list[dict[int, list[float | None]]]:
    """For each set, {key: [its quantiles, in order]}: exactly what `quantile_cont(value, [q, ...])` per key
    gives (keys without a value are absent), in a fraction of the time over millions of rows.

    `quantile_cont` copies every value of a group and partially sorts them on one core: about 200 ms for 10M
    doubles. Here a first pass counts the values per key and whole unit (a parallel hash aggregate over two
    integers) and keeps, per key, the buckets that hold a wanted rank (`floor` and `ceil` of (n - 1) * q); a
    second fetches the values of only those buckets, sorted (about 0.1 % of them). The ranks' values are then
    interpolated as DuckDB does (`_interpolate`)."""
    clause, params = where(filters)
    try:
        return _two_passes(store, clause, params, sets)
    except Exception:  # a value that does not fit a BIGINT bucket (NaN, 1e300): the one-pass way
        log.debug("exact percentiles in two passes failed; quantile_cont instead", exc_info=True)
    results: list[dict[int, list[float | None]]] = []
    for s in sets:
        frame = store.sql(
            f"SELECT {s.key} AS k, quantile_cont({s.value}, ?::DOUBLE[]) AS q {s.source(clause)} GROUP BY ALL",
            [*s.key_params, list(s.quantiles), *params],
        )
        results.append({int(k): [None if pd.isna(v) else float(v) for v in q] for k, q in frame.itertuples(index=False)})
    return results


def _two_passes(store: Readable, clause: str, params: list[Any], sets: Sequence[_Percentiles]) -> list[dict[int, list[float | None]]]:
    parts, args = [], []
    for index, s in enumerate(sets):
        parts.append(f"SELECT {index} AS s, {s.key} AS k, {s.bucket()} AS b, count(*) AS n {s.source(clause)} GROUP BY ALL")
        args.extend([*s.key_params, *params])
    # Per set and key: the buckets that hold a wanted rank, each with the rank of its first value (`lo`).
    found = store.sql(
        f"""
        WITH h AS MATERIALIZED ({" UNION ALL ".join(parts)}),
             c AS MATERIALIZED (
                SELECT s, k, b, n, (sum(n) OVER (PARTITION BY s, k ORDER BY b) - n)::BIGINT AS lo,
                       (sum(n) OVER (PARTITION BY s, k))::BIGINT AS total FROM h),
             r AS (SELECT s, k, (total - 1) * unnest(list_extract(?::DOUBLE[][], s + 1)) AS rn
                   FROM (SELECT DISTINCT s, k, total FROM c))
        SELECT DISTINCT c.s, c.k, c.b, c.lo, c.total FROM c JOIN r ON c.s = r.s AND c.k = r.k
        WHERE (floor(r.rn) >= c.lo AND floor(r.rn) < c.lo + c.n) OR (ceil(r.rn) >= c.lo AND ceil(r.rn) < c.lo + c.n)
        """,
        [*args, [list(s.quantiles) for s in sets]],
    )
    results: list[dict[int, list[float | None]]] = [{} for _ in sets]
    if found.empty:
        return results
    parts, args = [], []
    for index, s in enumerate(sets):
        buckets = sorted({int(b) for b in found.loc[found["s"] == index, "b"]})
        if buckets:
            parts.append(
                f"SELECT {index} AS s, {s.key} AS k, {s.bucket()} AS b, list_sort(list({s.value})) AS v "
                f"{s.source(clause)} AND {s.bucket()} IN (SELECT unnest(?::BIGINT[])) GROUP BY ALL"
            )
            args.extend([*s.key_params, *params, buckets])
    fetched = store.sql(" UNION ALL ".join(parts), args)
    values = {(int(i), int(k), int(b)): v for i, k, b, v in fetched.itertuples(index=False)}
    chunks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    totals: dict[tuple[int, int], int] = {}
    for i, k, b, lo, total in found.itertuples(index=False):
        chunks.setdefault((int(i), int(k)), []).append((int(lo), int(b)))
        totals[int(i), int(k)] = int(total)
    for (i, k), total in totals.items():
        starts = sorted(chunks[i, k])

        def at(rank: int, i: int = i, k: int = k, starts: list[tuple[int, int]] = starts) -> float:
            lo, b = max(start for start in starts if start[0] <= rank)
            return float(values[i, k, b][rank - lo])

        out: list[float | None] = []
        for q in sets[i].quantiles:
            rn = float(total - 1) * q  # as DuckDB: (double)(n - 1) * q
            low, high = math.floor(rn), math.ceil(rn)
            out.append(at(low) if low == high else _interpolate(at(low), rn - low, at(high)))
        results[i][k] = out
    return results


def _interpolate(lo: float, d: float, hi: float) -> float:
    """`lo * (1 - d) + hi * d` exactly as DuckDB's `quantile_cont` computes it: its compiler fuses the multiply
    and add (one rounding, like C's `fma(lo, 1 - d, hi * d)`) where the machine can, which changes the last bit
    now and then. Which of the two this DuckDB does is found out once (`_fused`)."""
    if _fused():
        return float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d))
    return lo * (1.0 - d) + hi * d


@functools.cache
def _fused() -> bool:
    import duckdb

    # Pairs of values and fractions where the two forms disagree: DuckDB's own answers say which form it uses.
    rng = random.Random(5)
    probes: list[tuple[float, float, float]] = []
    while len(probes) < 32:
        lo, hi, d = rng.uniform(100, 20000), rng.uniform(20000, 40000), 0.3
        if float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d)) != lo * (1.0 - d) + hi * d:
            probes.append((lo, hi, d))
    con = duckdb.connect()
    try:
        got = con.execute(
            "SELECT i, quantile_cont(x, 0.3) FROM (SELECT unnest(range(?)) AS i, unnest(?::DOUBLE[][]) AS xs), unnest(xs) AS u(x) "
            "GROUP BY i ORDER BY i",
            [len(probes), [[lo, hi] for lo, hi, _ in probes]],
        ).fetchall()
    finally:
        con.close()
    return all(value == float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d)) for (_, value), (lo, hi, d) in zip(got, probes, strict=True))


# --------------------------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------------------------


# Latency leaves out Message Batches results (operation 'batch'): capture records them with duration 0 when the
# application reads a batch's results, so they would pull every percentile down. Cost queries count them.
_TIMED = "c.operation IS DISTINCT FROM 'batch'"
_P3 = (0.5, 0.95, 0.99)


def _and(clause: str, condition: str) -> str:
    return f"{clause} AND {condition}" if clause else f"WHERE {condition}"


def latency_by_model(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: calls, p50/p95/p99 duration and time to first token (ms), median output tokens per second
    (Message Batches results left out)."""
    totals, params = _call_totals(store, filters)
    frame = store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model, {_sum('calls')} AS calls, {_sum('streamed')} AS streamed, hash(model) AS _k
        FROM p WHERE {_TIMED.replace('c.', '')}
        GROUP BY model ORDER BY calls DESC, model
        """,
        params,
    )
    key, key_params = "hash(c.model)", cast(tuple[Any, ...], ())
    keys = [int(k) for k in frame.pop("_k")]
    if len(set(keys)) < len(keys):  # two models with one hash: number them instead (a little slower)
        models = [m for m in frame["model"] if isinstance(m, str)]
        key, key_params = "coalesce(list_position(?::VARCHAR[], c.model), 0)", (models,)
        keys = [models.index(m) + 1 if isinstance(m, str) else 0 for m in frame["model"]]
    sets = [
        _Percentiles(key, "c.duration_ms", _P3, _TIMED, key_params),
        _Percentiles(key, "c.ttft_ms", _P3, _TIMED, key_params),
    ]
    if _has_columns(store, "calls", "output_tokens_per_s"):  # the reader keeps it (tracer.store._reader._speed)
        sets.append(_Percentiles(key, "c.output_tokens_per_s", (0.5,), _TIMED, key_params))
    else:
        per_second = "c.output_tokens / nullif((c.duration_ms - coalesce(c.ttft_ms, 0)) / 1000.0, 0)"
        sets.append(_Percentiles(key, per_second, (0.5,), f"{_TIMED} AND c.status = 'ok' AND c.output_tokens > 0", key_params))
    durations, ttfts, speeds = _exact_percentiles(store, filters, sets)

    def column(found: dict[int, list[float | None]], i: int) -> pd.Series:
        return pd.Series([found.get(k, [None] * (i + 1))[i] for k in keys], index=frame.index, dtype="float64")

    return pd.DataFrame(
        {
            "model": frame["model"],
            "calls": frame["calls"],
            "p50_ms": column(durations, 0),
            "p95_ms": column(durations, 1),
            "p99_ms": column(durations, 2),
            "streamed": frame["streamed"],
            "ttft_p50_ms": column(ttfts, 0),
            "ttft_p95_ms": column(ttfts, 1),
            "ttft_p99_ms": column(ttfts, 2),
            "output_tokens_per_s": column(speeds, 0),
        }
    )


def latency_over_time(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: calls, p50/p95/p99 duration and p50/p95 time to first token (ms) (Message
    Batches results left out)."""
    clause, params = where(filters)
    size = _bucket_for(store, filters)
    return store.sql(
        f"""
        WITH q AS (
            SELECT {_bucket('c.start_time')} AS bucket, c.model, count(*) AS calls,
                   quantile_cont(c.duration_ms, [0.5, 0.95, 0.99]) AS d,
                   quantile_cont(c.ttft_ms, [0.5, 0.95]) AS t
            FROM calls c {_and(clause, _TIMED)}
            GROUP BY ALL
        )
        SELECT bucket, model, calls, d[1] AS p50_ms, d[2] AS p95_ms, d[3] AS p99_ms, t[1] AS ttft_p50_ms, t[2] AS ttft_p95_ms
        FROM q ORDER BY bucket, model
        """,
        [*_bucket_params(size), *params],
    )


HISTOGRAM_BINS = 40


def latency_histogram(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model and duration bin: `bin_start_ms`, `bin_end_ms`, `calls`. Bins are equal widths up to the p99
    duration; slower calls land in the last bin (Message Batches results left out)."""
    clause, params = where(filters)
    clause = _and(clause, f"c.duration_ms IS NOT NULL AND {_TIMED}")
    (p99,) = _exact_percentiles(store, filters, [_Percentiles("0", "c.duration_ms", (0.99,), _TIMED)])
    width = max(p99[0][0] / HISTOGRAM_BINS, 1.0) if 0 in p99 else 1.0  # type: ignore[operator]
    return store.sql(
        f"""
        WITH b AS (SELECT c.model, least(floor(c.duration_ms / ?), ? - 1)::INTEGER AS i, ?::DOUBLE AS width FROM calls c {clause})
        SELECT model, i * width AS bin_start_ms, (i + 1) * width AS bin_end_ms, count(*) AS calls
        FROM b GROUP BY ALL ORDER BY model, bin_start_ms
        """,
        [width, HISTOGRAM_BINS, width, *params],
    )


# --------------------------------------------------------------------------------------------------------------
# Reliability
# --------------------------------------------------------------------------------------------------------------

_ATTEMPT_KINDS = f"""
       {_sum('attempts')} AS attempts,
       {_sum('attempts', 'http_status = 429')} AS rate_limited,
       {_sum('attempts', 'http_status = 529')} AS overloaded,
       {_sum('attempts', 'http_status >= 500 AND http_status <> 529')} AS server_errors,
       {_sum('attempts', "error_type IN ('timeout', 'stream_timeout')")} AS timeouts,
       {_sum('attempts', "error_type = 'connection'")} AS connection_errors"""

_ATTEMPT_RATES = """
       rate_limited / attempts AS rate_429, overloaded / attempts AS rate_529,
       server_errors / attempts AS rate_5xx, timeouts / attempts AS rate_timeout,
       connection_errors / attempts AS rate_connection"""


def _attempts_join(store: Readable, filters: Filters) -> tuple[str, str, list[Any]]:
    """FROM/WHERE text for the attempts (alias `a`) of the calls in `filters`, the expression for their call's
    model, and the parameters.

    `tracer.store.Store` gives every attempt row its call's columns when it loads them (`call_model`, ...;
    NULL while the call is not in the store), so this is a scan of the attempts; over 10M calls that is about
    ten times faster than the join, which builds a hash table of every call on two string ids. Anything else
    (a DuckDB file holding the three tables) is joined."""
    if _has_call_columns(store):
        clause, params = where(filters, "a", time_column="call_start_time", prefix="call_")
        clause = (clause + " AND " if clause else "WHERE ") + "a.call_start_time IS NOT NULL"
        return f"attempts a {clause}", "a.call_model", params
    clause, params = where(filters)
    return f"attempts a JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id {clause}", "c.model", params


_view_columns: weakref.WeakKeyDictionary[Any, dict[str, frozenset[str]]] = weakref.WeakKeyDictionary()


def _has_columns(store: Readable, view: str, *names: str) -> bool:
    """Whether `view` has all these columns (the reader adds some to a DuckDB file's); asked once per store."""
    try:
        known = _view_columns.setdefault(store, {})
    except TypeError:  # not weak-referenceable: ask every time
        known = {}
    if view not in known:
        try:
            known[view] = frozenset(store.sql(f"DESCRIBE {view}")["column_name"])
        except Exception:  # no such view: remembered as one without columns
            known[view] = frozenset()
    return set(names) <= known[view]


def _has_call_columns(store: Readable) -> bool:
    """Whether the attempts view carries its call's columns (`tracer.store.Store` does)."""
    return _has_columns(store, "attempts", "call_start_time", "call_model", "call_service_name", "call_tags")


def error_rates(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: attempts, counts and rates (per attempt) of 429, 529, other 5xx, timeouts, connection errors."""
    totals, params = _attempt_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals}), k AS (SELECT model, {_ATTEMPT_KINDS} FROM p GROUP BY ALL)
        SELECT *, {_ATTEMPT_RATES} FROM k ORDER BY attempts DESC, model
        """,
        params,
    )


def error_rates_over_time(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: attempts and the 429/529/5xx/timeout rates (per attempt)."""
    size = _bucket_for(store, filters)
    totals, params = _attempt_totals(store, filters, size)
    return store.sql(
        f"""
        WITH p AS ({totals}),
             k AS (SELECT make_timestamptz({_bucket_us('t')}) AS bucket, model, {_ATTEMPT_KINDS} FROM p GROUP BY ALL)
        SELECT *, {_ATTEMPT_RATES} FROM k ORDER BY bucket, model
        """,
        [*params, *_bucket_params(size)],
    )


def retries_by_model(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: calls, retries (attempts beyond the first), retries per call, calls that needed a retry."""
    totals, params = _call_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model, {_sum('calls')} AS calls,
               {_sum('(attempts - 1) * calls')} AS retries,
               coalesce(sum((attempts - 1) * calls) / sum(calls) FILTER (WHERE attempts IS NOT NULL), 0)::DOUBLE AS retries_per_call,
               {_sum('calls', 'attempts > 1')} AS retried_calls
        FROM p
        GROUP BY model ORDER BY retries DESC, model
        """,
        params,
    )


def attempts_distribution(store: Readable, filters: Filters) -> pd.DataFrame:
    """How many calls took 1, 2, 3, ... HTTP attempts, and their final status."""
    totals, params = _call_totals(store, filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT attempts, status, {_sum('calls')} AS calls
        FROM p
        GROUP BY ALL ORDER BY attempts, status
        """,
        params,
    )


def ratelimit_headroom(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: the lowest requests and tokens remaining that the API reported."""
    size = _bucket_for(store, filters)
    totals, params = _attempt_totals(store, filters, size)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT make_timestamptz({_bucket_us('t')}) AS bucket, model,
               min(requests_remaining) AS requests_remaining,
               min(tokens_remaining) AS tokens_remaining
        FROM p
        GROUP BY ALL
        HAVING sum(reported) > 0
        ORDER BY bucket, model
        """,
        [*params, *_bucket_params(size)],
    )


def breaker_timeline(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per breaker (`name`): each state it entered (`state`), from `start` until the next transition (`finish`;
    the end of the window, or now, for the last one)."""
    clause, params = _events_where(filters)
    extra = ("AND " if clause else "WHERE ") + "e.kind = 'breaker_transition'"
    finish = filters.end or dt.datetime.now(dt.UTC)
    return store.sql(
        f"""
        SELECT e.name, e.from_state, e.to_state AS state, e.time AS start,
               coalesce(lead(e.time) OVER (PARTITION BY e.name ORDER BY e.time), greatest(?, e.time)) AS finish
        FROM events e {clause} {extra}
        ORDER BY e.name, e.time
        """,
        [finish, *params],
    )


def budget_events(store: Readable, filters: Filters) -> pd.DataFrame:
    """Budget trips and warnings, newest first."""
    clause, params = _events_where(filters)
    extra = ("AND " if clause else "WHERE ") + "e.kind LIKE 'budget%'"
    return store.sql(
        f"SELECT e.time, e.kind, e.name, e.from_state, e.to_state, CAST(e.attributes AS VARCHAR) AS attributes FROM events e {clause} {extra} ORDER BY e.time DESC LIMIT 200",
        params,
    )


def events_summary(store: Readable, filters: Filters) -> pd.DataFrame:
    """Resilience events per kind and name: count, first and last time."""
    clause, params = _events_where(filters)
    return store.sql(
        f"SELECT e.kind, e.name, count(*) AS events, min(e.time) AS first, max(e.time) AS last FROM events e {clause} GROUP BY ALL ORDER BY events DESC, e.kind, e.name",
        params,
    )


# --------------------------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------------------------

CALL_COLUMNS = """c.start_time, c.model, c.status, c.http_status, c.error_type, c.duration_ms, c.ttft_ms, c.attempts,
       c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.output_tokens, c.cost_usd::DOUBLE AS cost_usd,
       c.service_name, c.operation, c.streaming, c.trace_id, c.span_id"""


def _calls(store: Readable, filters: Filters, order: str, limit: int, *, top: str | None = None) -> pd.DataFrame:
    """The first `limit` calls in `order`. With `top` (a numeric column that `order` starts with, descending, NULLs
    last), the `limit`-th largest value is found first, on that column alone, and the calls at or above it are then
    read with it as a filter: DuckDB reads the other columns (string ids among them, compressed in the reader's
    cache file) of a few rows instead of 10M (over 10M calls: 70-80 ms -> about 12 ms)."""
    clause, params = where(filters)
    if top is not None and limit > 0:
        found = store.sql(
            f"SELECT {top}::DOUBLE AS v FROM calls c {clause} ORDER BY {top} DESC NULLS LAST LIMIT 1 OFFSET ?", [*params, int(limit) - 1]
        )
        value = None if found.empty else found["v"].iloc[0]
        if value is not None and math.isfinite(value):
            # A little below it: the DOUBLE may round a DECIMAL cost up. More rows only pass the filter; the
            # ORDER BY and LIMIT still pick the same ones.
            clause, params = _and(clause, f"{top} >= ?"), [*params, float(value) - abs(float(value)) * 1e-9 - 1e-300]
    return store.sql(f"SELECT {CALL_COLUMNS} FROM calls c {clause} ORDER BY {order} LIMIT ?", [*params, int(limit)])


def recent_calls(store: Readable, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """The newest calls."""
    return _calls(store, filters, "c.start_time DESC, c.span_id", limit)


def slowest_calls(store: Readable, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """The longest calls (duration of the whole call, retries included)."""
    return _calls(store, filters, "c.duration_ms DESC NULLS LAST, c.span_id", limit, top="c.duration_ms")


def costliest_calls(store: Readable, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """The most expensive calls."""
    return _calls(store, filters, "c.cost_usd DESC NULLS LAST, c.span_id", limit, top="c.cost_usd")


def call_detail(store: Readable, span_id: str) -> pd.DataFrame:
    """One call by its span id (all columns of the calls view)."""
    return store.sql("SELECT * FROM calls WHERE span_id = ? LIMIT 1", [span_id])


def call_attempts(store: Readable, filters: Filters, span_id: str | None = None) -> pd.DataFrame:
    """The attempts of one call (the slowest call in `filters` when no span id is given), in order, with each
    attempt's offset from the call's start (`offset_ms`), and the gap before it (`gap_ms`: the SDK's wait,
    retry-after or backoff, after the previous attempt ended)."""
    start = None
    if span_id is None:
        slowest = slowest_calls(store, filters, limit=1)
        if slowest.empty:
            return store.sql(
                "SELECT *, NULL::DOUBLE AS offset_ms, NULL::DOUBLE AS gap_ms, NULL::DOUBLE AS end_ms FROM attempts WHERE false"
            )
        span_id = str(slowest["span_id"].iloc[0])
        start = slowest["start_time"].iloc[0]
        start = None if pd.isna(start) else start.to_pydatetime()
    # The call's start time, when known, lets DuckDB skip every block of calls (and, where attempts carry their
    # call's start time, of attempts) outside it instead of comparing 10M string ids.
    call_filter = "span_id = ?" + (" AND start_time = ?" if start is not None else "")
    same_start = " AND a.call_start_time = call.start_time" if _has_call_columns(store) else ""
    return store.sql(
        f"""
        WITH call AS (SELECT trace_id, span_id, start_time FROM calls WHERE {call_filter} LIMIT 1),
             a AS (
                SELECT a.*,
                       (epoch_us(a.start_time) - epoch_us(call.start_time)) / 1000.0 AS offset_ms
                FROM attempts a JOIN call ON a.call_span_id = call.span_id AND a.trace_id = call.trace_id{same_start}
             )
        SELECT *, offset_ms + duration_ms AS end_ms,
               offset_ms - lag(offset_ms + duration_ms) OVER (ORDER BY attempt) AS gap_ms
        FROM a ORDER BY attempt
        """,
        [span_id] if start is None else [span_id, start],
    )


def models_and_services(store: Readable) -> pd.DataFrame:
    """Every (model, service_name) pair with its call count: the choices offered by the filters."""
    return store.sql("SELECT model, service_name, count(*) AS calls FROM calls GROUP BY ALL ORDER BY calls DESC")


def tag_values(store: Readable, limit: int = 200) -> pd.DataFrame:
    """The most used tag key/value pairs: choices for the tag filter."""
    if _tags_are_map(store):
        pairs = "SELECT e.key AS tag, e.value AS value FROM (SELECT unnest(map_entries(tags)) AS e FROM calls)"
    else:
        pairs = "SELECT k AS tag, json_extract_string(j, k) AS value FROM (SELECT CAST(tags AS JSON) AS j FROM calls), unnest(json_keys(j)) AS u(k)"
    return store.sql(
        f"""
        WITH pairs AS ({pairs})
        SELECT tag, value, count(*) AS calls
        FROM pairs
        GROUP BY ALL ORDER BY calls DESC, tag, value LIMIT ?
        """,
        [int(limit)],
    )


NAMED: dict[str, Callable[[Readable, Filters], pd.DataFrame]] = {
    "headline": headline,
    "cost_by_model": cost_by_model,
    "cost_over_time": cost_over_time,
    "cost_by_tag": cost_by_tag,
    "unpriced_calls": unpriced_calls,
    "cache_savings": cache_savings,
    "latency_by_model": latency_by_model,
    "latency_over_time": latency_over_time,
    "latency_histogram": latency_histogram,
    "error_rates": error_rates,
    "error_rates_over_time": error_rates_over_time,
    "retries_by_model": retries_by_model,
    "attempts_distribution": attempts_distribution,
    "ratelimit_headroom": ratelimit_headroom,
    "breaker_timeline": breaker_timeline,
    "budget_events": budget_events,
    "events_summary": events_summary,
    "recent_calls": recent_calls,
    "slowest_calls": slowest_calls,
    "costliest_calls": costliest_calls,
    "call_attempts": call_attempts,
    "time_window": time_window,
}
"""Every query that takes just `(store, filters)`, by name (the dashboard's panels and benchmarks/store.py)."""


# --------------------------------------------------------------------------------------------------------------
# Opening a store for reading
# --------------------------------------------------------------------------------------------------------------


class DuckDBFile:
    """A single DuckDB database file holding `calls`, `attempts` and `events` (tables or views), read-only:
    a snapshot of a store, or what `dashboard.synthetic` writes. Same `.sql` / `.rows` as `tracer.store.Store`.

    >>> DuckDBFile("snapshot.duckdb").sql("SELECT count(*) FROM calls")   # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        self._con = duckdb.connect(str(self.path), read_only=True)
        self._lock = threading.Lock()

    def _cursor(self) -> Any:
        with self._lock:  # each thread (Streamlit session) gets its own cursor over the one connection
            return self._con.cursor()

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        cursor = self._cursor()
        try:
            return cursor.execute(query, params).df()
        finally:
            cursor.close()

    def rows(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self._cursor()
        try:
            return cursor.execute(query, params).fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()


def open_store(path: str | Path) -> Readable:
    """A directory is a live store (`tracer.store.Store`); a file is a DuckDB database (`DuckDBFile`)."""
    target = Path(path)
    if target.is_file():
        return DuckDBFile(target)
    from tracer.store import Store

    return Store(target)
