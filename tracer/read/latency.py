"""The Latency page's queries: p50/p95/p99 per model and over time, time to first token, output speed, the
distribution of durations. Message Batches results are left out (`TIMED`); every percentile is exact."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from tracer.read._buckets import bucket, bucket_for, bucket_params, with_width
from tracer.read._filters import Filters, and_, where
from tracer.read._percentiles import P3, TIMED, Percentiles, exact_percentiles
from tracer.read._store import Readable
from tracer.read._totals import call_totals, sum_

HISTOGRAM_BINS = 40


def latency_by_model(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: calls, p50/p95/p99 duration and time to first token (ms), median output tokens per second
    (Message Batches results left out)."""
    totals, params = call_totals(filters)
    frame = store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model, {sum_('calls')} AS calls, {sum_('streamed')} AS streamed, hash(model) AS _k
        FROM p WHERE {TIMED.replace('c.', '')}
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
    # Each call's output tokens per second is a column, decided at capture (tracer._derived.output_tokens_per_s).
    durations, ttfts, speeds = exact_percentiles(
        store,
        filters,
        [
            Percentiles(key, "c.duration_ms", P3, TIMED, key_params),
            Percentiles(key, "c.ttft_ms", P3, TIMED, key_params),
            Percentiles(key, "c.output_tokens_per_s", (0.5,), TIMED, key_params),
        ],
    )

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
    size = bucket_for(store, filters)
    frame = store.sql(
        f"""
        WITH q AS (
            SELECT {bucket('c.start_time')} AS bucket, c.model, count(*) AS calls,
                   quantile_cont(c.duration_ms, [0.5, 0.95, 0.99]) AS d,
                   quantile_cont(c.ttft_ms, [0.5, 0.95]) AS t
            FROM calls c {and_(clause, TIMED)}
            GROUP BY ALL
        )
        SELECT bucket, model, calls, d[1] AS p50_ms, d[2] AS p95_ms, d[3] AS p99_ms, t[1] AS ttft_p50_ms, t[2] AS ttft_p95_ms
        FROM q ORDER BY bucket, model
        """,
        [*bucket_params(size), *params],
    )
    return with_width(frame, size)


def latency_histogram(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model and duration bin: `bin_start_ms`, `bin_end_ms`, `calls`. Bins are equal widths up to the p99
    duration; slower calls land in the last bin (Message Batches results left out)."""
    clause, params = where(filters)
    clause = and_(clause, f"c.duration_ms IS NOT NULL AND {TIMED}")
    (p99,) = exact_percentiles(store, filters, [Percentiles("0", "c.duration_ms", (0.99,), TIMED)])
    width = max(p99[0][0] / HISTOGRAM_BINS, 1.0) if 0 in p99 else 1.0  # type: ignore[operator]
    return store.sql(
        f"""
        WITH b AS (SELECT c.model, least(floor(c.duration_ms / ?), ? - 1)::INTEGER AS i, ?::DOUBLE AS width FROM calls c {clause})
        SELECT model, i * width AS bin_start_ms, (i + 1) * width AS bin_end_ms, count(*) AS calls
        FROM b GROUP BY ALL ORDER BY model, bin_start_ms
        """,
        [width, HISTOGRAM_BINS, width, *params],
    )
