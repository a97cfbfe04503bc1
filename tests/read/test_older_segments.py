"""Segments written before schema 5 lack `calls.output_tokens_per_s` and `attempts.outcome`: the reader derives them
for those segments alone (`tracer.store.schema.FOR_OLDER_SEGMENTS`), and gets what capture's one definition
(`tracer._derived`) gives for the same values."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from tracer._derived import attempt_outcome, output_tokens_per_s
from tracer.read import Store
from tracer.store.schema import COLUMN_TYPES
from tracer.store.segments import ROWS_MAGIC, encode_rows, segment_name

DAY = "2026-12-01"
START_US = 1_764_547_200_000_000  # 2026-12-01 00:00 UTC
ADDED = {"calls": "output_tokens_per_s", "attempts": "outcome"}  # schema 5


def write_v4(root: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """A row segment as a schema-4 writer left it: every current column but the one schema 5 added."""
    columns = [c for c, _ in COLUMN_TYPES[table] if c != ADDED[table]]
    body = encode_rows([tuple(row.get(c) for c in columns) for row in rows])
    header = {
        ROWS_MAGIC: 1, "table": table, "version": 4, "columns": columns, "rows": len(rows), "first": START_US,
        "last": START_US + len(rows), "bytes": len(body), "crc32": zlib.crc32(body),
    }  # fmt: skip
    directory = root / table / DAY
    directory.mkdir(parents=True, exist_ok=True)
    (directory / segment_name(table, version=4, suffix=".jsonl")).write_bytes((json.dumps([header]) + "\n").encode() + body)


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
