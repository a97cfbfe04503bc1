"""The reader's two accelerations, against what they replace: attempts that carry their call's columns (instead of
a join to calls), and the cache file a big store's reader keeps between runs (instead of reloading every segment).
Real segments, a real DuckDB, the named queries compared with the same queries over a join."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.store.test_rollup import BOTH_WAYS, set_way
from tracer import read as q
from tracer.read import Store, compact, prune, reliability, runs, store_info
from tracer.read._buckets import bucket, bucket_params
from tracer.read._reader import CACHE_DIR
from tracer.read.synthetic import write_synthetic

from .days import empty_day, link_day, unlink_day

END = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, 20_000, seed=7, end=END, days=3, chunk_calls=7_000)
    return root


class Joined:
    """The store with each attempt's call columns found by a join to calls instead of the ones the reader keeps."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.joins = 0

    JOINED = """(SELECT a.* EXCLUDE (call_start_time, call_model, call_service_name, call_tags),
                        c.start_time AS call_start_time, c.model AS call_model, c.service_name AS call_service_name,
                        c.tags AS call_tags
                 FROM attempts a LEFT JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id)"""

    def sql(self, query: str, params=None):  # type: ignore[no-untyped-def]
        self.joins += "FROM attempts a" in query
        return self.store.sql(query.replace("FROM attempts a", f"FROM {self.JOINED} a"), params)


FILTERS = [
    q.Filters(),
    q.Filters(start=END - dt.timedelta(hours=30, minutes=7), end=END - dt.timedelta(hours=5)),
    q.Filters(models=("claude-opus-4-5", "claude-haiku-4-5"), services=("search-api",), tags={"feature": "search"}),
]


class TestAttemptsCarryTheirCall:
    def test_every_attempt_has_its_calls_start_model_service_and_tags(self, synthetic: Path) -> None:
        store = Store(synthetic)
        assert store.rows(
            """SELECT count(*), count(*) FILTER (WHERE a.call_start_time = c.start_time AND a.call_model = c.model
                      AND a.call_service_name = c.service_name AND a.call_tags = c.tags)
               FROM attempts a JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id"""
        ) == store.rows("SELECT count(*), count(*) FROM attempts")

    @pytest.mark.parametrize("filters", FILTERS, ids=["all", "window", "models-service-tag"])
    @pytest.mark.parametrize("name", ["error_rates", "error_rates_over_time", "ratelimit_headroom"])
    def test_the_attempt_queries_give_exactly_what_the_join_gives(self, synthetic: Path, name: str, filters: q.Filters) -> None:
        store = Store(synthetic)
        joined_store = Joined(store)
        with q.rows_only():  # every attempt from the rows (the per-minute totals are kept from the carried columns)
            fast, joined = q.NAMED[name](store, filters), q.NAMED[name](joined_store, filters)
        assert joined_store.joins
        assert len(fast) > 0
        pd.testing.assert_frame_equal(fast, joined, check_exact=True)

    def test_an_attempt_read_before_its_call_gets_the_call_when_it_arrives_and_loses_it_when_pruned(self, tmp_path: Path, synthetic: Path) -> None:
        day = empty_day(synthetic, tmp_path)
        link_day(synthetic, tmp_path, "attempts", day)
        store = Store(tmp_path)
        orphans = store.rows("SELECT count(*), count(call_model) FROM attempts")[0]
        assert orphans[0] > 0 and orphans[1] == 0
        assert reliability.error_rates(store, q.Filters()).empty  # as the join says: no call, no row
        link_day(synthetic, tmp_path, "calls", day)
        assert store.rows("SELECT count(call_model) FROM attempts") == store.rows("SELECT count(*) FROM attempts JOIN calls c ON call_span_id = c.span_id")
        with q.rows_only():
            pd.testing.assert_frame_equal(reliability.error_rates(store, q.Filters()), reliability.error_rates(Joined(store), q.Filters()))
        unlink_day(tmp_path, "calls", day)
        assert store.rows("SELECT count(call_model) FROM attempts") == [(0,)]


    @BOTH_WAYS
    def test_attempts_get_their_call_in_whichever_refresh_either_arrives(
        self, tmp_path: Path, synthetic: Path, rewrite_rows: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Attempts loaded with their calls, after them (the calls in segments loaded by an earlier refresh), and
        before them, in the same refreshes as others: each refresh leaves the attempts and their per-minute totals
        that loading everything at once gives (the totals added either way, `REWRITE_ROWS`)."""
        set_way(monkeypatch, rewrite_rows)
        days = sorted(p.name for p in (synthetic / "calls").iterdir())
        assert len(days) >= 3
        for table in ("attempts", "calls"):
            for day in days:
                (tmp_path / table / day).mkdir(parents=True)
        kept = Store(tmp_path, cache=True)
        steps = [
            [("calls", days[0])],  # calls whose attempts come later
            [("attempts", days[0]), ("calls", days[1]), ("attempts", days[1])],  # late attempts beside new pairs
            [("attempts", days[2])],  # attempts before their calls
            [("calls", days[2])],
        ]
        attempts = "SELECT span_id, call_start_time, call_model, call_service_name, call_tags::VARCHAR FROM attempts ORDER BY span_id"
        totals = "SELECT * FROM attempts_by_minute ORDER BY ALL"
        for step in steps:
            for table, day in step:
                link_day(synthetic, tmp_path, table, day)
            whole = Store(tmp_path, cache=False)
            assert kept.rows(attempts) == whole.rows(attempts), step
            assert kept.rows(totals) == whole.rows(totals), step
        assert kept.rows("SELECT count(*), count(call_model) FROM attempts")[0][1] > 0
        kept.close()

def test_time_buckets_are_duckdbs_time_bucket(synthetic: Path) -> None:
    store = Store(synthetic)
    for seconds in q.BUCKETS_S:
        rows = store.rows(
            f"""WITH t AS (SELECT start_time AS t FROM calls
                           UNION ALL SELECT TIMESTAMPTZ '1999-12-31 23:59:59.999999+00'
                           UNION ALL SELECT TIMESTAMPTZ '1970-01-01 00:00:00+00')
                SELECT count(*) FILTER (WHERE {bucket('t')} <> time_bucket(to_seconds(?), t)) FROM t""",
            [*bucket_params(seconds), seconds],
        )
        assert rows == [(0,)], seconds


class TestCacheFile:
    def test_a_big_store_keeps_its_rows_in_a_cache_file_and_a_small_one_in_memory(self, tmp_path: Path, synthetic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        small = Store(synthetic)
        small.rows("SELECT 1")
        assert small.cache_path is None
        monkeypatch.setattr("tracer.read._reader.CACHE_MIN_ROWS", 10)
        big = Store(synthetic)
        big.rows("SELECT 1")
        assert big.cache_path == synthetic / CACHE_DIR / "reader-0.duckdb"
        big.close()
        monkeypatch.setenv("TRACER_STORE_CACHE", "0")
        off = Store(synthetic)
        off.rows("SELECT 1")
        assert off.cache_path is None

    def test_a_reopened_reader_reads_from_its_cache_and_loads_only_what_is_new(self, tmp_path: Path) -> None:
        root = tmp_path / "store"
        write_synthetic(root, 3_000, seed=1, end=END, days=2, chunk_calls=1_000)
        expected = Store(root, cache=False).rows("SELECT count(*), sum(cost_usd), count(DISTINCT span_id) FROM calls")
        first = Store(root, cache=True)
        assert first.rows("SELECT count(*), sum(cost_usd), count(DISTINCT span_id) FROM calls") == expected
        loaded = first._next_seg
        first.close()
        again = Store(root, cache=True)
        assert again.rows("SELECT count(*), sum(cost_usd), count(DISTINCT span_id) FROM calls") == expected
        assert again.cache_path == first.cache_path
        assert again._next_seg == loaded  # nothing was loaded again
        write_synthetic(root, 500, seed=2, end=END, days=1)
        compact(root)
        fresh = Store(root, cache=False).rows("SELECT count(*), sum(cost_usd), count(DISTINCT span_id) FROM calls")
        assert again.rows("SELECT count(*), sum(cost_usd), count(DISTINCT span_id) FROM calls") == fresh
        assert again.rows("SELECT count(call_model) FROM attempts") == Store(root, cache=False).rows("SELECT count(*) FROM attempts")
        again.close()
        prune(root, dt.timedelta(days=1), now=END + dt.timedelta(days=1))
        pruned = Store(root, cache=True)
        assert pruned.rows("SELECT count(*) FROM calls") == Store(root, cache=False).rows("SELECT count(*) FROM calls")

    def test_two_readers_at_once_get_two_cache_files(self, tmp_path: Path) -> None:
        write_synthetic(tmp_path, 500, seed=1, end=END, days=1)
        one, two = Store(tmp_path, cache=True), Store(tmp_path, cache=True)
        assert one.rows("SELECT count(*) FROM calls") == two.rows("SELECT count(*) FROM calls") == [(500,)]
        assert {one.cache_path, two.cache_path} == {tmp_path / CACHE_DIR / "reader-0.duckdb", tmp_path / CACHE_DIR / "reader-1.duckdb"}

    def test_a_damaged_cache_file_is_rebuilt(self, tmp_path: Path) -> None:
        write_synthetic(tmp_path, 500, seed=1, end=END, days=1)
        (tmp_path / CACHE_DIR).mkdir()
        (tmp_path / CACHE_DIR / "reader-0.duckdb").write_bytes(b"not a database" * 100)
        store = Store(tmp_path, cache=True)
        assert store.rows("SELECT count(*) FROM calls") == [(500,)]
        assert store.cache_path == tmp_path / CACHE_DIR / "reader-0.duckdb"

    def test_a_read_only_store_reads_from_memory(self, tmp_path: Path) -> None:
        write_synthetic(tmp_path, 500, seed=1, end=END, days=1)
        tmp_path.chmod(0o555)
        try:
            store = Store(tmp_path, cache=True)
            assert store.rows("SELECT count(*) FROM calls") == [(500,)]
            assert store.cache_path is None or os.geteuid() == 0
        finally:
            tmp_path.chmod(0o755)

    def test_the_cache_is_not_a_segment(self, tmp_path: Path) -> None:
        write_synthetic(tmp_path, 500, seed=1, end=END, days=1)
        Store(tmp_path, cache=True).rows("SELECT 1")
        assert (tmp_path / CACHE_DIR / "reader-0.duckdb").exists()
        assert store_info(tmp_path)["calls"]["rows"] == 500
        assert compact(tmp_path).skipped_bad == 0

    def test_a_cache_from_another_layout_is_started_afresh(self, tmp_path: Path) -> None:
        import duckdb

        from tracer.read._reader import CACHE_FORMAT

        write_synthetic(tmp_path, 500, seed=1, end=END, days=1)
        Store(tmp_path, cache=True).rows("SELECT 1")
        con = duckdb.connect(str(tmp_path / CACHE_DIR / "reader-0.duckdb"))
        con.execute("UPDATE _meta SET format = ?", [CACHE_FORMAT - 1])
        con.execute("DELETE FROM _calls WHERE true")  # an older layout's rows are not to be trusted
        con.close()
        store = Store(tmp_path, cache=True)
        assert store.rows("SELECT count(*) FROM calls") == [(500,)]
        assert store.rows("SELECT format FROM _store._meta") == [(CACHE_FORMAT,)]


class TestLoadingInSteps:
    """A first open of a big store loads in steps and says how far it is; `prepare` does it ahead of a dashboard;
    a cache brought up to date step by step answers exactly what one built in one go answers."""

    def test_progress_counts_every_row_in_steps_and_a_current_cache_loads_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        write_synthetic(tmp_path, 3_000, seed=3, end=END, days=2, chunk_calls=500)
        monkeypatch.setattr("tracer.read._reader.LOAD_STEP_ROWS", 800)
        heard: list[tuple[int, int]] = []
        store = Store(tmp_path, cache=True, progress=lambda done, total: heard.append((done, total)))
        rows = sum(n for (n,) in store.rows("SELECT count(*) FROM calls UNION ALL SELECT count(*) FROM attempts UNION ALL SELECT count(*) FROM events UNION ALL SELECT count(*) FROM spans"))
        store.close()
        assert len(heard) > 4 and heard[-1] == (rows, rows)
        assert [done for done, _ in heard] == sorted({done for done, _ in heard})  # strictly increasing
        assert {total for _, total in heard} == {rows}
        again: list[tuple[int, int]] = []
        reopened = Store(tmp_path, cache=True, progress=lambda done, total: again.append((done, total)))
        assert reopened.pending_rows() == 0 and reopened.rows("SELECT count(*) FROM calls") == [(3_000,)]
        assert again == []

    def test_a_failing_progress_callback_does_not_stop_the_load(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        write_synthetic(tmp_path, 1_000, seed=3, end=END, days=1)

        def broken(done: int, total: int) -> None:
            raise RuntimeError("a closed terminal")

        assert Store(tmp_path, progress=broken).rows("SELECT count(*) FROM calls") == [(1_000,)]
        assert "progress callback failed" in caplog.text

    def test_prepare_leaves_a_current_cache_for_the_next_reader(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        write_synthetic(tmp_path, 2_000, seed=4, end=END, days=1)
        monkeypatch.setattr("tracer.read._reader.CACHE_MIN_ROWS", 10)
        assert q.prepare(tmp_path) > 2_000
        assert q.prepare(tmp_path) == 0  # nothing new
        dashboard = Store(tmp_path)
        assert dashboard.keeps_a_cache_file() and dashboard.pending_rows() == 0
        monkeypatch.setattr("tracer.read._reader.CACHE_MIN_ROWS", 10**9)
        assert q.prepare(tmp_path / "small") == 0  # read from memory: nothing to prepare

    @pytest.mark.parametrize("merge", [None, False], ids=["as-duckdb-has-it", "without-merge-into"])
    def test_a_cache_kept_up_to_date_answers_every_query_as_one_built_in_one_go(
        self, tmp_path: Path, merge: bool | None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("tracer.read._rollup.MERGE_STATEMENT", merge)  # DuckDB before 1.4 has no MERGE INTO
        root = tmp_path / "store"
        kept = Store(root, cache=True)
        for seed in range(3):  # new Parquet and row segments, a compaction, a prune, each read after it happens
            write_synthetic(root, 1_500, seed=10 + seed, end=END - dt.timedelta(days=seed), days=1, chunk_calls=600)
            kept.rows("SELECT 1")
            if seed == 1:
                compact(root)
                kept.rows("SELECT 1")
        prune(root, dt.timedelta(days=2), now=END + dt.timedelta(days=1))
        whole = Store(root, cache=False)
        for name, query in q.NAMED.items():
            for filters in FILTERS:
                got, want = query(kept, filters), query(whole, filters)
                if name == "breaker_timeline":  # a breaker still open "finishes" at the query's now()
                    got, want = got.drop(columns="finish"), want.drop(columns="finish")
                # in no particular order, and some columns hold maps: compared as sorted rows of their values' text
                assert list(got.columns) == list(want.columns), name
                rows = sorted(map(repr, got.astype(str).itertuples(index=False)))
                assert rows == sorted(map(repr, want.astype(str).itertuples(index=False))), (name, filters)
        # Each trace's cost, added to as segments loaded and summed again for the traces the prune took calls from,
        # is the one a sum over the calls left gives; so are the dearest (and other) runs of the whole store.
        def costs(store: Store) -> list[tuple[int, float | None]]:
            return sorted((k, None if c is None else round(c, 9)) for k, c in store.rows("SELECT trace_key, cost_usd FROM trace_costs"))

        assert costs(kept) == costs(whole)
        assert kept.rows("SELECT count(*) FROM trace_costs") == whole.rows("SELECT count(DISTINCT trace_id) FROM calls")
        for order in runs.ORDERS:
            got, want = (
                frame.assign(models=frame["models"].map(lambda m: ",".join(sorted(m.split(","))) if isinstance(m, str) else m))
                for frame in (runs.traces(store, q.Filters(), order, limit=20) for store in (kept, whole))
            )  # string_agg's order of a run's models is any
            assert got.astype(str).values.tolist() == want.astype(str).values.tolist(), order
