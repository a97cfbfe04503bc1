"""The read side: every query the dashboard and `tracer report` run over the store, one module per page.

>>> from tracer.read import Filters, open_store, overview
>>> store = open_store(".tracer")
>>> overview.cost_by_model(store, Filters(models=("claude-sonnet-4-5",)))      # doctest: +SKIP

- `overview`, `latency`, `reliability`, `calls`, `runs` (agent runs and conversations): each page's queries, each a function `(store, filters, ...) ->
  pandas.DataFrame` (`tracer report` prints those of the first three); `choices`: what the filter bar offers.
- `Filters`, `parse_since`, `parse_time`: which calls a query looks at.
- `NAMED`: every query that takes just `(store, filters)`, by name (the dashboard runs its panels through it;
  benchmarks/store.py and benchmarks/dashboard.py time each).

One backend: the store (`Store`, this package's reader of what `tracer.store` writes), whose views the queries rely on (`calls`, `attempts` carrying their
call's columns, `events`, the per-minute totals). Values always travel as parameters: the SQL text depends only on
which filters are set, never on their values. Percentiles are exact (`quantile_cont`'s doubles); sums read the
per-minute totals where they can serve and the rows elsewhere, with the same answers (`rows_only`).
Keeping the store: `compact`, `prune`, `repair`, `store_info`, `store_drops` (`tracer store ...`).
Reading needs the `dashboard` extra (DuckDB, pandas).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracer.read._drops import store_drops
from tracer.read._maintain import CompactResult, PruneResult, RepairResult, compact, prune, repair, store_info

# Without the `dashboard` extra, the maintenance functions above still import (they need DuckDB only when they
# decode), and asking for anything else says what to install, as a ModuleNotFoundError the CLI turns into one line.
try:
    import duckdb  # noqa: F401  (the reader's engine)
    import pandas as pd
except ModuleNotFoundError as exc:
    _missing: ModuleNotFoundError | None = exc
else:
    _missing = None

if _missing is None:
    from tracer.read import calls, choices, latency, overview, reliability, runs
    from tracer.read._buckets import BUCKETS_S, bucket_seconds
    from tracer.read._filters import Filters, parse_since, parse_time, where
    from tracer.read._reader import Progress, Store, prepare
    from tracer.read._store import Readable, open_store
    from tracer.read._totals import rows_only

    Query = Callable[[Readable, Filters], pd.DataFrame]
    """A named query: the store and the filters in, one frame out."""

    NAMED: dict[str, Query] = {
        "headline": overview.headline,
        "cost_by_model": overview.cost_by_model,
        "cost_over_time": overview.cost_over_time,
        "cost_by_tag": overview.cost_by_tag,
        "tag_keys": overview.tag_keys,
        "unpriced_calls": overview.unpriced_calls,
        "cache_savings": overview.cache_savings,
        "latency_by_model": latency.latency_by_model,
        "latency_over_time": latency.latency_over_time,
        "latency_histogram": latency.latency_histogram,
        "error_rates": reliability.error_rates,
        "error_rates_over_time": reliability.error_rates_over_time,
        "retries_by_model": reliability.retries_by_model,
        "attempts_distribution": reliability.attempts_distribution,
        "ratelimit_headroom": reliability.ratelimit_headroom,
        "breaker_timeline": reliability.breaker_timeline,
        "budget_events": reliability.budget_events,
        "events_summary": reliability.events_summary,
        "recent_calls": calls.recent_calls,
        "slowest_calls": calls.slowest_calls,
        "costliest_calls": calls.costliest_calls,
        "call_attempts": calls.call_attempts,
        "time_window": choices.time_window,
    }
    """Every query that takes just `(store, filters)`, by name (the dashboard's panels and the benchmarks)."""


__all__ = [
    "BUCKETS_S",
    "NAMED",
    "CompactResult",
    "Filters",
    "Progress",
    "PruneResult",
    "Query",
    "Readable",
    "RepairResult",
    "Store",
    "bucket_seconds",
    "calls",
    "choices",
    "compact",
    "latency",
    "open_store",
    "overview",
    "parse_since",
    "parse_time",
    "prepare",
    "prune",
    "reliability",
    "repair",
    "rows_only",
    "runs",
    "store_drops",
    "store_info",
    "where",
]


def __getattr__(name: str) -> Any:
    if _missing is not None and name in __all__:
        raise ModuleNotFoundError(
            "reading a claude-tracer store needs DuckDB: pip install 'claude-tracer[dashboard]'", name=_missing.name
        )
    raise AttributeError(f"module 'tracer.read' has no attribute {name!r}")
