"""Read-side queries the run pages need that `tracer.store.runs` does not have (yet): candidates to move there.

Pure SQL over the store's views, like the named queries; no `st.*`.
"""

from __future__ import annotations

import pandas as pd

from tracer.store.queries import Filters, Readable, where


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
