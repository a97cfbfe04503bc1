"""The embedded store: append-only segments that many processes write while readers query them.

>>> from tracer.store import Store, StoreExporter
>>> Store(".tracer").sql("SELECT model, count(*) FROM calls GROUP BY model")     # doctest: +SKIP

Writers: `StoreExporter` (an OpenTelemetry SpanExporter; light, it runs in the application). Readers: `Store`
(SQL over the views `calls`, `attempts`, `events`; needs DuckDB, from `pip install 'claude-tracer[dashboard]'`).
Maintenance: `compact`, `prune`, `repair` (also `tracer store compact|prune|repair|info`).

Names are imported when first used, so that `from tracer.store import StoreExporter` in an application loads
the writer alone, never the reader's DuckDB, pyarrow or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracer.store._exporter import StoreExporter, table_from_rows
    from tracer.store._reader import Store
    from tracer.store._rows import classify, row_from_span_data, rows_from_spans
    from tracer.store._schema import SCHEMA_VERSION, TABLES
    from tracer.store._segments import compact, default_root, prune, repair, store_info

_WHERE = {
    "StoreExporter": "_exporter",
    "table_from_rows": "_exporter",
    "Store": "_reader",
    "classify": "_rows",
    "row_from_span_data": "_rows",
    "rows_from_spans": "_rows",
    "SCHEMA_VERSION": "_schema",
    "TABLES": "_schema",
    "compact": "_segments",
    "default_root": "_segments",
    "prune": "_segments",
    "repair": "_segments",
    "store_info": "_segments",
}

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Store",
    "StoreExporter",
    "classify",
    "compact",
    "default_root",
    "prune",
    "repair",
    "row_from_span_data",
    "rows_from_spans",
    "store_info",
    "table_from_rows",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tracer.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tracer.store.{module}"), name)
