"""The per-minute totals the reader keeps (`calls_by_minute`, `attempts_by_minute`, `tags_by_minute`), against
what they replace: every named query gives the same frame with them as from the rows alone, whatever the window
(whole minutes, partial minutes at either edge, open ends, less than a minute); and the totals stay equal to the
totals of the rows as segments arrive, are compacted and pruned, and as attempts meet their calls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tracer.store import Store, _rollup, compact, prune
from tracer.store import queries as q
from tracer.store.synthetic import write_synthetic

from .days import empty_day, link_day, unlink_day

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


class RowsOnly:
    """The same store without its per-minute totals: every query adds up the rows."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        if any(f"DESCRIBE {view}" in query for view, _, _ in _rollup.TABLES.values()):
            raise LookupError("no per-minute totals here")
        assert "_by_minute" not in query
        return self.store.sql(query, params)


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


def assert_totals_are_the_rows(store: Store) -> None:
    """Each per-minute table holds exactly the totals computed afresh from the views."""
    fresh = {
        "calls_by_minute": f"SELECT {_rollup.call_totals(_rollup.minute_of('c.start_time'))} FROM calls c GROUP BY ALL",
        "attempts_by_minute": f"""SELECT {_rollup.attempt_totals(_rollup.minute_of('a.start_time'), _rollup.minute_of('a.call_start_time'),
                                                                  'a.call_model', 'a.call_service_name')}
                                  FROM attempts a WHERE a.call_start_time IS NOT NULL GROUP BY ALL""",
        "tags_by_minute": f"""SELECT {_rollup.tag_totals(_rollup.minute_of('c.start_time'))}
                              FROM (SELECT c.*, unnest(map_entries(c.tags)) AS e FROM calls c) c GROUP BY ALL""",
    }
    for view, sql in fresh.items():
        kept = store.sql(f"SELECT * FROM {view} ORDER BY ALL")
        expected = store.sql(f"SELECT * FROM ({sql}) ORDER BY ALL")
        assert len(kept) > 0 or len(expected) == 0
        pd.testing.assert_frame_equal(kept, expected, check_exact=True, obj=view)


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
@pytest.mark.parametrize("name", [n for n in q.NAMED if n != "breaker_timeline"])  # its open end is now()
def test_every_named_query_is_the_same_with_the_totals_as_from_the_rows(synthetic: Path, name: str, filters: q.Filters) -> None:
    store = Recording(Store(synthetic))
    with_totals, from_rows = q.NAMED[name](store, filters), q.NAMED[name](RowsOnly(store.store), filters)
    pd.testing.assert_frame_equal(with_totals, from_rows, check_exact=True)
    # The totals were read where they can serve: no tag filter, and at least one whole minute in the window.
    read_totals = any("_by_minute r" in sql for sql in store.queries)
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
        shown = q.cost_by_model(store, filters)[["model", "calls", "cost_usd", "errors", "output_tokens"]]
        pd.testing.assert_frame_equal(shown, expected, check_exact=True)
        clause, params = q.where(filters, "a", time_column="call_start_time", prefix="call_")
        expected = store.sql(
            f"""SELECT a.call_model AS model, count(*) AS attempts, count(*) FILTER (WHERE a.http_status = 429) AS rate_limited
                FROM attempts a {q._and(clause, 'a.call_start_time IS NOT NULL')} GROUP BY ALL ORDER BY attempts DESC, model""",
            params,
        )
        shown = q.error_rates(store, filters)[["model", "attempts", "rate_limited"]]
        assert len(shown) > 0
        pd.testing.assert_frame_equal(shown, expected, check_exact=True)


def test_the_totals_follow_new_compacted_and_pruned_segments(tmp_path: Path) -> None:
    root = tmp_path / "store"
    write_synthetic(root, 3_000, seed=1, end=END, days=2, chunk_calls=1_000)
    store = Store(root, cache=True)
    assert_totals_are_the_rows(store)
    write_synthetic(root, 800, seed=2, end=END, days=1)  # new calls in minutes that already had some
    assert_totals_are_the_rows(store)
    compact(root)
    assert_totals_are_the_rows(store)
    prune(root, dt.timedelta(days=1), now=END + dt.timedelta(hours=12))
    assert_totals_are_the_rows(store)
    store.close()
    again = Store(root, cache=True)  # from the cache file
    assert_totals_are_the_rows(again)
    pd.testing.assert_frame_equal(q.cost_over_time(again, q.Filters()), q.cost_over_time(RowsOnly(again), q.Filters()))


def test_attempts_count_once_their_call_arrives_and_no_longer_once_it_is_pruned(tmp_path: Path, synthetic: Path) -> None:
    day = empty_day(synthetic, tmp_path)
    link_day(synthetic, tmp_path, "attempts", day)
    store = Store(tmp_path)
    assert store.rows("SELECT count(*) FROM attempts_by_minute") == [(0,)]
    link_day(synthetic, tmp_path, "calls", day)
    assert store.rows("SELECT sum(attempts) FROM attempts_by_minute") == store.rows("SELECT count(*) FROM attempts")
    assert_totals_are_the_rows(store)
    unlink_day(tmp_path, "calls", day)
    assert store.rows("SELECT count(*) FROM attempts_by_minute") == [(0,)]
    assert_totals_are_the_rows(store)


def test_a_minute_is_floored_before_1970_too() -> None:
    import duckdb

    got = duckdb.sql(
        f"""SELECT {_rollup.minute_of('t')} = epoch_us(date_trunc('minute', t)) FROM (VALUES
            (TIMESTAMPTZ '1969-12-31 23:59:30.5+00'), (TIMESTAMPTZ '1970-01-01 00:00:00+00'),
            (TIMESTAMPTZ '2026-11-24 11:59:59.999999+00')) v(t)"""
    ).fetchall()
    assert got == [(True,), (True,), (True,)]
