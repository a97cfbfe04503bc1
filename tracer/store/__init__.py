"""The embedded store's writer: what an instrumented process runs. Append-only segments that many processes write
while readers query them.

>>> from tracer.store import StoreExporter                         # the application: light, stdlib + OpenTelemetry
>>> from tracer.read import Store                                  # the reading side (DuckDB, pandas)
>>> Store(".tracer").sql("SELECT model, count(*) FROM calls GROUP BY model")     # doctest: +SKIP

- `StoreExporter`: an OpenTelemetry SpanExporter that turns finished spans into rows (`rows_from_spans`,
  `classify`) and writes them as row segments (`segments.write_rows`).
- `schema` (tables, columns, versions) and `segments` (the layout on disk, segment names, the row-segment
  format) are the contract between this writer and the reader; `locks` are the cross-process file locks both use.

Everything that reads lives in `tracer.read`: `Store`, `compact`, `prune`, `repair`, `store_info` (also
`tracer store compact|prune|repair|info`). Nothing here imports it: an application that writes never loads
DuckDB, pyarrow or pandas (tests/install/test_core.py). Those five names are still reachable here, with a
DeprecationWarning, until `READER_NAMES_REMOVAL` (they moved on 2026-12-07).
"""

from __future__ import annotations

import warnings
from typing import Any

from tracer.store._exporter import StoreExporter, table_from_rows
from tracer.store._rows import classify, row_from_span_data, rows_from_spans
from tracer.store.schema import SCHEMA_VERSION
from tracer.store.segments import default_root

READER_NAMES_REMOVAL = "2027-06-01"  # six months after the reader moved to tracer.read
_MOVED_TO_READ = ("Store", "compact", "prune", "repair", "store_info")

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "StoreExporter",
    "classify",
    "default_root",
    "row_from_span_data",
    "rows_from_spans",
    "table_from_rows",
]


def __getattr__(name: str) -> Any:
    if name == "TABLES":  # Arrow schemas: made (and pyarrow imported) only when asked for, never by the writer
        from tracer.store import schema

        return schema.TABLES
    if name not in _MOVED_TO_READ:
        raise AttributeError(f"module 'tracer.store' has no attribute {name!r}")
    warnings.warn(
        f"tracer.store.{name} moved to tracer.read.{name}; the old name goes on {READER_NAMES_REMOVAL}",
        DeprecationWarning,
        stacklevel=2,
    )
    # Imported here, when an old name is asked for: the writer never loads the reading side otherwise.
    from tracer import read

    return getattr(read, name)
