"""The reader reads around damage: a segment whose data (not only its header or footer) is damaged, a damaged or
partial cache file, a disk that fills up while the reader builds its cache. Each time the reader answers over the
undamaged data, says what happened once, and leaves the store so that the next open works."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.store.test_store import segments, write_calls
from tracer.cli import main
from tracer.read import Store, compact, store_info
from tracer.read.synthetic import write_synthetic

REPO = Path(__file__).parents[2]


def damage(path: Path, at: float, span: int = 1) -> None:
    """Flip `span` bytes at the fraction `at` of the file: its length, header and footer stay as they were."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    for i in range(start, start + span):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


class TestDamagedSegments:
    def test_a_row_segment_with_a_damaged_body_is_skipped_with_one_warning_and_listed_by_info(self, tmp_path, caplog, capsys):
        for key in ("kept-1", "lost", "kept-2"):
            write_calls(tmp_path, [key])
        victim = next(p for p in segments(tmp_path) if b'"lost"' in p.read_bytes())
        damage(victim, 0.97)  # in the body: the header is the first line
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            store = Store(tmp_path)
            for _ in range(3):
                assert store.rows("SELECT tags['key'] FROM calls ORDER BY 1") == [("kept-1",), ("kept-2",)]
            assert Store(tmp_path).rows("SELECT count(*) FROM attempts") == [(3,)]
        (warning,) = warnings_about(caplog, str(victim))
        assert "damaged" in warning
        info = store_info(tmp_path)["calls"]
        assert (info["segments"], info["rows"], info["unreadable"], info["bad"]) == (2, 2, 1, [str(victim)])
        assert main(["store", "info", "--store", str(tmp_path)]) == 0
        assert str(victim) in capsys.readouterr().out

    def test_a_compacted_segment_with_a_damaged_page_is_skipped(self, tmp_path, caplog):
        """DuckDB reads a damaged Parquet page as wrong values without complaint: the pages' CRCs find it."""
        write_calls(tmp_path, [f"old-{i}" for i in range(2000)])
        compact(tmp_path)
        (merged,) = segments(tmp_path)
        assert merged.suffix == ".parquet"
        write_calls(tmp_path, ["new"])
        damage(merged, 0.3, span=4)
        with caplog.at_level(logging.WARNING, logger="tracer.store"):
            assert Store(tmp_path).rows("SELECT tags['key'] FROM calls") == [("new",)]
        assert len(warnings_about(caplog, str(merged))) == 1
        assert store_info(tmp_path)["calls"]["bad"] == [str(merged)]



class TestPageChecksums:
    """A Parquet segment's pages are checked against their CRCs over their bytes (`tracer.read._pagecrc`), without
    decoding them (pyarrow, decoding a damaged page, can crash the process): every damaged byte of a page's data is
    found, and a file whose pages carry no CRC is left to decoding."""

    def test_every_damaged_byte_of_a_pages_data_is_found(self, tmp_path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from tracer.read._pagecrc import Damaged, page_crcs_match

        n = 500
        table = pa.table({"a": list(range(n)), "b": [f"value-{i % 7}" for i in range(n)]})
        path, without = tmp_path / "with.parquet", tmp_path / "without.parquet"
        # One page per column chunk, its header (a few dozen bytes) first: the rest of the chunk is the page's data.
        pq.write_table(table, path, write_page_checksum=True, compression="none", use_dictionary=False, write_statistics=False)
        pq.write_table(table, without)
        assert page_crcs_match(path) is True
        assert page_crcs_match(without) is False
        clean = path.read_bytes()
        meta = pq.read_metadata(path)
        for j in range(meta.num_columns):
            chunk = meta.row_group(0).column(j)
            start, end = chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size
            for at in range(start + 64, end, 3):
                data = bytearray(clean)
                data[at] ^= 0x5A
                path.write_bytes(data)
                with pytest.raises(Damaged):
                    page_crcs_match(path)

    def test_a_damaged_page_header_ends_in_a_verdict_at_once(self, tmp_path: Path) -> None:
        """Each byte of each page's header damaged in turn: the check says Damaged, or leaves the file to decoding
        (False), or finds the pages whole (damage in a field the CRC does not cover, left to DuckDB): it never
        raises anything else, and never runs long. A header whose damage reads as a map of a billion booleans, or
        as structs nested a thousand deep, is Damaged at once."""
        import time

        import pyarrow as pa
        import pyarrow.parquet as pq

        from tracer.read._pagecrc import Damaged, page_crcs_match

        table = pa.table({"a": list(range(200)), "b": [f"value-{i % 7}" for i in range(200)]})
        path = tmp_path / "p.parquet"
        pq.write_table(table, path, write_page_checksum=True, compression="none", use_dictionary=False)
        clean = path.read_bytes()
        meta = pq.read_metadata(path)
        started = time.monotonic()
        for j in range(meta.num_columns):
            first = meta.row_group(0).column(j).data_page_offset
            for at in range(first, first + 64):
                for flip in (0x01, 0x5A, 0xFF):
                    data = bytearray(clean)
                    data[at] ^= flip
                    path.write_bytes(data)
                    with contextlib.suppress(Damaged):
                        assert page_crcs_match(path) in (True, False)
        assert time.monotonic() - started < 60  # about 400 checks of a small file; a loop over a damaged size never ends
        start = meta.row_group(0).column(0).data_page_offset
        # A page header whose first field is a map (type 11) of 2**60 entries of booleans (type 1 -> 1).
        for header in (bytes([0x1B]) + bytes([0x80] * 8 + [0x10]) + bytes([0x11]), bytes([0x1C]) * 1000):
            data = bytearray(clean)
            data[start : start + len(header)] = header
            path.write_bytes(bytes(data[: len(clean)]))
            with pytest.raises(Damaged):
                page_crcs_match(path)


def cache_store(root: Path) -> int:
    write_synthetic(root, 3000, seed=3)
    with Store(root, cache=True) as store:
        calls = int(store.rows("SELECT count(*) FROM calls")[0][0])
        assert store.cache_path is not None
        return calls


class TestCache:
    def test_a_cache_file_with_damaged_blocks_is_rebuilt(self, tmp_path, caplog):
        calls = cache_store(tmp_path)
        cache = tmp_path / ".cache" / "reader-0.duckdb"
        # A few bytes in every 128 KiB past the file's headers and its first block (the catalog's): whichever blocks
        # hold the tables, some are damaged. Where they fall, and how much of the file is free blocks after the
        # refreshes' updates, differs between DuckDB versions: four fixed places all fell on free blocks with DuckDB
        # 1.3 once the cache gained a table.
        size = cache.stat().st_size
        for offset in range(300 * 1024, size - 64, 128 * 1024):
            damage(cache, offset / size, span=64)
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            for table in ("calls", "attempts", "spans", "events"):  # every block read, wherever the damage fell
                store.arrow(f"SELECT * FROM {table}")
            assert store.rows("SELECT count(*), sum(input_tokens) > 0 FROM calls") == [(calls, True)]
            assert store.rows("SELECT count(*) FROM attempts a JOIN calls c ON a.call_span_id = c.span_id")[0][0] > 0
            assert store.cache_path == cache
        (warning,) = warnings_about(caplog, str(cache))
        assert "damaged" in warning and "rebuilding" in warning
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
        assert warnings_about(caplog, "cache") == []

    def test_a_cache_file_whose_first_block_is_damaged_is_rebuilt_with_one_message(self, tmp_path, caplog):
        """Damage in the block DuckDB reads as it attaches the file (its catalog) is found before any query: the cache
        is rebuilt at once, and the user is told why the open takes longer."""
        calls = cache_store(tmp_path)
        cache = tmp_path / ".cache" / "reader-0.duckdb"
        damage(cache, (3 * 4096 + 512) / cache.stat().st_size, span=64)  # past the three file headers
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
            assert store.cache_path == cache
        (warning,) = warnings_about(caplog, str(cache))
        assert "damaged" in warning and "rebuilding" in warning and "nothing recorded is lost" in warning
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
        assert warnings_about(caplog, "cache") == []

    def test_a_cache_from_another_duckdb_major_is_rebuilt_with_one_message(self, tmp_path, caplog):
        """DuckDB 2 writes files DuckDB 1 cannot open: a cache left by the other major (the application's venv and
        the dashboard's can differ) is recognised by the version written beside it and rebuilt, not an error."""
        import duckdb

        calls = cache_store(tmp_path)
        cache = tmp_path / ".cache" / "reader-0.duckdb"
        engine = cache.with_name(cache.name + ".engine")
        assert engine.read_text() == duckdb.__version__
        other = "1.1.3" if duckdb.__version__.startswith("2.") else "2.0.1"
        engine.write_text(other)
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
            assert store.cache_path == cache
        (warning,) = warnings_about(caplog, str(cache))
        assert f"DuckDB {other}" in warning and "rebuilding" in warning
        assert engine.read_text() == duckdb.__version__
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tracer.store"), Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
        assert warnings_about(caplog, "cache") == []

    def test_a_partial_cache_file_is_rebuilt(self, tmp_path, caplog):
        calls = cache_store(tmp_path)
        cache = tmp_path / ".cache" / "reader-0.duckdb"
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
        with Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]
            assert store.cache_path == cache
        with Store(tmp_path, cache=True) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(calls,)]

    def test_a_full_disk_while_building_the_cache_gives_one_message_and_no_partial_file(self, tmp_path):
        """A real full disk: the store is copied onto a small tmpfs (mounted in a private mount namespace, as root),
        a file fills what is left, and a reader opens it with a cache file."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            pytest.skip("needs root and unshare(1) to mount a small tmpfs")
        source = tmp_path / "source"
        calls = cache_store(source)
        shutil.rmtree(source / ".cache")
        disk = tmp_path / "disk"
        disk.mkdir()
        script = textwrap.dedent(
            f"""
            import json, logging, os, shutil, sys
            sys.path.insert(0, {str(REPO)!r})
            records = []
            class Keep(logging.Handler):
                def emit(self, record): records.append(record.getMessage())
            logging.getLogger("tracer.store").addHandler(Keep())
            from tracer.read import Store
            root = shutil.copytree({str(source)!r}, {str(disk / "store")!r})
            with open({str(disk / "filler")!r}, "wb") as f:  # leave about 64 KiB
                st = os.statvfs({str(disk)!r})
                f.write(b"x" * max(st.f_bavail * st.f_frsize - 65536, 0))
            answers = []
            for _ in range(2):
                with Store(root, cache=True) as store:
                    answers.append(store.rows("SELECT count(*) FROM calls")[0][0])
                    answers.append(store.cache_path is None)
            left = sorted(os.listdir(os.path.join(root, ".cache"))) if os.path.isdir(os.path.join(root, ".cache")) else []
            print(json.dumps({{"answers": answers, "warnings": records, "left": left}}))
            """
        )
        size_kib = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) // 1024 + 1024
        command = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size={size_kib}k tmpfs "{disk}" && exec "$0" -c "$1"', sys.executable, script]
        out = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if "mount:" in out.stderr:
            pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.splitlines()[-1])
        assert result["answers"] == [calls, True, calls, True]  # from memory, both times
        full = [w for w in result["warnings"] if "no space left" in w]
        assert len(full) == 2 and all("reading into memory" in w for w in full), result["warnings"]
        assert not [name for name in result["left"] if name.endswith((".duckdb", ".wal"))], result["left"]
        assert len(result["warnings"]) == 2, result["warnings"]
