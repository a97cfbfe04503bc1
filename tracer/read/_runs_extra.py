"""Queries the dashboard's Traces page needs that `tracer.read.runs` does not have (yet): candidates to move there
(kept apart while `runs` was being moved here, to keep that merge easy).

- `root_names`: what the page's root-span filter offers.
- `traces`: `runs.traces` with `root=` / `errors_only=` answered without rolling up every run in the window.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tracer.read._filters import Filters, where
from tracer.read._store import Readable
from tracer.store._reader import traces_sql


def root_names(store: Readable, filters: Filters) -> pd.DataFrame:
    """The names a run's root can have in `filters`' window, most frequent first: the application's root spans
    (spans without a parent) and, for a call made outside any span, the call's own name. Cheap: no run is rolled up."""
    spans_clause, spans_params = where(Filters(start=filters.start, end=filters.end, services=filters.services), "s")
    calls_clause, calls_params = where(filters)
    return store.sql(
        f"""
        SELECT name AS root_name, sum(n) AS runs FROM (
            SELECT s.name, count(*) AS n FROM spans s {spans_clause}
                   {"AND" if spans_clause else "WHERE"} s.parent_span_id IS NULL GROUP BY 1
            UNION ALL
            SELECT c.name, count(*) AS n FROM calls c {calls_clause}
                   {"AND" if calls_clause else "WHERE"} c.parent_span_id IS NULL GROUP BY 1)
         GROUP BY 1 ORDER BY runs DESC, root_name""",
        [*spans_params, *calls_params],
    )


# How each order ranks candidate runs before any is rolled up (as `tracer.read.runs.traces` does for every run).
_RANK = {
    "recent": ("max(c.start_time) DESC", 4),
    "costliest": ("sum(c.cost_usd) DESC NULLS LAST", 1),
}


def traces(
    store: Readable,
    filters: Filters,
    order: str = "recent",
    limit: int = 50,
    *,
    root: str | None = None,
    errors_only: bool = False,
) -> pd.DataFrame:
    """`tracer.read.runs.traces`, with `root=` and `errors_only=` answered without rolling up every run in the
    window (over 1,000,000 calls that takes seconds): the runs with that root span, or with an error, are found
    first from the spans and calls themselves, ranked by the order's own measure (the newest calls, the exact cost,
    the exact duration), and only the top are rolled up. Without either it is `runs.traces` itself."""
    from tracer.read import runs

    if root is None and not errors_only:
        return runs.traces(store, filters, order, limit)
    if order not in runs.ORDERS:
        raise ValueError(f"order must be one of {', '.join(runs.ORDERS)}, not {order!r}")
    n = max(int(limit), 1)
    clause, params = where(filters)
    in_window = f"SELECT c.trace_id FROM calls c {clause} {'AND' if clause else 'WHERE'} c.trace_id IS NOT NULL"
    picks: list[str] = []
    pick_params: list[Any] = []
    if root is not None:  # a root span of that name, or a call of that name made outside any span
        picks.append(
            f"""(SELECT s.trace_id FROM spans s WHERE s.parent_span_id IS NULL AND s.name = ? AND s.trace_id IN ({in_window})
                 UNION SELECT c.trace_id FROM calls c {clause} {'AND' if clause else 'WHERE'}
                       c.trace_id IS NOT NULL AND c.parent_span_id IS NULL AND c.name = ?)"""
        )
        pick_params += [root, *params, *params, root]
    if errors_only:
        picks.append(
            f"""(SELECT c.trace_id FROM calls c {clause} {'AND' if clause else 'WHERE'} c.trace_id IS NOT NULL AND c.status = 'error'
                 UNION SELECT s.trace_id FROM spans s WHERE s.status = 'error' AND s.trace_id IN ({in_window}))"""
        )
        pick_params += [*params, *params]
    candidates = " INTERSECT ".join(picks)
    if order == "slowest":  # exact: each candidate's span from its first start to its last end, calls and spans
        end = "epoch_us(x.start_time) + CAST(coalesce(x.duration_ms, 0) * 1000 AS BIGINT)"
        ranked = store.sql(
            f"""WITH cand AS ({candidates})
                SELECT trace_id FROM (
                    SELECT x.trace_id, epoch_us(x.start_time) AS s, {end} AS e FROM calls x SEMI JOIN cand USING (trace_id)
                    UNION ALL
                    SELECT x.trace_id, epoch_us(x.start_time) AS s, {end} AS e FROM spans x SEMI JOIN cand USING (trace_id))
                 GROUP BY trace_id ORDER BY max(e) - min(s) DESC, trace_id LIMIT ?""",
            [*pick_params, n],
        )["trace_id"].tolist()
    else:
        rank, many = _RANK[order]
        ranked = store.sql(
            f"""SELECT c.trace_id FROM calls c WHERE c.trace_id IN ({candidates})
                 GROUP BY c.trace_id ORDER BY {rank}, c.trace_id LIMIT ?""",
            [*pick_params, many * n],
        )["trace_id"].tolist()
    picked = list(dict.fromkeys(ranked))
    return store.sql(
        f"""SELECT t.trace_id, t.root_name, t.start_time, t.duration_ms, t.calls, t.attempts, t.tool_executions,
                   t.errors, t.input_tokens, t.cache_read_tokens, t.cache_write_tokens, t.output_tokens,
                   t.thinking_tokens, t.cost_usd::DOUBLE AS cost_usd, t.unpriced_calls, t.conversation_id,
                   t.service_name, t.models
              FROM ({traces_sql(_PICKED)}) t
             WHERE t.trace_id IN (SELECT unnest(?::VARCHAR[]))
               AND {"t.root_name = ?" if root is not None else "true"} AND {"t.errors > 0" if errors_only else "true"}
             ORDER BY t.{runs.ORDERS[order]}, t.trace_id
             LIMIT ?""",
        [picked, picked, picked, *([root] if root is not None else []), n],
    )


# As `tracer.read.runs`: the picked runs' rows by their trace ids' hashes; the outer query keeps the picked ids.
_PICKED = "trace_key IN (SELECT hash(unnest(?::VARCHAR[])))"
