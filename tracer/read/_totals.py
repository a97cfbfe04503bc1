"""Roll-up planning: how a query adds up its window from the store's per-minute totals (`tracer.read._rollup`:
`calls_by_minute`, `attempts_by_minute`, `tags_by_minute`) and the rows themselves for what the totals cannot
serve, so that every answer is exactly the rows' answer.

The totals serve the whole minutes of a window; the partial minutes at its edges are added up from the rows with
the same SQL. They cannot serve a tag filter (tags are not among their keys) or time buckets finer than a
minute: those queries add up the rows. `rows_only()` makes every query add up the rows: the one switch the
equivalence tests (tests/store/test_rollup.py) compare the two ways with.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from tracer.read import _rollup
from tracer.read._buckets import bucket_params, bucket_us
from tracer.read._filters import Filters, clauses, where

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_use_totals: contextvars.ContextVar[bool] = contextvars.ContextVar("tracer.read.use_totals", default=True)


@contextlib.contextmanager
def rows_only() -> Iterator[None]:
    """Within this block (this thread or task), every query adds up the rows and never reads the per-minute
    totals: the same answers, slower. For the tests that compare the two, and for checking a suspicion.

    >>> from tracer.read import Filters, overview, open_store, rows_only
    >>> with rows_only():                                          # doctest: +SKIP
    ...     overview.cost_by_model(open_store(".tracer"), Filters())
    """
    token = _use_totals.set(False)
    try:
        yield
    finally:
        _use_totals.reset(token)


Split = tuple[int | None, int | None, list[Filters]]


def whole_minutes(filters: Filters, bucket: int | None) -> Split | None:
    """How a query over `filters` reads the per-minute totals: (first whole minute, end of the last, in epoch
    microseconds, None for open ends), and the windows of the partial minutes at the edges, read from the rows.
    None when the totals cannot serve: a tag filter, time buckets finer than a minute, a window without a whole
    minute in it, or `rows_only()`."""
    if filters.tags or (bucket is not None and bucket % 60) or not _use_totals.get():
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


def from_minutes(
    view: str,
    filters: Filters,
    split: Split,
    edge: Callable[[Filters], tuple[str, list[Any]]],
    time_column: str = "t",
) -> tuple[str, list[Any]]:
    """SQL (and parameters) of the rows of the per-minute `view` for the whole minutes of `split`
    (`whole_minutes`), with the same totals computed from the rows (`edge(window)`, SQL and parameters) for each
    partial minute at the window's ends. `time_column`: the view's minute that the window applies to."""
    lo, hi, edges = split
    # Minute numbers for bounds; no tags: the totals are read only for queries without a tag filter.
    clause, params = clauses(filters, "r", time_column, "", lo, hi, {})
    parts = [f"SELECT * FROM {view} r {clause}"]
    for window in edges:
        sql, more = edge(window)
        parts.append(sql)
        params += more
    return " UNION ALL ".join(parts), params


def call_totals(filters: Filters, bucket: int | None = None) -> tuple[str, list[Any]]:
    """SQL of the calls in `filters` added up per minute `t` and `_rollup.CALL_KEYS` (the columns of
    `calls_by_minute`), and its parameters: the per-minute totals for the window's whole minutes, the rows for the
    rest. Where the totals cannot serve, the rows added up per time bucket `t` (NULL without `bucket`). Either
    way `bucket_us('t')` puts each row in its bucket, and sums over them are the sums over the calls."""
    split = whole_minutes(filters, bucket)
    if split is None:
        clause, params = where(filters)
        if bucket is None:
            return f"SELECT {_rollup.call_totals('NULL::BIGINT')} FROM calls c {clause} GROUP BY ALL", params
        t = bucket_us("epoch_us(c.start_time)")
        return f"SELECT {_rollup.call_totals(t)} FROM calls c {clause} GROUP BY ALL", [*bucket_params(bucket), *params]

    def edge(window: Filters) -> tuple[str, list[Any]]:
        clause, params = where(window)
        return f"SELECT {_rollup.call_totals(_rollup.minute_of('c.start_time'))} FROM calls c {clause} GROUP BY ALL", params

    return from_minutes("calls_by_minute", filters, split, edge)


def attempt_totals(filters: Filters, bucket: int | None = None) -> tuple[str, list[Any]]:
    """As `call_totals`, for the attempts of the calls in `filters` (the columns of `attempts_by_minute`: per
    minute of the attempt `t`, the call's `model`, the attempt's `http_status` and `error_type`)."""
    split = whole_minutes(filters, bucket)
    if split is None:
        source, params = attempts_of(filters)
        t, t_params = ("NULL::BIGINT", []) if bucket is None else (bucket_us("epoch_us(a.start_time)"), bucket_params(bucket))
        totals = _rollup.attempt_totals(t, "NULL::BIGINT", "a.call_model", "NULL::VARCHAR")
        return f"SELECT {totals} FROM {source} GROUP BY ALL", [*t_params, *params]

    def edge(window: Filters) -> tuple[str, list[Any]]:
        source, params = attempts_of(window)
        totals = _rollup.attempt_totals(_rollup.minute_of("a.start_time"), "NULL::BIGINT", "a.call_model", "NULL::VARCHAR")
        return f"SELECT {totals} FROM {source} GROUP BY ALL", params

    return from_minutes("attempts_by_minute", filters, split, edge, "call_t")


def attempts_of(filters: Filters) -> tuple[str, list[Any]]:
    """FROM/WHERE text for the attempts (alias `a`) of the calls in `filters`, and its parameters.

    The store gives every attempt row its call's columns when it loads them (`call_start_time`, `call_model`,
    ...; NULL while the call is not stored), so this is a scan of the attempts; over 10M calls that is about ten
    times faster than a join, which builds a hash table of every call on two string ids."""
    clause, params = where(filters, "a", time_column="call_start_time", prefix="call_")
    clause = (clause + " AND " if clause else "WHERE ") + "a.call_start_time IS NOT NULL"
    return f"attempts a {clause}", params


def tag_totals(filters: Filters) -> tuple[str, list[Any]] | None:
    """SQL of calls and cost per minute, model, service and tag key and value (the columns of `tags_by_minute`)
    for `filters`, and its parameters; None where the totals cannot serve."""
    split = whole_minutes(filters, None)
    if split is None:
        return None

    def edge(window: Filters) -> tuple[str, list[Any]]:
        clause, params = where(window)
        return (
            f"SELECT {_rollup.tag_totals(_rollup.minute_of('c.start_time'))} FROM "
            f"(SELECT c.*, unnest(map_entries(c.tags)) AS e FROM calls c {clause}) c GROUP BY ALL"
        ), params

    return from_minutes("tags_by_minute", filters, split, edge)


def sum_(column: str, condition: str | None = None) -> str:
    """`sum(column)` (FILTER (WHERE condition)) as a BIGINT, 0 when there is nothing to add.

    >>> sum_("calls", "status = 'error'")
    "coalesce(sum(calls) FILTER (WHERE status = 'error'), 0)::BIGINT"
    """
    total = f"sum({column})" + (f" FILTER (WHERE {condition})" if condition else "")
    return f"coalesce({total}, 0)::BIGINT"


ALL_TOKENS = "(coalesce(sum(input_tokens), 0) + coalesce(sum(cache_read_tokens), 0) + coalesce(sum(cache_write_tokens), 0) + coalesce(sum(output_tokens), 0))::BIGINT"
