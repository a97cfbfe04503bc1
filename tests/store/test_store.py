"""The store end to end in one process: spans through a real SDK TracerProvider and StoreExporter into Parquet
segments, read back through Store's SQL views, with the failures a real disk produces."""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.store.spans import call, provider
from tracer import semconv
from tracer.read import Store, _segments, compact, prune, store_info
from tracer.read.synthetic import write_synthetic
from tracer.store import SCHEMA_VERSION, StoreExporter
from tracer.store import segments as store_segments

CALL_COLUMNS = ["trace_id", "span_id", "start_time", "duration_ms", "operation", "model", "response_model", "streaming", "status", "error_type", "http_status", "attempts", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "thinking_tokens", "ttft_ms", "cost_usd", "service_name", "tags"]
ATTEMPT_COLUMNS = ["trace_id", "span_id", "call_span_id", "start_time", "duration_ms", "attempt", "http_status", "error_type", "retry_after_s", "ratelimit_requests_remaining", "ratelimit_tokens_remaining", "request_id"]
EVENT_COLUMNS = ["time", "kind", "name", "from_state", "to_state", "attributes"]


def write_calls(root: Path, keys, **kw) -> StoreExporter:
    exporter = StoreExporter(root)
    tp = provider(exporter)
    tracer = tp.get_tracer("t")
    for key in keys:
        call(tracer, str(key), **kw)
    tp.force_flush()
    tp.shutdown()
    return exporter


def segments(root: Path, table: str = "calls") -> list[Path]:
    """Live segment files: the writers' row segments (`.jsonl`) and compacted ones (`.parquet`)."""
    return sorted(p for p in (root / table).glob("*/*") if p.suffix in (".jsonl", ".parquet") and not p.name.startswith("."))


def read_segment(path: Path, table: str = "calls") -> pa.Table:
    return _segments.read_table(_segments.read_info(path, table))


class TestRoundTrip:
    def test_views_have_the_public_columns(self, tmp_path):
        write_calls(tmp_path, range(3))
        store = Store(tmp_path)
        for view, expected in (("calls", CALL_COLUMNS), ("attempts", ATTEMPT_COLUMNS), ("events", EVENT_COLUMNS)):
            columns = [row[0] for row in store.rows(f"DESCRIBE {view}")]
            assert columns[: len(expected)] == expected, view
        types = dict(store.rows("SELECT column_name, column_type FROM (DESCRIBE calls)"))
        assert types["start_time"] == "TIMESTAMP WITH TIME ZONE"
        assert types["cost_usd"] == "DECIMAL(38,12)"
        assert types["tags"] == "MAP(VARCHAR, VARCHAR)"

    def test_a_call_with_retries_has_its_attempts(self, tmp_path):
        write_calls(tmp_path, ["a"], attempts=3)
        write_calls(tmp_path, ["b"], attempts=2, error=True, cost=None)
        store = Store(tmp_path)
        rows = store.rows(
            """SELECT c.tags['key'], c.attempts, c.status, c.http_status, c.input_tokens, c.cost_usd, c.service_name,
                      list(a.http_status ORDER BY a.attempt), list(a.attempt ORDER BY a.attempt)
               FROM calls c JOIN attempts a ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id
               GROUP BY ALL ORDER BY 1"""
        )
        assert rows == [
            ("a", 3, "ok", 200, 1000, Decimal("0.0105"), "store-tests", [429, 429, 200], [0, 1, 2]),
            ("b", 2, "error", 529, 1000, None, "store-tests", [429, 529], [0, 1]),
        ]

    def test_events_from_record_event(self, tmp_path):
        from opentelemetry import trace

        from tracer import _events, semconv

        exporter = StoreExporter(tmp_path)
        tp = provider(exporter)
        # record_event uses the global tracer: route it to this provider for the test.
        saved = _events._tracer
        _events._tracer = tp.get_tracer(semconv.SCOPE)
        try:
            _events.record_event(semconv.EVENT_KIND_BREAKER_TRANSITION, "claude-opus-4-5", from_state="closed", to_state="open", attributes={"failures": 5})
        finally:
            _events._tracer = saved
        tp.force_flush()
        assert trace is not None
        rows = Store(tmp_path).rows("SELECT kind, name, from_state, to_state, attributes['failures'] FROM events")
        assert rows == [("breaker_transition", "claude-opus-4-5", "closed", "open", "5")]

    def test_params_positional_and_named_and_a_dataframe(self, tmp_path):
        write_calls(tmp_path, ["x", "y"])
        store = Store(tmp_path)
        assert store.rows("SELECT count(*) FROM calls WHERE tags['key'] = ?", ["x"]) == [(1,)]
        assert store.rows("SELECT count(*) FROM calls WHERE tags['key'] = $k", {"k": "y"}) == [(1,)]
        frame = store.sql("SELECT model, count(*) AS n FROM calls GROUP BY model")
        assert list(frame.columns) == ["model", "n"] and frame["n"].sum() == 2

    def test_an_empty_or_missing_store_reads_as_empty_views(self, tmp_path):
        assert Store(tmp_path / "nothing-yet").rows("SELECT count(*) FROM calls") == [(0,)]

    def test_a_reader_sees_segments_written_after_it_opened(self, tmp_path):
        store = Store(tmp_path)
        assert store.rows("SELECT count(*) FROM calls") == [(0,)]
        write_calls(tmp_path, range(5))
        assert store.rows("SELECT count(*) FROM calls") == [(5,)]


class TestDamage:
    def test_a_truncated_segment_is_skipped_with_one_warning_and_the_rest_reads(self, tmp_path, caplog):
        write_calls(tmp_path, ["kept-1"])
        write_calls(tmp_path, ["lost"])
        write_calls(tmp_path, ["kept-2"])
        victim = next(p for p in segments(tmp_path) if read_segment(p).column("tags").to_pylist()[0] == [("key", "lost")])
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
        store = Store(tmp_path)
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            for _ in range(3):
                assert store.rows("SELECT tags['key'] FROM calls ORDER BY 1") == [("kept-1",), ("kept-2",)]
            assert Store(tmp_path).rows("SELECT count(*) FROM attempts") == [(3,)]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and str(victim) in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert "skipping unreadable segment" in warnings[0].getMessage()

    def test_one_value_out_of_range_costs_that_value_not_the_flush(self, tmp_path, caplog):
        """Issue 24, case 1: one call's `input_tokens = 10**30` among 20 written in one flush. Before, the reader's
        cast failed for the whole segment and the store held none of the 20."""
        exporter = StoreExporter(tmp_path)
        tp = provider(exporter, schedule_delay_millis=60_000)
        tracer_ = tp.get_tracer(semconv.ANTHROPIC_SCOPE)
        for i in range(20):
            with tracer_.start_as_current_span(semconv.SPAN_MESSAGES_CREATE, attributes={
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL, semconv.GEN_AI_OPERATION_NAME: "chat",
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 10**30 if i == 7 else 10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                semconv.COST_USD_EXACT: "0.1", semconv.TAG_PREFIX + "key": str(i),
            }):  # fmt: skip
                pass
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            tp.force_flush()
        assert len(segments(tmp_path)) == 1
        assert exporter.damaged == 1 and exporter.dropped == 0
        rows = Store(tmp_path).rows("SELECT tags['key'], input_tokens, damaged_fields, unpriced_reason FROM calls")
        assert len(rows) == 20
        assert [r for r in rows if r[2] is not None] == [("7", None, "input_tokens", "malformed_usage")]
        assert len([r for r in caplog.records if "damaged_fields" in r.getMessage()]) == 1

    def test_garbage_and_temporary_files_are_not_segments(self, tmp_path, caplog):
        write_calls(tmp_path, ["ok"])
        day = segments(tmp_path)[0].parent
        (day / ".tmp-calls-v1-half-written.parquet").write_bytes(b"PAR1 half")
        (day / "calls-v1-garbage.parquet").write_bytes(b"not parquet at all")
        (day / "calls-v1-junk.jsonl").write_bytes(b'[{"tracer.store": 1}]\n["no", "header"]\n')
        (day / ".tmp-calls-v1-half-written.jsonl").write_bytes(b"[{")
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(1,)]
        assert sum("calls-v1-garbage" in r.getMessage() for r in caplog.records) == 1
        assert sum("calls-v1-junk" in r.getMessage() for r in caplog.records) == 1
        assert not any(".tmp-" in r.getMessage() for r in caplog.records)


class TestSchemaVersion:
    def test_segments_record_the_schema_version_in_metadata_and_name(self, tmp_path):
        write_calls(tmp_path, ["v"])
        path = segments(tmp_path)[0]
        assert f"-v{SCHEMA_VERSION}-" in path.name
        assert _segments.read_info(path, "calls").version == SCHEMA_VERSION
        assert json.loads(path.read_bytes().split(b"\n", 1)[0])[0]["version"] == SCHEMA_VERSION
        compact(tmp_path)
        (merged,) = segments(tmp_path)
        assert f"-v{SCHEMA_VERSION}-" in merged.name
        assert pq.read_metadata(merged).metadata[b"tracer.store.schema_version"] == str(SCHEMA_VERSION).encode()
        assert store_info(tmp_path)["calls"]["versions"] == [SCHEMA_VERSION]

    def test_a_newer_reader_reads_older_segments(self, tmp_path):
        """An older writer's segment has fewer columns (here: a layout without tags, caching or ttft columns):
        its rows read with NULL in the columns it lacks, next to current segments."""
        write_calls(tmp_path, ["current"])
        old = pa.table(
            {
                "trace_id": ["0" * 31 + "1"],
                "span_id": ["0" * 15 + "1"],
                "start_time": pa.array([dt.datetime(2026, 11, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")),
                "duration_ms": [12.5],
                "model": ["claude-3-haiku"],
                "status": ["ok"],
                "attempts": pa.array([1], pa.int32()),
                "input_tokens": pa.array([10], pa.int64()),
                "output_tokens": pa.array([5], pa.int64()),
                "cost_usd": pa.array([Decimal("0.000123")], pa.decimal128(20, 9)),  # a narrower decimal then
            }
        )
        _segments.write_segment(tmp_path, "calls", old, "2026-11-01", version=SCHEMA_VERSION - 1 if SCHEMA_VERSION > 1 else 0)
        rows = Store(tmp_path).rows("SELECT model, input_tokens, cost_usd, tags, cache_read_tokens, ttft_ms FROM calls ORDER BY start_time")
        assert rows[0] == ("claude-3-haiku", 10, Decimal("0.000123000000"), None, None, None)
        assert rows[1][0] == "claude-sonnet-4-5"
        assert sorted(store_info(tmp_path)["calls"]["versions"]) == sorted({SCHEMA_VERSION, max(SCHEMA_VERSION - 1, 0)})

    def test_a_segment_from_a_newer_writer_reads_without_its_unknown_columns(self, tmp_path):
        write_calls(tmp_path, ["now"])
        data = read_segment(segments(tmp_path)[0])
        newer = data.append_column("carbon_grams", pa.array([1.5]))
        _segments.write_segment(tmp_path, "calls", newer, segments(tmp_path)[0].parent.name, version=SCHEMA_VERSION + 1)
        assert Store(tmp_path).rows("SELECT count(*), count(DISTINCT span_id) FROM calls") == [(2, 1)]


class TestCompactionAndRetention:
    def test_compaction_merges_small_segments_and_readers_never_see_duplicates_or_gaps(self, tmp_path):
        for i in range(12):
            write_calls(tmp_path, [f"k{i}-{j}" for j in range(5)])
        assert len(segments(tmp_path)) == 12
        store = Store(tmp_path)
        seen: list[int] = []
        stop = threading.Event()

        def reader() -> None:
            other = Store(tmp_path)  # a second reader that starts cold during compaction
            while not stop.is_set():
                seen.append(store.rows("SELECT count(*) FROM calls")[0][0])
                seen.append(other.rows("SELECT count(DISTINCT span_id) FROM calls")[0][0])

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            result = compact(tmp_path)
        finally:
            stop.set()
            thread.join()
        assert (result.merged, result.written) == (24, 2)  # 12 segments each of calls and attempts, into one each
        assert len(segments(tmp_path)) == 1
        assert set(seen) == {60}
        assert store.rows("SELECT count(*), count(DISTINCT span_id) FROM calls") == [(60, 60)]
        assert Store(tmp_path).rows("SELECT count(*) FROM attempts") == [(60,)]

    def test_a_compactor_killed_before_deleting_its_sources_leaves_no_duplicates(self, tmp_path, monkeypatch):
        for i in range(3):
            write_calls(tmp_path, [f"c{i}"])
        monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # sources stay, as if killed
        compact(tmp_path)
        monkeypatch.undo()
        assert len(segments(tmp_path)) == 4  # three sources and the merged segment
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(3,)]
        compact(tmp_path)  # the next compaction removes the leftover sources
        assert len(segments(tmp_path)) == 1
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(3,)]

    def test_compacting_twice_keeps_every_row_once(self, tmp_path):
        write_calls(tmp_path, ["a", "b"])
        write_calls(tmp_path, ["c"])
        store = Store(tmp_path)
        assert store.rows("SELECT count(*) FROM calls") == [(3,)]
        compact(tmp_path)
        write_calls(tmp_path, ["d"])
        compact(tmp_path)
        assert store.rows("SELECT string_agg(tags['key'], ',' ORDER BY tags['key']) FROM calls") == [("a,b,c,d",)]
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(4,)]

    def test_prune_removes_whole_days_older_than_the_cutoff(self, tmp_path):
        now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
        write_synthetic(tmp_path, 3_000, seed=3, end=now, days=40)
        store = Store(tmp_path)
        before = store.rows("SELECT count(*), min(start_time) FROM calls")[0]
        assert before[1] < now - dt.timedelta(days=35)
        result = prune(tmp_path, dt.timedelta(days=30), now=now)
        assert result.days_removed > 0
        count, oldest = store.rows("SELECT count(*), min(start_time) FROM calls")[0]
        assert 0 < count < before[0]
        assert oldest >= dt.datetime(2026, 10, 25, tzinfo=dt.UTC)
        assert store.rows("SELECT count(*) FROM attempts a ANTI JOIN calls c ON a.call_span_id = c.span_id WHERE a.start_time >= '2026-10-26'") == [(0,)]


    def test_prune_removes_the_drop_records_no_process_wrote_since_the_cutoff(self, tmp_path):
        """A drop record counts what one process dropped on the way to the store; once nothing wrote it since the
        cutoff, its days are gone too, and `store info` must stop adding it up."""
        from tracer import _drops
        from tracer.read._drops import store_drops

        now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
        write_synthetic(tmp_path, 100, seed=3, end=now, days=1)
        records = tmp_path / _drops.RECORD_DIR
        records.mkdir()
        for name, age_days, dropped in (("old", 40, 7), ("recent", 2, 3), (".tmp-crashed", 40, 1)):
            path = records / f"{name}{_drops.RECORD_SUFFIX}"
            path.write_text(json.dumps({"host": "h", "pid": 1, "updated": "", "dropped": {"exporter": dropped}}))
            stamp = (now - dt.timedelta(days=age_days)).timestamp()
            os.utime(path, (stamp, stamp))
        assert store_drops(tmp_path)["by_stage"] == {"exporter": 10}
        result = prune(tmp_path, dt.timedelta(days=30), now=now)
        assert result.drop_records_removed == 1
        assert sorted(p.name for p in records.iterdir()) == [f"recent{_drops.RECORD_SUFFIX}"]
        assert store_drops(tmp_path)["by_stage"] == {"exporter": 3}


class TestNeverInTheWay:
    def test_a_read_only_directory_gives_one_warning_and_the_app_carries_on(self, tmp_path):
        """A child process makes 40 calls into a store it cannot write, flushing four times: its work finishes,
        the spans are dropped and counted, one warning. As root (who writes through file modes) the directory is
        a read-only tmpfs mounted in a private mount namespace (EROFS); otherwise a mode-555 directory (EACCES)."""
        readonly = tmp_path / "readonly"
        readonly.mkdir()
        script = textwrap.dedent(
            f"""
            import json, logging, sys
            sys.path.insert(0, {str(Path(__file__).parents[2])!r})
            records = []
            class Keep(logging.Handler):
                def emit(self, record): records.append(record.getMessage())
            logging.getLogger("tracer.store").addHandler(Keep())
            from tests.store.spans import call, provider
            from tracer.store import StoreExporter
            exporter = StoreExporter({str(readonly / "store")!r})
            tp = provider(exporter)
            tracer = tp.get_tracer("t")
            done = 0
            for flush in range(4):
                for i in range(10):
                    call(tracer, str(i)); done += 1
                tp.force_flush()
            print(json.dumps({{"done": done, "dropped": exporter.dropped, "warnings": records}}))
            """
        )
        if os.geteuid() == 0:
            if not shutil.which("unshare"):
                pytest.skip("running as root without unshare(1): no way to make a directory read-only for root")
            command = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o ro,size=1m tmpfs "{readonly}" && exec "$0" -c "$1"', sys.executable, script]
        else:
            readonly.chmod(0o555)
            command = [sys.executable, "-c", script]
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=120)
        finally:
            readonly.chmod(0o755)
        if os.geteuid() == 0 and "mount:" in out.stderr:
            pytest.skip(f"cannot mount a read-only tmpfs here: {out.stderr.strip()}")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["done"] == 40 and result["dropped"] == 80
        assert len(result["warnings"]) == 1, result["warnings"]
        message = result["warnings"][0]
        assert "cannot write to the store" in message and "carries on" in message
        assert "Read-only file system" in message or "Permission denied" in message

    def test_a_full_disk_gives_one_warning_and_drops_are_counted(self, tmp_path, caplog, monkeypatch):
        """ENOSPC is simulated: the segment's write is replaced by one that raises OSError(ENOSPC) (a real full disk
        is in tests/store/test_damage.py, for the reader)."""

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(store_segments, "_write_atomically", full)
        exporter = StoreExporter(tmp_path)
        tp = provider(exporter, max_export_batch_size=4)
        tracer = tp.get_tracer("t")
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            for i in range(30):
                call(tracer, str(i))
                if i % 7 == 0:
                    tp.force_flush()
            tp.force_flush()
        assert exporter.dropped == 60  # 30 calls + 30 attempts
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "no space left on device" in warnings[0]
        assert not list(tmp_path.rglob(".tmp-*"))
        monkeypatch.undo()
        call(tracer, "after")  # the disk has room again: writing resumes
        tp.force_flush()
        assert Store(tmp_path).rows("SELECT tags['key'] FROM calls") == [("after",)]

    def test_a_full_buffer_drops_and_counts_with_one_warning(self, tmp_path, caplog):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        meters = MeterProvider(metric_readers=[reader])
        exporter = StoreExporter(tmp_path, max_buffered=10, flush_rows=10**9, flush_interval_s=3600, meter_provider=meters)
        tp = provider(exporter, max_export_batch_size=2, schedule_delay_millis=3_600_000)
        tracer = tp.get_tracer("t")
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            # Full batches (2 spans = the processor's batch size) are buffered, never written: the buffer fills.
            exporter.full_batch = 2
            for i in range(20):
                call(tracer, str(i))
            tp.force_flush()
        assert exporter.dropped == 30
        assert sum("buffer is full" in r.getMessage() for r in caplog.records) == 1
        exporter.force_flush()
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(5,)]
        data = reader.get_metrics_data()
        points = [
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "tracer.store.dropped_spans"
            for p in m.data.data_points
        ]
        assert sum(points) == 30

    def test_force_flush_and_shutdown_write_what_is_buffered(self, tmp_path):
        exporter = StoreExporter(tmp_path, flush_rows=10**9, flush_interval_s=3600, full_batch=1)
        tp = provider(exporter, batch=False)  # SimpleSpanProcessor: one span per export, all "full"
        tracer = tp.get_tracer("t")
        for i in range(4):
            call(tracer, str(i))
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(0,)]
        exporter.force_flush()
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(4,)]
        call(tracer, "last")
        tp.shutdown()
        assert Store(tmp_path).rows("SELECT count(*) FROM calls") == [(5,)]

    def test_the_writer_thread_flushes_on_its_own(self, tmp_path):
        exporter = StoreExporter(tmp_path, flush_interval_s=0.05, full_batch=1)
        tp = provider(exporter, batch=False)
        call(tp.get_tracer("t"), "timer")
        store = Store(tmp_path)
        deadline = 200
        while store.rows("SELECT count(*) FROM calls") != [(1,)] and deadline:
            threading.Event().wait(0.05)
            deadline -= 1
        assert store.rows("SELECT count(*) FROM calls") == [(1,)]
