"""What the filter bar offers, and whether a window holds any calls: the queries every page shares."""

from __future__ import annotations

import pandas as pd

from tracer.read._buckets import time_window
from tracer.read._store import Readable

__all__ = ["models_and_services", "tag_values", "time_window"]


def models_and_services(store: Readable) -> pd.DataFrame:
    """Every (model, service_name) pair with its call count: the choices offered by the filters."""
    return store.sql("SELECT model, service_name, count(*) AS calls FROM calls GROUP BY ALL ORDER BY calls DESC")


def tag_values(store: Readable, limit: int = 200) -> pd.DataFrame:
    """The most used tag key/value pairs: choices for the tag filter."""
    return store.sql(
        """
        WITH pairs AS (SELECT e.key AS tag, e.value AS value FROM (SELECT unnest(map_entries(tags)) AS e FROM calls))
        SELECT tag, value, count(*) AS calls
        FROM pairs
        GROUP BY ALL ORDER BY calls DESC, tag, value LIMIT ?
        """,
        [int(limit)],
    )
