"""A segment that does not decode as a whole (issue 24, item 2): readers keep every row that decodes and say once
what they left out; `store info` decodes every segment and reports rows lost per file; `store repair` rewrites it.

The damaged segments are what a writer before schema 4 wrote: a value out of its column's range (10^30 input
tokens), and here also a line that is not JSON at all, with a header and checksum that are right."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path

from tracer.cli import main
from tracer.read import Store, compact, repair, store_info
from tracer.read._segments import list_segments
from tracer.store._rows import COLUMNS
from tracer.store.schema import SCHEMA_VERSION
from tracer.store.segments import ROWS_MAGIC, encode_rows, segment_name

_AT = {name: i for i, name in enumerate(COLUMNS["calls"])}
DAY = "2026-12-01"
START_US = 1_764_547_200_000_000  # 2026-12-01 00:00 UTC


def call_row(i: int, input_tokens: object = 10) -> tuple:
    row = [None] * len(COLUMNS["calls"])
    row[_AT["span_id"]] = f"{i:016x}"
    row[_AT["start_time"]] = START_US + i
    row[_AT["status"]], row[_AT["operation"]], row[_AT["unpriced"]] = "ok", "chat", False
    row[_AT["input_tokens"]], row[_AT["output_tokens"]] = input_tokens, 5
    return tuple(row)


def write_damaged(root: Path, *, n: int = 20, bad_at: int = 7, junk_line: bool = True) -> Path:
    """A row segment as an old writer left it: `n` calls, one with 10^30 input tokens, and (with `junk_line`) a line
    that is not JSON; its header counts every line and its checksum is right."""
    rows = [call_row(i, 10**30 if i == bad_at else 10) for i in range(n)]
    body = encode_rows(rows) + (b'[1, 2, "cut\n' if junk_line else b"")
    header = {
        ROWS_MAGIC: 1, "table": "calls", "version": SCHEMA_VERSION, "columns": list(COLUMNS["calls"]),
        "rows": n + junk_line, "first": START_US, "last": START_US + n, "bytes": len(body), "crc32": zlib.crc32(body),
    }  # fmt: skip
    directory = root / "calls" / DAY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / segment_name("calls", suffix=".jsonl")
    path.write_bytes((json.dumps([header]) + "\n").encode() + body)
    return path


class TestReaderSalvages:
    def test_every_row_that_decodes_is_kept_with_one_warning_naming_the_file_and_rows_left_out(self, tmp_path, caplog):
        path = write_damaged(tmp_path)
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            for _ in range(2):
                rows = Store(tmp_path).rows("SELECT input_tokens, damaged_fields FROM calls ORDER BY start_time")
                assert len(rows) == 20
                assert rows[7] == (None, "input_tokens")
                assert all(r == (10, None) for i, r in enumerate(rows) if i != 7)
        warnings = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "20 of its 21 rows kept, 1 left out" in warnings[0]

    def test_a_salvaged_segment_loads_beside_ordinary_ones(self, tmp_path):
        write_damaged(tmp_path, junk_line=False)
        write_damaged(tmp_path, bad_at=-1, junk_line=False)  # an ordinary segment
        assert Store(tmp_path).rows("SELECT count(*), count(damaged_fields) FROM calls") == [(40, 1)]


class TestStoreInfo:
    def test_info_decodes_every_segment_and_reports_rows_lost_per_file(self, tmp_path):
        path = write_damaged(tmp_path)
        calls = store_info(tmp_path)["calls"]
        assert (calls["rows"], calls["unreadable"], calls["damaged_rows"]) == (20, 0, 1)
        assert calls["salvaged"] == [str(path)]
        assert calls["lost"] == {str(path): 1}

    def test_the_cli_names_the_file_and_repair_says_what_it_did(self, tmp_path, capsys):
        path = write_damaged(tmp_path)
        assert main(["store", "info", "--store", str(tmp_path)]) == 0
        assert f"{path}: 1 rows left out" in capsys.readouterr().out.replace("\n", "")
        assert main(["store", "repair", "--store", str(tmp_path)]) == 0
        assert "1 segments rewritten, 20 rows kept, 1 left out" in capsys.readouterr().out


class TestRepair:
    def test_repair_keeps_every_row_that_decodes_and_reports_what_it_left_out(self, tmp_path):
        path = write_damaged(tmp_path)
        before = Store(tmp_path).rows("SELECT span_id, input_tokens, damaged_fields FROM calls ORDER BY span_id")
        result = repair(tmp_path)
        assert (result.salvaged, result.rows_kept, result.rows_left_out) == (1, 20, 1)
        assert not path.exists()
        assert Store(tmp_path).rows("SELECT span_id, input_tokens, damaged_fields FROM calls ORDER BY span_id") == before
        calls = store_info(tmp_path)["calls"]
        assert (calls["salvaged"], calls["lost"], calls["rows"]) == ([], {}, 20)
        assert repair(tmp_path).salvaged == 0  # nothing left to repair

    def test_a_reader_open_during_repair_never_sees_duplicates(self, tmp_path):
        write_damaged(tmp_path)
        store = Store(tmp_path)
        assert store.rows("SELECT count(*) FROM calls") == [(20,)]
        repair(tmp_path)
        assert store.rows("SELECT count(*) FROM calls") == [(20,)]
        assert len(list(list_segments(tmp_path, "calls"))) == 1

    def test_compaction_merges_a_salvaged_segment_and_counts_what_it_left_out(self, tmp_path):
        write_damaged(tmp_path)
        write_damaged(tmp_path, bad_at=-1, junk_line=False)
        result = compact(tmp_path)
        assert (result.skipped_bad, result.salvaged, result.rows_left_out) == (0, 1, 1)
        assert Store(tmp_path).rows("SELECT count(*), count(damaged_fields) FROM calls") == [(40, 1)]
