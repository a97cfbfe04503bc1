"""The Calls page's queries: the recent, slowest and costliest calls, one call, and one call's attempts with the
waits between them."""

from __future__ import annotations

import math

import pandas as pd

from tracer.read._filters import Filters, and_, where
from tracer.read._store import Readable

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
            clause, params = and_(clause, f"{top} >= ?"), [*params, float(value) - abs(float(value)) * 1e-9 - 1e-300]
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
    # The call's start time, when known, lets DuckDB skip every block of calls (and, by the call's start time each
    # attempt carries, of attempts) outside it instead of comparing 10M string ids.
    call_filter = "span_id = ?" + (" AND start_time = ?" if start is not None else "")
    return store.sql(
        f"""
        WITH call AS (SELECT trace_id, span_id, start_time FROM calls WHERE {call_filter} LIMIT 1),
             a AS (
                SELECT a.*,
                       (epoch_us(a.start_time) - epoch_us(call.start_time)) / 1000.0 AS offset_ms
                FROM attempts a JOIN call ON a.call_span_id = call.span_id AND a.trace_id = call.trace_id AND a.call_start_time = call.start_time
             )
        SELECT *, offset_ms + duration_ms AS end_ms,
               offset_ms - lag(offset_ms + duration_ms) OVER (ORDER BY attempt) AS gap_ms
        FROM a ORDER BY attempt
        """,
        [span_id] if start is None else [span_id, start],
    )
