"""The Calls page's queries: the recent, slowest and costliest calls (a page at a time, narrowed by status, error
type, operation or an id), one call, and one call's attempts with the waits between them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tracer.read._buckets import bucket, bucket_for, bucket_params, with_width
from tracer.read._filters import Filters, and_, where
from tracer.read._store import Readable

PAGE_SIZE = 50


@dataclass(frozen=True)
class Narrowing:
    """What the Calls page's own controls narrow its list to, beyond the shared `Filters`: any of these statuses,
    error types and operations, and `search`, an id a person pasted (a request id, of the call or of any of its
    attempts, a response id, trace id, conversation id or span id; exact).

    >>> narrowing_where(Narrowing(statuses=("error",), operations=("chat", "batch")))
    ('c.status IN (?) AND c.operation IN (?, ?)', ['error', 'chat', 'batch'])
    """

    statuses: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    search: str = ""

    def __bool__(self) -> bool:
        return bool(self.statuses or self.error_types or self.operations or self.search.strip())


def narrowing_where(narrowing: Narrowing) -> tuple[str, list[Any]]:
    """The condition (no WHERE) over the calls view (alias `c`) for `narrowing`, and its parameters; "" for none."""
    found: list[str] = []
    params: list[Any] = []
    for column, values in (("status", narrowing.statuses), ("error_type", narrowing.error_types), ("operation", narrowing.operations)):
        if values:
            found.append(f"c.{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    wanted = narrowing.search.strip()
    if wanted:
        # A retried call has a request id per attempt; the call row keeps one of them.
        found.append(
            "(? IN (c.request_id, c.response_id, c.trace_id, c.conversation_id, c.span_id) OR "
            "c.span_id IN (SELECT a.call_span_id FROM attempts a WHERE a.request_id = ?))"
        )
        params.extend([wanted, wanted])
    return " AND ".join(found), params


def _where(filters: Filters, narrowing: Narrowing | None) -> tuple[str, list[Any]]:
    clause, params = where(filters)
    more, more_params = narrowing_where(narrowing or Narrowing())
    return (and_(clause, more), [*params, *more_params]) if more else (clause, params)

# Cost, then tags, first: a list of calls answers "who spent it" before anything else.
CALL_COLUMNS = """c.cost_usd::DOUBLE AS cost_usd, c.tags, c.start_time, c.model, c.status, c.http_status, c.error_type,
       c.duration_ms, c.ttft_ms, c.attempts, c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.output_tokens,
       c.service_name, c.operation, c.streaming, c.conversation_id, c.trace_id, c.span_id"""


def _calls(
    store: Readable, filters: Filters, order: str, limit: int, *, top: str | None = None, offset: int = 0,
    narrowing: Narrowing | None = None,
) -> pd.DataFrame:
    """The first `limit` calls in `order`. With `top` (a numeric column that `order` starts with, descending, NULLs
    last), the `limit`-th largest value is found first, on that column alone, and the calls at or above it are then
    read with it as a filter: DuckDB reads the other columns (string ids among them, compressed in the reader's
    cache file) of a few rows instead of 10M. `offset` skips that many calls first (a later page)."""
    clause, params = _where(filters, narrowing)
    offset = max(int(offset), 0)
    if top is not None and limit > 0:
        found = store.sql(
            f"SELECT {top}::DOUBLE AS v FROM calls c {clause} ORDER BY {top} DESC NULLS LAST LIMIT 1 OFFSET ?",
            [*params, offset + int(limit) - 1],
        )
        value = None if found.empty else found["v"].iloc[0]
        if value is not None and math.isfinite(value):
            # A little below it: the DOUBLE may round a DECIMAL cost up. More rows only pass the filter; the
            # ORDER BY and LIMIT still pick the same ones.
            clause, params = and_(clause, f"{top} >= ?"), [*params, float(value) - abs(float(value)) * 1e-9 - 1e-300]
    return store.sql(
        f"SELECT {CALL_COLUMNS} FROM calls c {clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, int(limit), offset]
    )


def recent_calls(
    store: Readable, filters: Filters, limit: int = PAGE_SIZE, *, offset: int = 0, narrowing: Narrowing | None = None
) -> pd.DataFrame:
    """The newest calls."""
    return _calls(store, filters, "c.start_time DESC, c.span_id", limit, offset=offset, narrowing=narrowing)


def slowest_calls(
    store: Readable, filters: Filters, limit: int = PAGE_SIZE, *, offset: int = 0, narrowing: Narrowing | None = None
) -> pd.DataFrame:
    """The longest calls (duration of the whole call, retries included)."""
    return _calls(store, filters, "c.duration_ms DESC NULLS LAST, c.span_id", limit, top="c.duration_ms", offset=offset,
                  narrowing=narrowing)  # fmt: skip


def costliest_calls(
    store: Readable, filters: Filters, limit: int = PAGE_SIZE, *, offset: int = 0, narrowing: Narrowing | None = None
) -> pd.DataFrame:
    """The most expensive calls."""
    return _calls(store, filters, "c.cost_usd DESC NULLS LAST, c.span_id", limit, top="c.cost_usd", offset=offset,
                  narrowing=narrowing)  # fmt: skip


ORDERS = {"recent": recent_calls, "slowest": slowest_calls, "costliest": costliest_calls}


def count_calls(store: Readable, filters: Filters, narrowing: Narrowing | None = None) -> int:
    """How many calls `filters` and `narrowing` leave (the list's length, for its pages)."""
    clause, params = _where(filters, narrowing)
    return int(store.sql(f"SELECT count(*) AS n FROM calls c {clause}", params)["n"].iloc[0])


def narrowing_choices(store: Readable, filters: Filters) -> pd.DataFrame:
    """Every (status, error_type, operation) in `filters` with its call count: what the list's filters offer."""
    clause, params = where(filters)
    return store.sql(
        f"SELECT c.status, c.error_type, c.operation, count(*) AS calls FROM calls c {clause} GROUP BY ALL ORDER BY calls DESC",
        params,
    )


def calls_over_time(store: Readable, filters: Filters, narrowing: Narrowing | None = None) -> pd.DataFrame:
    """Per time bucket and final status: calls, and the bucket's width `bucket_s`: the chart a person selects bars of
    to narrow the list to those calls."""
    clause, params = _where(filters, narrowing)
    size = bucket_for(store, filters)
    frame = store.sql(
        f"SELECT {bucket('c.start_time')} AS bucket, c.status, count(*) AS calls FROM calls c {clause} GROUP BY ALL ORDER BY bucket, status",
        [*bucket_params(size), *params],
    )
    return with_width(frame, size)


def call_detail(store: Readable, span_id: str) -> pd.DataFrame:
    """One call by its span id (all columns of the calls view), whatever the filters: a link opens its call. Empty
    when the store has no such call."""
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
