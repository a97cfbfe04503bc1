"""The embedded store: append-only Parquet segments that many processes write while readers query them.

>>> from tracer.store import Store, StoreExporter
>>> Store(".tracer").sql("SELECT model, count(*) FROM calls GROUP BY model")     # doctest: +SKIP

Writers: `StoreExporter` (an OpenTelemetry SpanExporter). Readers: `Store` (SQL over the views `calls`,
`attempts`, `events`). Maintenance: `compact`, `prune` (also `tracer store compact|prune|info`).
"""

from __future__ import annotations

from tracer.store._exporter import StoreExporter, table_from_rows
from tracer.store._reader import Store
from tracer.store._rows import classify, row_from_span_data, rows_from_spans
from tracer.store._schema import SCHEMA_VERSION, TABLES
from tracer.store._segments import compact, default_root, prune, store_info

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Store",
    "StoreExporter",
    "classify",
    "compact",
    "default_root",
    "prune",
    "row_from_span_data",
    "rows_from_spans",
    "store_info",
    "table_from_rows",
]
