"""The named queries that take shortcuts, against the plain SQL they replace: exact percentiles in two passes
(`quantile_cont` gives the same doubles, to the last bit), the top calls found by a threshold first, and latency
that leaves out Message Batches results. Over a synthetic store read by `Store`, and over small hand-made tables
with ties, NULLs, NaN, one value and none, written into a store of their own."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from tracer import read as q
from tracer._derived import output_tokens_per_s
from tracer.read import Store, calls, latency, overview
from tracer.read._percentiles import interpolate
from tracer.read._segments import write_segment
from tracer.read.synthetic import write_synthetic
from tracer.store import table_from_rows

END = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
FILTERS = [
    q.Filters(),
    q.Filters(start=END - dt.timedelta(hours=30, minutes=7), end=END - dt.timedelta(hours=5)),
    q.Filters(models=("claude-opus-4-5", "claude-haiku-4-5"), services=("search-api",), tags={"feature": "search"}),
    q.Filters(models=("no-such-model",)),
]
IDS = ["all", "window", "models-service-tag", "nothing"]

# What the latency queries computed before the two passes, Message Batches results left out (output tokens per
# second: the column capture decided, `tracer._derived.output_tokens_per_s`).
LATENCY_BY_MODEL = """
    WITH q AS (
        SELECT c.model, count(*) AS calls,
               quantile_cont(c.duration_ms, [0.5, 0.95, 0.99]) AS d,
               quantile_cont(c.ttft_ms, [0.5, 0.95, 0.99]) AS t,
               count(c.ttft_ms) AS streamed,
               median(c.output_tokens_per_s) AS output_tokens_per_s
        FROM calls c {clause}
        GROUP BY c.model
    )
    SELECT model, calls, d[1] AS p50_ms, d[2] AS p95_ms, d[3] AS p99_ms,
           streamed, t[1] AS ttft_p50_ms, t[2] AS ttft_p95_ms, t[3] AS ttft_p99_ms, output_tokens_per_s
    FROM q ORDER BY calls DESC, model
"""
HEADLINE_PERCENTILES = "SELECT quantile_cont(c.duration_ms, [0.5, 0.95, 0.99]) FROM calls c {clause}"
HISTOGRAM = """
    WITH w AS (SELECT greatest(quantile_cont(c.duration_ms, 0.99) / ?, 1.0) AS width FROM calls c {clause}),
         b AS (SELECT c.model, least(floor(c.duration_ms / w.width), ? - 1)::INTEGER AS i, w.width FROM calls c, w {clause})
    SELECT model, i * width AS bin_start_ms, (i + 1) * width AS bin_end_ms, count(*) AS calls
    FROM b GROUP BY ALL ORDER BY model, bin_start_ms
"""


def timed(filters: q.Filters) -> tuple[str, list[Any]]:
    clause, params = q.where(filters)
    return (clause + " AND " if clause else "WHERE ") + "c.operation IS DISTINCT FROM 'batch'", params


def expected_latency_by_model(store: Any, filters: q.Filters) -> pd.DataFrame:
    clause, params = timed(filters)
    return store.sql(LATENCY_BY_MODEL.format(clause=clause), params)


def expected_headline(store: Any, filters: q.Filters) -> list[float | None]:
    clause, params = timed(filters)
    found = store.sql(HEADLINE_PERCENTILES.format(clause=clause), params).iloc[0, 0]
    return [None] * 3 if found is None or found is pd.NA else [float(x) for x in found]


def expected_histogram(store: Any, filters: q.Filters) -> pd.DataFrame:
    clause, params = timed(filters)
    clause += " AND c.duration_ms IS NOT NULL"
    return store.sql(HISTOGRAM.format(clause=clause), [latency.HISTOGRAM_BINS, *params, latency.HISTOGRAM_BINS, *params])


def same(shown: list[float | None], expected: list[float | None]) -> bool:
    return all(((a is None or math.isnan(a)) and (b is None or math.isnan(b))) or a == b for a, b in zip(shown, expected, strict=True))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, 20_000, seed=11, end=END, days=3, chunk_calls=7_000)
    return Store(root)


class TestExactPercentilesOverAStore:
    @pytest.mark.parametrize("filters", FILTERS, ids=IDS)
    def test_latency_by_model_is_quantile_cont_to_the_last_bit(self, synthetic: Store, filters: q.Filters) -> None:
        shown, expected = latency.latency_by_model(synthetic, filters), expected_latency_by_model(synthetic, filters)
        assert list(shown.columns) == list(expected.columns)
        assert shown.equals(expected.astype(shown.dtypes.to_dict()))

    @pytest.mark.parametrize("filters", FILTERS, ids=IDS)
    def test_headline_percentiles_are_quantile_cont_to_the_last_bit(self, synthetic: Store, filters: q.Filters) -> None:
        row = overview.headline(synthetic, filters).iloc[0]
        assert same([row["p50_ms"], row["p95_ms"], row["p99_ms"]], expected_headline(synthetic, filters))

    @pytest.mark.parametrize("filters", FILTERS, ids=IDS)
    def test_the_histogram_bins_are_the_same(self, synthetic: Store, filters: q.Filters) -> None:
        assert latency.latency_histogram(synthetic, filters).equals(expected_histogram(synthetic, filters))

    def test_output_tokens_per_second_is_the_one_definition(self, synthetic: Store) -> None:
        """The column holds what `tracer._derived.output_tokens_per_s` decides for each call, and nothing else."""
        rows = synthetic.rows("SELECT output_tokens, duration_ms, ttft_ms, streaming, status, output_tokens_per_s FROM calls")
        for out, duration, ttft, streaming, status, stored in rows:
            ttft_s = ttft / 1000.0 if streaming and ttft is not None else None
            assert stored == output_tokens_per_s(out, duration / 1000.0, ttft_s, ok=status == "ok")


def store_of(rows: list[dict[str, Any]], root: Path) -> Store:
    """A store holding just these calls (one segment), as an application's exporter would have left them."""
    plain = {"cache_read_tokens": 0, "cache_write_tokens": 0, "cache_write_1h_tokens": 0, "thinking_tokens": 0,
             "attempts": 1, "service_name": "svc", "streaming": False, "trace_id": "t"}  # fmt: skip
    # A NaN duration is stored as NULL, as these cases always had it (they were first read from pandas, which
    # DuckDB reads NaN from as NULL); inf stays inf.
    full = [{**plain, **{k: None if v != v else v for k, v in row.items()}, "cost_usd": Decimal(row["cost_usd"])} for row in rows]
    for row in full:  # what capture would have decided (`tracer._derived`), as a float duration allows
        duration, ttft = row["duration_ms"], row.get("ttft_ms")
        if "output_tokens_per_s" not in row and isinstance(duration, float) and math.isfinite(duration):
            ttft_s = ttft / 1000.0 if isinstance(ttft, float) and math.isfinite(ttft) else None
            row["output_tokens_per_s"] = output_tokens_per_s(row.get("output_tokens"), duration / 1000.0, ttft_s, ok=row["status"] == "ok")
    write_segment(root, "calls", table_from_rows("calls", full), "2026-11-24")
    return Store(root)


def call(i: int, duration: float | None, model: str | None = "m", **more: Any) -> dict[str, Any]:
    return {
        "span_id": f"s{i:05d}", "start_time": END - dt.timedelta(seconds=i), "model": model, "operation": "chat",
        "status": "ok", "duration_ms": duration, "ttft_ms": None if duration is None else duration / 3,
        "output_tokens": 100 + i % 7, "input_tokens": 10, "cost_usd": f"0.{i % 13:03d}", **more,
    }  # fmt: skip


CASES = {
    "ties": [call(i, float(i % 5) + 0.25) for i in range(200)],
    "nulls and a model without one": [call(i, None if i % 3 == 0 else i * 1.37, model=None if i % 4 == 0 else "m") for i in range(101)],
    "one value": [call(0, 12.5)],
    "no durations": [call(i, None) for i in range(5)],
    "wide and negative": [call(i, (-1) ** i * 10.0 ** (i % 12) + i / 7) for i in range(300)],
    "NaN and inf": [call(i, float("nan") if i == 3 else float("inf") if i == 4 else i * 2.5) for i in range(50)],
    "batches at zero": [call(i, 0.0, operation="batch") for i in range(400)] + [call(400 + i, 100.0 + i) for i in range(100)],
}  # fmt: skip


class TestExactPercentilesOverHandMadeRows:
    @pytest.mark.parametrize("rows", CASES.values(), ids=CASES.keys())
    def test_every_percentile_is_quantile_conts(self, rows: list[dict[str, Any]], tmp_path: Path) -> None:
        table = store_of(rows, tmp_path)
        shown, expected = latency.latency_by_model(table, q.Filters()), expected_latency_by_model(table, q.Filters())
        assert shown.equals(expected.astype(shown.dtypes.to_dict()))
        headline = overview.headline(table, q.Filters()).iloc[0]
        assert same([headline["p50_ms"], headline["p95_ms"], headline["p99_ms"]], expected_headline(table, q.Filters()))
        assert latency.latency_histogram(table, q.Filters()).equals(expected_histogram(table, q.Filters()))

    def test_batch_results_are_left_out_of_latency_and_kept_in_cost(self, tmp_path: Path) -> None:
        table = store_of(CASES["batches at zero"], tmp_path)
        head = overview.headline(table, q.Filters()).iloc[0]
        assert head["calls"] == 500 and head["p50_ms"] == 149.5
        assert latency.latency_by_model(table, q.Filters())["calls"].tolist() == [100]
        assert overview.cost_by_model(table, q.Filters())["calls"].tolist() == [500]

    def test_the_interpolation_is_duckdbs(self) -> None:
        con = duckdb.connect()
        for lo, hi in [(100.1, 20000.7), (1.0 / 3, 2.0 / 3), (4968.190542135408, 9021.305460034024)]:
            for fraction in (0.05, 0.3, 0.5, 0.95, 0.99):
                (expected,) = con.execute(
                    f"SELECT quantile_cont(x, {fraction}) FROM (SELECT unnest(?::DOUBLE[]) AS x)", [[lo, hi]]
                ).fetchall()[0]
                assert interpolate(lo, fraction, hi) == expected


class TestTopCalls:
    @pytest.mark.parametrize("rows", CASES.values(), ids=CASES.keys())
    @pytest.mark.parametrize("limit", [1, 3, 50, 1000])
    def test_slowest_and_costliest_are_the_plain_order_by(self, rows: list[dict[str, Any]], limit: int, tmp_path: Path) -> None:
        table = store_of(rows, tmp_path)
        for query, order in ((calls.slowest_calls, "c.duration_ms"), (calls.costliest_calls, "c.cost_usd")):
            expected = table.sql(f"SELECT {calls.CALL_COLUMNS} FROM calls c ORDER BY {order} DESC NULLS LAST, c.span_id LIMIT ?", [limit])
            assert query(table, q.Filters(), limit=limit).equals(expected), query.__name__
