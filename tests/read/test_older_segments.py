"""Segments written before schema 5 lack `calls.output_tokens_per_s` and `attempts.outcome`: the reader derives them
for those segments alone (`tracer.store.schema.FOR_OLDER_SEGMENTS`), and gets what capture's one definition
(`tracer._derived`) gives for the same values. Segments written before schema 6 lack the cache figures
(`calls.cache_read_saved_usd`, `cache_write_premium_usd`), which need the prices of the day: the reader leaves them
NULL, and the pages count those calls as not known, never as $0."""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tracer._derived import attempt_outcome, output_tokens_per_s
from tracer.read import Store
from tracer.store.schema import COLUMN_TYPES
from tracer.store.segments import ROWS_MAGIC, encode_rows, segment_name

DAY = "2026-12-01"
START_US = 1_764_547_200_000_000  # 2026-12-01 00:00 UTC
# The columns each schema added, per table.
ADDED = {
    5: {"calls": ("output_tokens_per_s",), "attempts": ("outcome",)},
    6: {"calls": ("cache_read_saved_usd", "cache_write_premium_usd")},
}


def write_old(root: Path, table: str, rows: list[dict[str, Any]], version: int = 4, first: int = START_US) -> None:
    """A row segment as a writer of schema `version` left it: every current column but those added after it."""
    later = {c for v, tables in ADDED.items() if v > version for c in tables.get(table, ())}
    columns = [c for c, _ in COLUMN_TYPES[table] if c not in later]
    body = encode_rows([tuple(row.get(c) for c in columns) for row in rows])
    header = {
        ROWS_MAGIC: 1, "table": table, "version": version, "columns": columns, "rows": len(rows), "first": first,
        "last": first + len(rows), "bytes": len(body), "crc32": zlib.crc32(body),
    }  # fmt: skip
    directory = root / table / DAY
    directory.mkdir(parents=True, exist_ok=True)
    name = segment_name(table, version=version, suffix=".jsonl")
    (directory / name).write_bytes((json.dumps([header]) + "\n").encode() + body)


def write_v4(root: Path, table: str, rows: list[dict[str, Any]]) -> None:
    write_old(root, table, rows, 4)


ATTEMPTS = [(200, None), (429, "429"), (529, "529"), (503, "503"), (None, "timeout"), (None, "stream_timeout"),
            (None, "connection"), (200, "stream_error"), (400, "400"), (None, "unfinished"), (None, None)]  # fmt: skip
CALLS = [("ok", 200, 2500.0, 500.0), ("ok", 200, 2000.0, None), ("error", 120, 900.0, 100.0), ("ok", 0, 100.0, None),
         ("ok", 5, 0.5, None), ("ok", 80, 400.0, 399.9995)]  # fmt: skip


@pytest.mark.parametrize("fmt", ["rows", "parquet"])
def test_older_segments_read_the_added_columns_as_capture_defines_them(tmp_path: Path, fmt: str) -> None:
    write_v4(tmp_path, "attempts", [
        {"span_id": f"{i:016x}", "start_time": START_US + i, "attempt": 0, "http_status": s, "error_type": e}
        for i, (s, e) in enumerate(ATTEMPTS)
    ])  # fmt: skip
    write_v4(tmp_path, "calls", [
        {"span_id": f"{i:016x}", "start_time": START_US + i, "operation": "chat", "status": st, "output_tokens": out,
         "duration_ms": d, "ttft_ms": t}
        for i, (st, out, d, t) in enumerate(CALLS)
    ])  # fmt: skip
    if fmt == "parquet":
        from tracer.read import compact

        compact(tmp_path)
    store = Store(tmp_path)
    outcomes = [o for (o,) in store.rows("SELECT outcome FROM attempts ORDER BY start_time")]
    assert outcomes == [attempt_outcome(s, e) for s, e in ATTEMPTS]
    speeds = [v for (v,) in store.rows("SELECT output_tokens_per_s FROM calls ORDER BY start_time")]
    expected = [output_tokens_per_s(out, d / 1000.0, None if t is None else t / 1000.0, ok=st == "ok") for st, out, d, t in CALLS]
    assert speeds == pytest.approx(expected, nan_ok=True) and [v is None for v in speeds] == [v is None for v in expected]
    store.close()


def _cache_call(i: int, model: str, read: int, write: int, **figures: Any) -> dict[str, Any]:
    return {"span_id": f"c{i:015x}", "trace_id": f"{i:032x}", "start_time": START_US + i, "operation": "chat",
            "status": "ok", "model": model, "input_tokens": 100, "output_tokens": 10, "cache_read_tokens": read,
            "cache_write_tokens": write, "cache_write_1h_tokens": 0, "cost_usd": None, **figures}  # fmt: skip


@pytest.mark.parametrize("fmt", ["rows", "parquet"])
def test_cache_figures_before_schema_6_are_not_known_never_zero(tmp_path: Path, fmt: str) -> None:
    """A schema-5 segment has no cache figures: NULL in `calls`; the caching queries leave those calls out of their
    sums and count them (`cache_unknown_calls`, `unknown_turns`); a model whose cache calls are all such has NaN,
    not $0; a model with no cache tokens at all saved $0."""
    from tracer.read import Filters, overview, rows_only, savings

    write_old(tmp_path, "calls", [
        _cache_call(0, "claude-sonnet-4-5", 10_000, 0),
        _cache_call(1, "claude-haiku-4-5", 5_000, 1_000),
        _cache_call(2, "claude-opus-4-5", 0, 0),
    ], version=5)  # fmt: skip
    write_old(tmp_path, "calls", [
        _cache_call(3, "claude-sonnet-4-5", 10_000, 1_000, cache_read_saved_usd=0.027, cache_write_premium_usd=0.00075),
    ], version=6, first=START_US + 3)  # fmt: skip
    if fmt == "parquet":
        from tracer.read import compact

        compact(tmp_path)
    store = Store(tmp_path)
    stored = store.rows("SELECT cache_read_saved_usd, cache_write_premium_usd FROM calls ORDER BY start_time")
    assert stored == [(None, None), (None, None), (None, None), (0.027, 0.00075)]
    for totals in (False, True):  # the per-minute totals and the rows give the same answer
        with rows_only() if not totals else contextlib.nullcontext():
            cache = overview.cache_savings(store, Filters()).set_index("model")
        sonnet, haiku, opus = (cache.loc[m] for m in ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"))
        assert (sonnet["read_saved_usd"], sonnet["write_premium_usd"]) == pytest.approx((0.027, 0.00075))
        assert sonnet["saved_usd"] == pytest.approx(0.02625) and sonnet["cache_unknown_calls"] == 1
        assert pd.isna(haiku["saved_usd"]) and pd.isna(haiku["read_saved_usd"]) and haiku["cache_unknown_calls"] == 1
        assert (opus["saved_usd"], opus["cache_unknown_calls"]) == (0.0, 0)
    assert savings.caching(store, Filters())["cache_unknown_calls"].sum() == 2
    store.close()

