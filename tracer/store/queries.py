"""Deprecated: the queries moved to `tracer.read` (one module per dashboard page). This module re-exports the
public names it had, with a DeprecationWarning, until it is removed on the date `REMOVAL` names.

>>> from tracer.read import Filters, open_store, overview              # instead of tracer.store.queries
"""

from __future__ import annotations

import warnings
from typing import Any

REMOVAL = "2027-03-01"  # three months after the move to tracer.read (2026-11-29)

# name -> the module of `tracer.read` that holds it now
_MOVED = {
    **dict.fromkeys(("Filters", "parse_since", "parse_time", "where", "open_store", "Readable", "NAMED", "BUCKETS_S", "bucket_seconds"), ""),
    **dict.fromkeys(("headline", "cost_by_model", "cost_over_time", "cost_by_tag", "unpriced_calls", "cache_tokens", "cache_savings"), ".overview"),
    **dict.fromkeys(("latency_by_model", "latency_over_time", "latency_histogram", "HISTOGRAM_BINS"), ".latency"),
    **dict.fromkeys(("error_rates", "error_rates_over_time", "retries_by_model", "attempts_distribution"), ".reliability"),
    **dict.fromkeys(("ratelimit_headroom", "breaker_timeline", "budget_events", "events_summary"), ".reliability"),
    **dict.fromkeys(("recent_calls", "slowest_calls", "costliest_calls", "call_detail", "call_attempts", "CALL_COLUMNS"), ".calls"),
    **dict.fromkeys(("models_and_services", "tag_values", "time_window"), ".choices"),
}

__all__ = sorted(_MOVED)


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'tracer.store.queries' has no attribute {name!r} (the queries moved to tracer.read)")
    where = f"tracer.read{module}"
    warnings.warn(
        f"tracer.store.queries is deprecated and will be removed on {REMOVAL}: use {where}.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    # Imported here, when an old name is asked for: the writer never loads the reading side otherwise.
    from tracer import read

    holder = getattr(read, module[1:]) if module else read
    return getattr(holder, name)
