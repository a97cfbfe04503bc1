"""The per-minute totals the reader keeps (`calls_by_minute`, `attempts_by_minute`, `tags_by_minute`): they stay
equal to the totals of the rows as segments arrive, are compacted and pruned, and as attempts meet their calls.
That the queries read them to the same answers as the rows: tests/read/test_totals.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tracer.read import Filters, Store, _rollup, compact, overview, prune, rows_only
from tracer.read.synthetic import write_synthetic

from .days import empty_day, link_day, unlink_day

END = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)


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


# New rows' totals are added to the kept ones either by summing their minutes again (few kept rows there) or key by
# key (many), the latter by MERGE INTO or, on a DuckDB before 1.4, an UPDATE and an INSERT: each test runs every way.
WAYS = {"minutes-summed-again": (10**9, None), "key-by-key": (0, None), "key-by-key-without-merge": (0, False)}
BOTH_WAYS = pytest.mark.parametrize("rewrite_rows", list(WAYS), ids=list(WAYS))


def set_way(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    rewrite_rows, merge = WAYS[way]
    monkeypatch.setattr("tracer.read._reader.REWRITE_ROWS", rewrite_rows)
    monkeypatch.setattr("tracer.read._rollup.MERGE_STATEMENT", merge)


@BOTH_WAYS
def test_the_totals_follow_new_compacted_and_pruned_segments(tmp_path: Path, rewrite_rows: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_way(monkeypatch, rewrite_rows)
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
    with rows_only():
        from_rows = overview.cost_over_time(again, Filters())
    pd.testing.assert_frame_equal(overview.cost_over_time(again, Filters()), from_rows)


@BOTH_WAYS
def test_attempts_count_once_their_call_arrives_and_no_longer_once_it_is_pruned(
    tmp_path: Path, synthetic: Path, rewrite_rows: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_way(monkeypatch, rewrite_rows)
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


def test_every_column_of_the_totals_says_how_its_parts_add_up(tmp_path: Path) -> None:
    """New rows' totals are added to the kept ones column by column (`_rollup.MERGE`): a column added to a table
    without a rule there would be lost, so each table's columns are exactly its keys and its added-up columns."""
    write_synthetic(tmp_path, 200, seed=5, end=END, days=1)
    store = Store(tmp_path)
    for rollup, (view, _, _) in _rollup.TABLES.items():
        keys, columns = _rollup.MERGE[rollup]
        assert list(store.sql(f"SELECT * FROM {view} LIMIT 0").columns) == [*keys, *columns], rollup
