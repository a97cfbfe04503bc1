"""Roll-up planning (`tracer.read._totals`), against what it replaces: every named query gives the same frame
reading the store's per-minute totals as adding up the rows (`rows_only()`), whatever the window (whole minutes,
partial minutes at either edge, open ends, less than a minute), and the totals' answers are those of plain SQL
over the rows. The totals themselves, as segments come and go: tests/store/test_rollup.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tracer import read as q
from tracer.read import Store, overview, reliability
from tracer.read._filters import and_
from tracer.read.synthetic import write_synthetic

END = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
FILTERS = {
    "all": q.Filters(),
    "window": q.Filters(start=END - dt.timedelta(hours=30, minutes=7), end=END - dt.timedelta(hours=5)),
    "ragged-window": q.Filters(
        start=END - dt.timedelta(hours=30, minutes=7, seconds=13, microseconds=5), end=END - dt.timedelta(hours=5, seconds=31)
    ),
    "since": q.Filters(start=END - dt.timedelta(hours=20, seconds=1)),
    "until": q.Filters(end=END - dt.timedelta(hours=2, microseconds=1)),
    "under-a-minute": q.Filters(start=END - dt.timedelta(hours=30, seconds=10), end=END - dt.timedelta(hours=30, seconds=-40)),
    "models-service": q.Filters(models=("claude-opus-4-5", "claude-haiku-4-5"), services=("search-api",)),
    "ragged-models": q.Filters(start=END - dt.timedelta(hours=40, seconds=1), models=("claude-sonnet-4-5",)),
    "tag": q.Filters(tags={"feature": "search"}),
    "nothing": q.Filters(models=("no-such-model",)),
}
# Queries that read the per-minute totals; the others must not change either, and are checked too.
SERVED = ["headline", "cost_by_model", "cost_over_time", "cost_by_tag", "unpriced_calls", "cache_savings",
          "latency_by_model", "error_rates", "error_rates_over_time", "retries_by_model", "attempts_distribution",
          "ratelimit_headroom"]  # fmt: skip


class Recording:
    """The store, noting the SQL it is asked."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queries: list[str] = []

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        self.queries.append(query)
        return self.store.sql(query, params)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, 30_000, seed=3, end=END, days=3, chunk_calls=7_000)
    return root


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
@pytest.mark.parametrize("name", [n for n in q.NAMED if n != "breaker_timeline"])  # its open end is now()
def test_every_named_query_is_the_same_with_the_totals_as_from_the_rows(synthetic: Path, name: str, filters: q.Filters) -> None:
    store = Recording(Store(synthetic))
    with_totals = q.NAMED[name](store, filters)
    read_totals = any("_by_minute r" in sql for sql in store.queries)
    with q.rows_only():
        store.queries.clear()
        from_rows = q.NAMED[name](store, filters)
        assert not any("_by_minute" in sql for sql in store.queries)
    pd.testing.assert_frame_equal(with_totals, from_rows, check_exact=True)
    # The totals were read where they can serve: no tag filter, and at least one whole minute in the window.
    assert read_totals == (name in SERVED and filters not in (FILTERS["tag"], FILTERS["under-a-minute"]))


def test_the_totals_replace_what_cost_by_model_and_error_rates_computed_from_the_rows(synthetic: Path) -> None:
    store = Store(synthetic)
    for filters in (FILTERS["all"], FILTERS["ragged-window"]):
        clause, params = q.where(filters)
        expected = store.sql(
            f"""SELECT c.model, count(*) AS calls, sum(c.cost_usd)::DOUBLE AS cost_usd,
                       count(*) FILTER (WHERE c.status = 'error') AS errors,
                       coalesce(sum(c.output_tokens), 0)::BIGINT AS output_tokens
                FROM calls c {clause} GROUP BY c.model ORDER BY cost_usd DESC NULLS LAST, calls DESC, c.model""",
            params,
        )
        shown = overview.cost_by_model(store, filters)[["model", "calls", "cost_usd", "errors", "output_tokens"]]
        pd.testing.assert_frame_equal(shown, expected, check_exact=True)
        clause, params = q.where(filters, "a", time_column="call_start_time", prefix="call_")
        expected = store.sql(
            f"""SELECT a.call_model AS model, count(*) AS attempts, count(*) FILTER (WHERE a.http_status = 429) AS rate_limited
                FROM attempts a {and_(clause, 'a.call_start_time IS NOT NULL')} GROUP BY ALL ORDER BY attempts DESC, model""",
            params,
        )
        shown = reliability.error_rates(store, filters)[["model", "attempts", "rate_limited"]]
        assert len(shown) > 0
        pd.testing.assert_frame_equal(shown, expected, check_exact=True)
