"""The Latency page's queries: p50/p95/p99 per model (or per operation) and over time, time to first token, output
speed, the distribution of durations. Message Batches results are left out (`TIMED`); every percentile is exact.

Each query takes `operations` (the operations it looks at; empty: every timed one) and `split`, the column its
groups are (`"model"` or `"operation"`): Messages calls and count_tokens are different things to time.

>>> min_calls(0.99), is_thin(120, "p95"), is_thin(120, "p99")
(500, False, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pandas as pd

from tracer.read._buckets import bucket, bucket_for, bucket_params, with_width
from tracer.read._filters import Filters, and_, where
from tracer.read._percentiles import P3, TIMED, Percentiles, exact_percentiles
from tracer.read._store import Readable
from tracer.read._totals import call_totals, sum_

HISTOGRAM_BINS = 40
SPLITS = ("model", "operation")
MESSAGES = "chat"  # the operation name of a Messages call (gen_ai.operation.name)
BATCH_RESULTS = "batch"  # Message Batches results: recorded when read, with no latency of their own
# A percentile is thin when fewer calls than this many per call beyond it stand behind it: p50 needs 10 calls, p95
# 100, p99 500 (five calls slower than it). From fewer, one call moves it.
MIN_TAIL = 5
THIN_METHOD = (
    f"A percentile is marked thin when fewer than {MIN_TAIL} calls lie beyond it: p50 from under 10 calls, p95 "
    "under 100, p99 under 500 (in its bucket, or its model or operation)."
)


def min_calls(q: float) -> int:
    """The calls a `q` percentile needs not to be thin: `MIN_TAIL` of them beyond it."""
    return round(MIN_TAIL / (1 - q))


def is_thin(calls: float | None, percentile: str) -> bool:
    """Whether a percentile named `percentile` ("p50", "p95", "p99") over `calls` calls is thin."""
    return calls is None or pd.isna(calls) or calls < min_calls(int(percentile[1:]) / 100)


def operation_label(operation: object) -> str:
    """How the page names an operation: "messages" for Messages calls, the batch API's calls by their method."""
    if not isinstance(operation, str):
        return "(none)"
    if operation == MESSAGES:
        return "messages"
    if operation == BATCH_RESULTS:
        return "batch results"
    return operation.removeprefix("anthropic.messages.")


def operations(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per operation in `filters`: `calls`, and `timed`, whether the Latency page can time it (Message Batches
    results cannot). Most calls first."""
    clause, params = where(filters)
    return store.sql(
        f"""
        SELECT c.operation, count(*) AS calls, bool_or({TIMED} AND c.duration_ms IS NOT NULL) AS timed
        FROM calls c {clause} GROUP BY ALL ORDER BY calls DESC, c.operation
        """,
        params,
    )


def default_operations(found: pd.DataFrame) -> tuple[str, ...]:
    """What the page times unless told otherwise: Messages calls where there are any, else every timed operation."""
    timed = [o for o, t in zip(found["operation"], found["timed"], strict=True) if t and isinstance(o, str)]
    return (MESSAGES,) if MESSAGES in timed else tuple(timed)


def _only(operations: Sequence[str]) -> tuple[str, list[Any]]:
    """The condition keeping `operations` (none: all timed ones), with its parameters, over the calls `c`."""
    if not operations:
        return TIMED, []
    return f"{TIMED} AND c.operation IN ({', '.join('?' * len(operations))})", list(operations)


def _split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split is one of {SPLITS}, not {split!r}")
    return split


def latency_summary(store: Readable, filters: Filters, operations: Sequence[str] = ()) -> pd.DataFrame:
    """One row: `calls` timed and their p50/p95/p99 duration (ms), over `operations`."""
    condition, extra = _only(operations)
    clause, params = where(filters)
    calls = store.sql(f"SELECT count(c.duration_ms) AS n FROM calls c {and_(clause, condition)}", [*params, *extra])
    (found,) = exact_percentiles(store, filters, [Percentiles("0", "c.duration_ms", P3, condition, (), tuple(extra))])
    p50, p95, p99 = found.get(0, [None] * 3)
    return pd.DataFrame({"calls": [int(calls["n"].iloc[0])], "p50_ms": [p50], "p95_ms": [p95], "p99_ms": [p99]}, dtype="float64")


def latency_by_model(store: Readable, filters: Filters, operations: Sequence[str] = (), split: str = "model") -> pd.DataFrame:
    """Per model (or per operation, `split`): calls, p50/p95/p99 duration and time to first token (ms), median
    output tokens per second, over `operations` (Message Batches results left out)."""
    by = _split(split)
    condition, extra = _only(operations)
    totals, params = call_totals(filters)
    frame = store.sql(
        f"""
        WITH p AS ({totals})
        SELECT {by}, {sum_('calls')} AS calls, {sum_('streamed')} AS streamed, hash({by}) AS _k
        FROM p c WHERE {condition}
        GROUP BY {by} ORDER BY calls DESC, {by}
        """,
        [*params, *extra],
    )
    key, key_params = f"hash(c.{by})", cast(tuple[Any, ...], ())
    keys = [int(k) for k in frame.pop("_k")]
    if len(set(keys)) < len(keys):  # two groups with one hash: number them instead (a little slower)
        names = [m for m in frame[by] if isinstance(m, str)]
        key, key_params = f"coalesce(list_position(?::VARCHAR[], c.{by}), 0)", (names,)
        keys = [names.index(m) + 1 if isinstance(m, str) else 0 for m in frame[by]]
    # Each call's output tokens per second is a column, decided at capture (tracer._derived.output_tokens_per_s).
    durations, ttfts, speeds = exact_percentiles(
        store,
        filters,
        [
            Percentiles(key, "c.duration_ms", P3, condition, key_params, tuple(extra)),
            Percentiles(key, "c.ttft_ms", P3, condition, key_params, tuple(extra)),
            Percentiles(key, "c.output_tokens_per_s", (0.5,), condition, key_params, tuple(extra)),
        ],
    )

    def column(found: dict[int, list[float | None]], i: int) -> pd.Series:
        return pd.Series([found.get(k, [None] * (i + 1))[i] for k in keys], index=frame.index, dtype="float64")

    return pd.DataFrame(
        {
            by: frame[by],
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


def latency_over_time(store: Readable, filters: Filters, operations: Sequence[str] = (), split: str = "model") -> pd.DataFrame:
    """Per time bucket and model (or operation, `split`): calls, streams (calls with a time to first token),
    p50/p95/p99 duration and p50/p95 time to first token (ms), over `operations` (Message Batches results left out)."""
    by = _split(split)
    condition, extra = _only(operations)
    clause, params = where(filters)
    size = bucket_for(store, filters)
    frame = store.sql(
        f"""
        WITH q AS (
            SELECT {bucket('c.start_time')} AS bucket, c.{by}, count(*) AS calls, count(c.ttft_ms) AS streams,
                   quantile_cont(c.duration_ms, [0.5, 0.95, 0.99]) AS d,
                   quantile_cont(c.ttft_ms, [0.5, 0.95]) AS t
            FROM calls c {and_(clause, condition)}
            GROUP BY ALL
        )
        SELECT bucket, {by}, calls, streams, d[1] AS p50_ms, d[2] AS p95_ms, d[3] AS p99_ms, t[1] AS ttft_p50_ms,
               t[2] AS ttft_p95_ms
        FROM q ORDER BY bucket, {by}
        """,
        [*bucket_params(size), *params, *extra],
    )
    return with_width(frame, size)


def latency_histogram(store: Readable, filters: Filters, operations: Sequence[str] = (), split: str = "model") -> pd.DataFrame:
    """Per model (or operation, `split`) and duration bin: `bin_start_ms`, `bin_end_ms`, `calls`. Bins are equal
    widths up to the p99 duration; slower calls land in the last bin (Message Batches results left out)."""
    by = _split(split)
    condition, extra = _only(operations)
    clause, params = where(filters)
    clause = and_(clause, f"c.duration_ms IS NOT NULL AND {condition}")
    (p99,) = exact_percentiles(store, filters, [Percentiles("0", "c.duration_ms", (0.99,), condition, (), tuple(extra))])
    width = max(p99[0][0] / HISTOGRAM_BINS, 1.0) if 0 in p99 else 1.0  # type: ignore[operator]
    return store.sql(
        f"""
        WITH b AS (SELECT c.{by}, least(floor(c.duration_ms / ?), ? - 1)::INTEGER AS i, ?::DOUBLE AS width FROM calls c {clause})
        SELECT {by}, i * width AS bin_start_ms, (i + 1) * width AS bin_end_ms, count(*) AS calls
        FROM b GROUP BY ALL ORDER BY {by}, bin_start_ms
        """,
        [width, HISTOGRAM_BINS, width, *params, *extra],
    )
