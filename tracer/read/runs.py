"""Agent runs and conversations: the named queries over the reader's `trace_spans`, `traces` and `conversations`
views (see `tracer.read._reader`), for the dashboard, `tracer report` and anyone with a `Store`.

>>> from tracer.read import Store
>>> from tracer.read.runs import trace_tree, conversation_turns
>>> with Store(".tracer") as store:                                         # doctest: +SKIP
...     tree = trace_tree(store, "4bf92f3577b34da6a3ce929d0e0e4736")       # one run, parents before children
...     turns = conversation_turns(store, "support-4711")                  # cost and cache per turn

A trace is kept when it has at least one Claude call (`tracer.store._rows.TraceKeeper`). Costs are exact
decimals; a trace's or conversation's cost is NULL when none of its calls was priced.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tracer.read._filters import Filters, where
from tracer.read._reader import conversations_sql, traces_sql
from tracer.read._store import Readable


def _column(store: Readable, query: str, params: list[Any]) -> list[Any]:
    """The first column of a query's rows, as Python values (through `.sql`, all a `Readable` has)."""
    frame = store.sql(query, params)
    return [] if frame.empty else frame.iloc[:, 0].tolist()


# How `traces` orders: the newest runs, the longest, the dearest.
ORDERS = {
    "recent": "start_time DESC",
    "slowest": "duration_ms DESC NULLS LAST",
    "costliest": "cost_usd DESC NULLS LAST",
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
    """Runs (traces with a Claude call) with a call in `filters`, one row each with the `traces` view's roll-up:
    root span, start, duration, calls, attempts, tool executions, errors, tokens by kind, exact cost. `order` is
    one of `ORDERS`; `root` keeps the runs whose root span has that name; `errors_only` the runs with an error.

    Only the runs that can be in the answer are rolled up, not every trace in the store: for `recent`, the traces
    of the newest calls; for `slowest`, those of the longest calls and the longest root spans; for `costliest`, the
    dearest runs by the reader's per-trace costs (`trace_costs`) over the whole store, and within filters the dearest
    calls that are runs of their own and the dearest runs of several calls by the sum of their cost. With
    `root` or `errors_only`, the runs with that root or an error are found first from the spans and calls, ranked
    by the order's own measure, and only the top are rolled up."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    n = max(int(limit), 1)
    clause, params = where(filters)
    calls_where = f"{clause} {'AND' if clause else 'WHERE'} c.trace_id IS NOT NULL"
    picked_sql, by_id = _PICKED, True
    if root is not None or errors_only:
        ids = _narrowed(store, filters, order, n, root, errors_only)
    elif order == "costliest" and not clause:
        # The whole store: the reader keeps every trace's cost (`trace_costs`, a double), so the dearest are a top-N
        # over one row per trace, twice as many as needed so that rounding cannot leave one out. The roll-up then
        # takes their rows by key: a trace that shares a key's hash is only one more candidate, ranked by its exact
        # cost like the rest.
        ids = _column(store, "SELECT trace_key FROM trace_costs ORDER BY cost_usd DESC NULLS LAST LIMIT ?", [2 * n])
        picked_sql, by_id = _PICKED_KEYS, False
    elif order == "recent":
        ids = _column(
            store, f"SELECT c.trace_id FROM calls c {calls_where} ORDER BY c.start_time DESC LIMIT ?", [*params, 4 * n]
        )
    elif order == "costliest":
        # A call without a parent span started its own trace and is alone in it (the rest of a run's calls have a
        # parent): such runs are the dearest calls, found by a top-N over one column. The others are summed per
        # trace, by the trace ids' hashes and as doubles (an integer key and a double sum: several times faster
        # than 32-character strings and exact decimals), twice as many as needed so that rounding cannot leave one
        # out; the roll-up below orders them all by their exact cost.
        alone = _column(
            store,
            f"SELECT c.trace_id FROM calls c {calls_where} AND c.parent_span_id IS NULL ORDER BY c.cost_usd DESC NULLS LAST LIMIT ?",
            [*params, 2 * n],
        )
        keys = _column(
            store,
            f"""SELECT c.trace_key FROM calls c {calls_where} AND c.parent_span_id IS NOT NULL
                GROUP BY c.trace_key ORDER BY sum(c.cost_usd::DOUBLE) DESC NULLS LAST LIMIT ?""",
            [*params, 2 * n],
        )
        ids = alone + _column(
            store,
            f"SELECT DISTINCT c.trace_id FROM calls c {calls_where} AND c.trace_key IN (SELECT unnest(?::UBIGINT[]))",
            [*params, keys],
        )
    else:
        spans_clause, spans_params = where(Filters(start=filters.start, end=filters.end), "s")
        if filters.models or filters.services or filters.tags:  # a root span counts when its trace has such a call
            spans_clause += (
                f" {'AND' if spans_clause else 'WHERE'} s.trace_id IN (SELECT c.trace_id FROM calls c {calls_where})"
            )
            spans_params += params
        ids = _column(
            store,
            # A run's duration is the extent of all its spans: a run whose root span was not kept (it ran in another
            # process) can outlast each of its calls, so its calls are ranked together by their extent.
            f"""(SELECT c.trace_id FROM calls c {calls_where} AND c.trace_key IN (
                   SELECT c.trace_key FROM calls c {calls_where} GROUP BY c.trace_key
                    ORDER BY max(epoch_us(c.start_time) + coalesce(c.duration_ms, 0) * 1000) - min(epoch_us(c.start_time))
                    DESC LIMIT ?))
                UNION
                (SELECT s.trace_id FROM spans s {spans_clause} {"AND" if spans_clause else "WHERE"} s.parent_span_id IS NULL
                 ORDER BY s.duration_ms DESC NULLS LAST LIMIT ?)""",
            [*params, *params, n, *spans_params, n],
        )
    picked = list(dict.fromkeys(ids))
    outer = []
    outer_params: list[Any] = []
    if root is not None:
        outer.append("t.root_name = ?")
        outer_params.append(root)
    if errors_only:
        outer.append("t.errors > 0")
    return store.sql(
        f"""
        SELECT t.trace_id, t.root_name, t.start_time, t.duration_ms, t.calls, t.attempts, t.tool_executions,
               t.errors, t.input_tokens, t.cache_read_tokens, t.cache_write_tokens, t.output_tokens,
               t.thinking_tokens, t.cost_usd::DOUBLE AS cost_usd, t.unpriced_calls, t.conversation_id,
               t.service_name, t.models
          FROM ({traces_sql(picked_sql)}) t
         WHERE {"t.trace_id IN (SELECT unnest(?::VARCHAR[]))" if by_id else "true"} {"".join(" AND " + o for o in outer)}
         ORDER BY t.{ORDERS[order]}, t.trace_id
         LIMIT ?""",
        [picked, picked, *([picked] if by_id else []), *outer_params, n],
    )


# The picked runs' rows, found by their trace ids' hashes (integers); the outer query then keeps the picked ids.
_PICKED = "trace_key IN (SELECT hash(unnest(?::VARCHAR[])))"
_PICKED_KEYS = "trace_key IN (SELECT unnest(?::UBIGINT[]))"  # by the keys themselves (`trace_costs`)


# How each order ranks the runs `_narrowed` found before any is rolled up.
_RANK = {
    "recent": ("max(c.start_time) DESC", 4),
    "costliest": ("sum(c.cost_usd) DESC NULLS LAST", 1),
}


def _narrowed(store: Readable, filters: Filters, order: str, n: int, root: str | None, errors_only: bool) -> list[Any]:
    """The runs with root span `root` (or a call of that name made outside any span) and/or an error, found from
    the spans and calls themselves and ranked by the order's own measure (the newest calls, the exact cost, the
    exact duration): the top `n` (or a few times that), before any run is rolled up."""
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
    return ranked


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


def trace_summary(store: Readable, trace_id: str) -> pd.DataFrame:
    """One run's roll-up (the `traces` view's row), with its cost as an exact decimal. Empty when the store has
    no call in that trace."""
    return store.sql(
        f"SELECT * FROM ({traces_sql('trace_key = hash(?)')}) WHERE trace_id = ?", [trace_id, trace_id, trace_id]
    )


def trace_tree(store: Readable, trace_id: str) -> pd.DataFrame:
    """Every stored span of one run as a tree: rows in depth-first order (each parent before its children,
    siblings by start time), with `depth` (0 for a root) and `offset_ms` (from the run's first start). A span whose
    parent is not stored (a remote caller's, or one let go) is a root."""
    rows = store.sql(
        """SELECT * EXCLUDE (trace_key), cost_usd::DOUBLE AS cost_usd_double FROM trace_spans
            WHERE trace_key = hash(?) AND trace_id = ? ORDER BY start_time, span_id""",
        [trace_id, trace_id],
    )
    if rows.empty:
        return rows.assign(depth=pd.Series(dtype="int64"), offset_ms=pd.Series(dtype="float64"))
    ids = set(rows["span_id"])
    children: dict[Any, list[int]] = {}
    roots: list[int] = []
    for i, (span_id, parent) in enumerate(zip(rows["span_id"], rows["parent_span_id"], strict=True)):
        if parent is None or pd.isna(parent) or parent not in ids or parent == span_id:
            roots.append(i)
        else:
            children.setdefault(parent, []).append(i)
    order: list[int] = []
    depth: list[int] = []
    seen: set[int] = set()
    stack = [(i, 0) for i in reversed(roots)]
    while stack:
        i, d = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        order.append(i)
        depth.append(d)
        stack.extend((j, d + 1) for j in reversed(children.get(rows["span_id"].iloc[i], [])))
    out = rows.iloc[order].reset_index(drop=True)
    out["depth"] = depth
    first = out["start_time"].min()
    out["offset_ms"] = (out["start_time"] - first).dt.total_seconds() * 1000.0
    return out


def conversation_turns(store: Readable, conversation_id: str) -> pd.DataFrame:
    """The turns of one conversation in order (the `conversations` view): each call's cost, tokens, cache read and
    write, and `cache_rewrite` for a turn that wrote a cache prefix again instead of reading it."""
    return store.sql(f"SELECT * FROM ({conversations_sql('conversation_id = ?')}) ORDER BY turn", [conversation_id])


def conversations(store: Readable, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """Conversations with a call in `filters`, newest first: turns, first and last time, cost, cache read and
    write tokens, and how many turns wrote their cache prefix again."""
    clause, params = where(filters)
    picked = _column(
        store,
        f"""SELECT c.conversation_id FROM calls c {clause} {"AND" if clause else "WHERE"} c.conversation_id IS NOT NULL
            GROUP BY c.conversation_id ORDER BY max(c.start_time) DESC LIMIT ?""",
        [*params, int(limit)],
    )
    return store.sql(
        f"""
        SELECT v.conversation_id, count(*) AS turns, min(v.start_time) AS first_time, max(v.start_time) AS last_time,
               sum(v.cost_usd)::DOUBLE AS cost_usd, sum(v.input_tokens) AS input_tokens,
               sum(v.cache_read_tokens) AS cache_read_tokens, sum(v.cache_write_tokens) AS cache_write_tokens,
               sum(v.output_tokens) AS output_tokens, count(*) FILTER (WHERE v.cache_rewrite) AS cache_rewrites,
               count(*) FILTER (WHERE v.status = 'error') AS errors
          FROM ({conversations_sql("conversation_id IN (SELECT unnest(?::VARCHAR[]))")}) v
         GROUP BY v.conversation_id
         ORDER BY last_time DESC, v.conversation_id""",
        [picked],
    )


def tool_executions(store: Readable, filters: Filters) -> pd.DataFrame:
    """Tool executions (the SDK's `execute_tool` spans) by tool name: count, error share, median and p95 duration
    (ms), within the filters' time window (a tool span has no model or tags of its own: those filters do not
    apply)."""
    clause, params = where(Filters(start=filters.start, end=filters.end, services=filters.services), "s")
    return store.sql(
        f"""
        SELECT coalesce(s.tool_name, s.name) AS tool_name, count(*) AS executions,
               avg(CASE WHEN s.status = 'error' THEN 1.0 ELSE 0.0 END) AS error_share,
               quantile_cont(s.duration_ms, 0.5) AS p50_ms, quantile_cont(s.duration_ms, 0.95) AS p95_ms
          FROM spans s {clause} {"AND" if clause else "WHERE"} s.operation = 'execute_tool'
         GROUP BY 1 ORDER BY executions DESC, tool_name""",
        params,
    )


NAMED = {"traces": traces, "conversations": conversations, "tool_executions": tool_executions}
