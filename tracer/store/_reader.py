"""`Store`: read-only SQL over the views `calls`, `attempts`, `events`, while any number of processes write.

Each `Store` keeps its own in-memory DuckDB database holding the rows of the live segments, loaded once per
segment and kept up to date incrementally before every query: new segments are appended; segments merged by
compaction are swapped for their merged file without reloading when the merged file holds exactly the rows
already loaded (row counts match); pruned segments' rows are deleted. Each refresh is one transaction, so a query
never sees a half-applied change. Queries run on DuckDB's native columnar tables rather than re-decoding Parquet
each time (the dashboard runs about twenty queries per page), and they never touch the segment files, so a
compactor or pruner deleting files cannot break a running query.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracer.store._schema import TABLES, duckdb_type
from tracer.store._segments import SegmentCatalog, SegmentInfo, conform, default_root

log = logging.getLogger("tracer.store")

Params = Sequence[Any] | Mapping[str, Any] | None


class Store:
    """Read-only SQL over a store directory (default `$TRACER_STORE`, else `./.tracer`).

    >>> store = Store(".tracer")                                              # doctest: +SKIP
    >>> store.sql("SELECT model, sum(cost_usd) FROM calls GROUP BY model")    # doctest: +SKIP

    Views: `calls`, `attempts`, `events` (columns in DESIGN.md, plus more). Values travel as parameters
    (`?` or `$name`). Unreadable segments are skipped with one warning each. `refresh_s` > 0 lets queries within
    that many seconds of the last refresh skip looking for new segments (the dashboard's many panels).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, refresh_s: float = 0.0) -> None:
        import duckdb

        self.root = Path(path) if path is not None else default_root()
        self.refresh_s = refresh_s
        self._catalog = SegmentCatalog(self.root)
        self._con = duckdb.connect(":memory:")
        self._lock = threading.RLock()
        self._loaded: dict[str, dict[Path, tuple[frozenset[int], int]]] = {name: {} for name in TABLES}
        self._next_seg = 0
        self._last_refresh = -1e18
        for table, schema in TABLES.items():
            columns = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in schema)
            self._con.execute(f"CREATE TABLE _{table} ({columns}, _seg INTEGER)")
            self._con.execute(f"CREATE VIEW {table} AS SELECT * EXCLUDE (_seg) FROM _{table}")

    # -- public -------------------------------------------------------------------------------------------------

    def sql(self, query: str, params: Params = None) -> Any:
        """Run read-only SQL; a pandas DataFrame."""
        cursor = self._cursor()
        try:
            return cursor.execute(query, params).df()
        finally:
            cursor.close()

    def rows(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run read-only SQL; a list of tuples."""
        cursor = self._cursor()
        try:
            return cursor.execute(query, params).fetchall()
        finally:
            cursor.close()

    def arrow(self, query: str, params: Params = None) -> pa.Table:
        """Run read-only SQL; a pyarrow Table."""
        cursor = self._cursor()
        try:
            result = cursor.execute(query, params)
            return result.arrow() if hasattr(result, "arrow") else result.fetch_arrow_table()
        finally:
            cursor.close()

    def refresh(self) -> None:
        """Load segments written since the last refresh (and forget compacted or pruned ones)."""
        with self._lock:
            for _ in range(3):
                if self._refresh_once():
                    break
            self._last_refresh = time.monotonic()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------------------

    def _cursor(self) -> Any:
        if time.monotonic() - self._last_refresh >= self.refresh_s:
            self.refresh()
        with self._lock:
            return self._con.cursor()

    def _refresh_once(self) -> bool:
        """One pass; False when a segment vanished while loading (compacted meanwhile): the caller retries."""
        complete = True
        changes: list[tuple[str, list[int], list[tuple[SegmentInfo, int]]]] = []
        for table in TABLES:
            loaded = self._loaded[table]
            live = {info.path: info for info in self._catalog.live(table)}
            new = [info for path, info in live.items() if path not in loaded]
            gone = {path for path in loaded if path not in live}
            if not new and not gone:
                continue
            to_load: list[SegmentInfo] = []
            for info in new:
                covered = [p for p in (info.path.parent / name for name in info.replaces) if p in loaded]
                if covered and sum(loaded[p][1] for p in covered) == info.rows:
                    segs = frozenset().union(*(loaded[p][0] for p in covered))
                    for p in covered:
                        del loaded[p]
                        gone.discard(p)
                    loaded[info.path] = (segs, info.rows)
                else:
                    to_load.append(info)
            delete = sorted(seg for path in gone for seg in loaded[path][0])
            for path in gone:
                del loaded[path]
            parts: list[tuple[SegmentInfo, int]] = []
            for info in to_load:
                self._next_seg += 1
                parts.append((info, self._next_seg))
            changes.append((table, delete, parts))
        for table, delete, parts in changes:
            frames: list[pa.Table] = []
            for info, seg in parts:
                try:
                    data = conform(pq.read_table(info.path), table)
                except FileNotFoundError:
                    complete = False
                    continue
                except Exception as exc:
                    self._catalog.mark_bad(info.path, str(exc))
                    continue
                frames.append(data.append_column("_seg", pa.array([seg] * data.num_rows, pa.int32())))
                self._loaded[table][info.path] = (frozenset({seg}), info.rows)
            self._apply(table, delete, frames)
        return complete

    def _apply(self, table: str, delete: list[int], frames: list[pa.Table]) -> None:
        if not delete and not frames:
            return
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            if delete:
                con.execute(f"DELETE FROM _{table} WHERE _seg IN (SELECT unnest(?::INTEGER[]))", [delete])
            if frames:
                new = pa.concat_tables(frames)
                con.register("_incoming", new)
                try:
                    con.execute(f"INSERT INTO _{table} SELECT * FROM _incoming")
                finally:
                    con.unregister("_incoming")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
