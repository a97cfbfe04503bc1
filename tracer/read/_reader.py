"""`Store`: read-only SQL over the views `calls`, `attempts`, `events`, while any number of processes write.

Each `Store` keeps a DuckDB database holding the rows of the live segments, loaded once per segment and kept up
to date incrementally before every query: new segments are appended; segments merged by compaction are swapped
for their merged file without reloading when the merged file holds exactly the rows already loaded (row counts
match); pruned segments' rows are deleted. A refresh is one transaction (every table, their per-minute totals and
the list of segments held), so a query never sees a half-applied change and a reader that dies mid-way leaves the
cache as it was. Queries run on DuckDB's native columnar tables rather than re-decoding Parquet each time (the
dashboard runs about twenty queries per page), and they never touch the segment files, so a compactor or pruner
deleting files cannot break a running query.

That database is a cache file in the store, `<root>/.cache/reader-<n>.duckdb`, claimed by one reader at a time
(a lock on `reader-<n>.lock`, released by the kernel if the reader dies; see `tracer.store.locks`) and kept between runs: a
dashboard that restarts finds its rows already loaded, compressed by DuckDB (dictionary-encoded models, statuses
and services: faster aggregates than an uncompressed in-memory table, docs/footprint.md), and loads only what was
written since. It records which segments it holds; a cache from another layout (`CACHE_FORMAT`) is rebuilt. Where
the store cannot be written, all `_MAX_CACHES` are claimed, or `cache=False` / `TRACER_STORE_CACHE=0`, the same
tables live in memory for the reader's lifetime.

Damage is read around: a segment that fails its check (a row segment's CRC) or fails to load is skipped with one
warning naming it; a cache file that DuckDB finds damaged is deleted and rebuilt from the segments, once, and the
query retried; a cache that cannot be written (the disk is full) is deleted, with one warning, and the reader
carries on from memory.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tracer.read import _rollup
from tracer.read._segments import BadSegment, SegmentCatalog, SegmentInfo, check_body, select_sql
from tracer.store import locks
from tracer.store.schema import COLUMN_TYPES, TABLE_NAMES
from tracer.store.segments import default_root

log = logging.getLogger("tracer.store")

Params = Sequence[Any] | Mapping[str, Any] | None

CACHE_DIR = ".cache"
CACHE_FORMAT = 11  # bump when the cache's tables change: an older cache is dropped and rebuilt
_MAX_CACHES = 4  # readers of one store at once that get a cache file; more read from memory
# Below this many rows a store loads in well under a second and reads from memory: a cache file would only add a
# file to the store and an fsync to every refresh.
CACHE_MIN_ROWS = 1_000_000
# Rows per INSERT while loading: a first open of a big store loads in steps of this size, and reports progress
# after each (`progress`). Within one refresh they are still one transaction.
LOAD_STEP_ROWS = 1_000_000

# New rows' per-minute totals are added to the kept ones in one of two ways: up to this many kept rows in the minutes
# they touch (new data in the last minutes, as a live service writes it), those minutes are summed again and written
# anew; beyond (data spread over many minutes: a late arrival, every minute of a week), each new total is added to
# the kept row of the same keys, and the other kept rows are neither read nor written again. Both give the same rows.
REWRITE_ROWS = 200_000

Progress = Callable[[int, int], None]
"""Called while segments load: (rows loaded so far, rows this refresh loads in all)."""


class Store:
    """Read-only SQL over a store directory (default `$TRACER_STORE`, else `./.tracer`).

    >>> store = Store(".tracer")                                              # doctest: +SKIP
    >>> store.sql("SELECT model, sum(cost_usd) FROM calls GROUP BY model")    # doctest: +SKIP

    Views: `calls`, `attempts`, `events` (columns in DESIGN.md, plus more). Values travel as parameters
    (`?` or `$name`). Unreadable segments are skipped with one warning each. `refresh_s` > 0 lets queries within
    that many seconds of the last refresh skip looking for new segments (the dashboard's many panels).
    `cache`: keep the rows in the store's cache file (True), in memory (False), or decide by size (None: a
    cache file from `CACHE_MIN_ROWS` rows, unless `TRACER_STORE_CACHE=0`). Attempts carry their call's
    `call_start_time`, `call_model`, `call_service_name` and `call_tags` (NULL while the call is not stored).
    Rows come back in no particular order unless the query says ORDER BY. `progress(done, total)` is called
    as segments load, in rows (a first open of a big store takes a while: `tracer dashboard` and `tracer report`
    print it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        refresh_s: float = 0.0,
        cache: bool | None = None,
        progress: Progress | None = None,
    ) -> None:
        try:
            import duckdb
        except ImportError as exc:
            raise ImportError(
                "reading a claude-tracer store needs DuckDB: pip install 'claude-tracer[dashboard]'"
            ) from exc

        self.root = Path(path) if path is not None else default_root()
        self.refresh_s = refresh_s
        self._catalog = SegmentCatalog(self.root)
        # Doubles are kept uncompressed: ALP decoding made every percentile over 10M durations slower, and the
        # cache file is the bigger by only 8 bytes a row and column.
        self._con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
        self._con.execute("SET disabled_compression_methods = 'alp,alprd'")
        self._lock = threading.RLock()
        self._loaded: dict[str, dict[Path, tuple[frozenset[int], int]]] = {name: {} for name in TABLE_NAMES}
        self._salvaged: set[Path] = set()  # row segments read row by row (they do not decode as a whole)
        self._next_seg = 0
        self._last_refresh = -1e18
        self._cache = cache
        self._progress = progress
        self._loading = [0, 0]  # rows loaded so far and rows to load, in the refresh under way (for `progress`)
        self.cache_path: Path | None = None
        self._lock_fd: list[int] = []
        self._opened = False
        self._finalizer = weakref.finalize(self, _release, self._con, self._lock_fd)

    def _open(self) -> None:
        """Attach the database the rows live in: the store's cache file for a big store (or `cache=True`),
        memory otherwise. Decided when the first query looks at the store."""
        cache = self._cache
        if cache is None:
            enabled = os.environ.get("TRACER_STORE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")
            cache = enabled and sum(i.rows for t in TABLE_NAMES for i in self._catalog.live(t)) >= CACHE_MIN_ROWS
        path, fd = _claim_cache(self._con, self.root) if cache else (None, None)
        if fd is not None:
            self._lock_fd.append(fd)
        if path is None:
            self._con.execute("ATTACH ':memory:' AS _store")
        self._con.execute("USE _store")
        self.cache_path = path
        self._open_tables()  # on failure, the caller's _recover deletes the cache file and starts afresh
        self._opened = True

    def _open_tables(self) -> None:
        con = self._con
        try:
            kept = con.execute("SELECT format FROM _meta").fetchall() == [(CACHE_FORMAT,)]
        except Exception:
            kept = False
        if not kept:
            for name in ("_meta", "_segments", *(f"_{t}" for t in TABLE_NAMES), *_rollup.TABLES, "_trace_costs"):
                con.execute(f"DROP TABLE IF EXISTS {name}")
            for table, schema in COLUMN_TYPES.items():
                columns = ", ".join(f'"{name}" {kind}' for name, kind in schema) + ", _seg INTEGER"
                if table == "attempts":
                    columns += (
                        ", call_start_time TIMESTAMPTZ, call_model VARCHAR, call_service_name VARCHAR,"
                        " call_tags MAP(VARCHAR, VARCHAR), _call_seg INTEGER"
                    )
                if table in _KEYED:
                    columns += ", trace_key UBIGINT"
                con.execute(f"CREATE TABLE _{table} ({columns})")
            for rollup, (_, _, build) in _rollup.TABLES.items():
                con.execute(f"CREATE TABLE {rollup} AS {build('WHERE false')}")
            con.execute("CREATE TABLE _trace_costs (trace_key UBIGINT, cost_usd DOUBLE)")
            con.execute("CREATE TABLE _segments (tbl VARCHAR, path VARCHAR, segs INTEGER[], rows BIGINT)")
            con.execute("CREATE TABLE _meta (format INTEGER)")
            con.execute("INSERT INTO _meta VALUES (?)", [CACHE_FORMAT])
        for tbl, path, segs, rows in con.execute("SELECT tbl, path, segs, rows FROM _segments").fetchall():
            if tbl in self._loaded:
                self._loaded[tbl][Path(path)] = (frozenset(segs), rows)
                self._next_seg = max(self._next_seg, *segs)
        for table in TABLE_NAMES:
            hidden = "_seg, _call_seg" if table == "attempts" else "_seg"
            con.execute(f"CREATE VIEW memory.main.{table} AS SELECT * EXCLUDE ({hidden}) FROM _store.main._{table}")
        for rollup, (view, _, _) in _rollup.TABLES.items():
            con.execute(f"CREATE VIEW memory.main.{view} AS SELECT * FROM _store.main.{rollup}")
        con.execute("CREATE VIEW memory.main.trace_costs AS SELECT * FROM _store.main._trace_costs")
        for view, body in _TRACE_VIEWS.items():
            con.execute(f"CREATE VIEW memory.main.{view} AS {body}")

    # -- public -------------------------------------------------------------------------------------------------

    def sql(self, query: str, params: Params = None) -> Any:
        """Run read-only SQL; a pandas DataFrame."""
        return self._query(query, params, lambda result: result.df())

    def rows(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run read-only SQL; a list of tuples."""
        return self._query(query, params, lambda result: result.fetchall())

    def arrow(self, query: str, params: Params = None) -> Any:
        """Run read-only SQL; a pyarrow Table."""

        # A relation, not the DB-API result of `execute`: DuckDB 2 deprecates Arrow from the latter (an extra copy).
        # `to_arrow_table` is DuckDB 1.4's and 2's name, `arrow` the older one's.
        def fetch(cursor: Any) -> Any:
            relation = cursor.sql(query, params=params)
            return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()

        return self._query(query, params, fetch, relation=True)

    def refresh(self) -> None:
        """Load segments written since the last refresh (and forget compacted or pruned ones)."""
        with self._lock:
            for attempt in range(2):
                try:
                    if not self._opened:
                        self._open()
                    if self._progress is not None:
                        self._loading = [0, self.pending_rows()]
                    for _ in range(3):
                        if self._refresh_once():
                            break
                    break
                except Exception as exc:
                    if attempt or not self._recover(exc):
                        raise
            self._last_refresh = time.monotonic()

    def pending_rows(self) -> int:
        """Rows of the live segments this reader has not loaded yet (from their footers and headers: nothing is
        read). The first query loads them; a segment compaction merged from loaded ones costs nothing."""
        with self._lock:
            if not self._opened:
                self._open()
        return sum(
            info.rows
            for table in TABLE_NAMES
            for info in self._catalog.live(table)
            if info.path not in self._loaded[table] and not any(info.path.parent / n in self._loaded[table] for n in info.replaces)
        )

    def keeps_a_cache_file(self) -> bool:
        """True when this reader keeps its rows in the store's cache file (decided at the first query, by size),
        False when in memory."""
        with self._lock:
            if not self._opened:
                self._open()
            return self.cache_path is not None

    def close(self) -> None:
        self._finalizer()

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

    def _query(self, query: str, params: Params, fetch: Any, relation: bool = False) -> Any:
        for attempt in range(2):
            cursor = self._cursor()
            try:
                return fetch(cursor) if relation else fetch(cursor.execute(query, params))
            except Exception as exc:
                if attempt or not self._recover(exc):
                    raise
            finally:
                with contextlib.suppress(Exception):  # its connection may be gone (recovered from)
                    cursor.close()
        raise AssertionError("unreachable")

    def _recover(self, exc: BaseException) -> bool:
        """After a failure of the cache file (damaged pages, a full disk): delete it and start afresh, from a new
        cache file when it was damaged, from memory when the disk is full. False when `exc` is not about the cache
        file: the caller raises it."""
        import duckdb

        path = self.cache_path
        text = str(exc)
        if path is None or not (
            isinstance(exc, duckdb.IOException | duckdb.FatalException)
            or (isinstance(exc, duckdb.Error | OSError) and any(sign in text for sign in _CACHE_TROUBLE))
        ):
            return False
        full = "No space left" in text or "disk is full" in text or getattr(exc, "errno", None) == errno.ENOSPC
        if full:
            log.warning(
                "tracer store: no space left on the device for the reader cache %s; deleted it, reading into memory "
                "(free some space, or set TRACER_STORE_CACHE=0)",
                path,
            )
        else:
            log.warning(
                "tracer store: the reader cache %s is damaged (%s); rebuilding it from the store's segments (nothing "
                "recorded is lost; a big store takes a while)", path, text.splitlines()[0] if text else exc,
            )
        with self._lock:
            self._reset(delete_cache=True)
        if full:
            self._cache = False
        return True

    def _reset(self, *, delete_cache: bool) -> None:
        """A new, empty connection, as before the first query (the old one may be unusable after an I/O error)."""
        import duckdb

        path = self.cache_path
        self._finalizer.detach()
        with contextlib.suppress(Exception):
            self._con.close()
        if delete_cache and path is not None:
            for stale in (path, path.with_name(path.name + ".wal")):
                with contextlib.suppress(OSError):
                    stale.unlink()
        while self._lock_fd:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd.pop())
        self._con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
        self._con.execute("SET disabled_compression_methods = 'alp,alprd'")
        self._loaded = {name: {} for name in TABLE_NAMES}
        self._next_seg = 0
        self._opened = False
        self._last_refresh = -1e18  # the next query loads afresh, whatever refresh_s says
        self.cache_path = None
        self._finalizer = weakref.finalize(self, _release, self._con, self._lock_fd)

    def _refresh_once(self) -> bool:
        """One pass; False when a segment vanished while loading (compacted meanwhile): the caller retries. One
        transaction for every table (one commit: each costs a write of the log and its sync); should any of it fail
        (a damaged segment), it is rolled back and done again a transaction per table, finding the culprit."""
        loaded, next_seg = {table: dict(paths) for table, paths in self._loaded.items()}, self._next_seg
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            complete = self._refresh_tables(whole=True)
            con.execute("COMMIT")
            return complete
        except BaseException as exc:
            with contextlib.suppress(Exception):  # a failed COMMIT (a full disk) has already ended it
                con.execute("ROLLBACK")
            self._loaded, self._next_seg = loaded, next_seg
            if not isinstance(exc, Exception):
                raise
            log.debug("tracer store: refreshing in one transaction failed; a transaction per table", exc_info=True)
        return self._refresh_tables(whole=False)

    def _refresh_tables(self, *, whole: bool) -> bool:
        """Load and forget segments table by table: in the transaction under way (`whole`), or in one per table."""
        complete = True
        new_calls: list[int] = []
        deleted_calls: list[int] = []
        for table in TABLE_NAMES:  # calls before attempts: new attempts are joined to the calls already loaded
            loaded = self._loaded[table]
            live = {info.path: info for info in self._catalog.live(table)}
            new = [info for path, info in live.items() if path not in loaded]
            gone = {path for path in loaded if path not in live}
            if not new and not gone and not (table == "attempts" and (new_calls or deleted_calls)):
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
                    try:
                        check_body(info)
                    except FileNotFoundError:
                        complete = False
                        continue
                    except BadSegment as exc:
                        self._catalog.mark_bad(info.path, str(exc))
                        continue
                    to_load.append(info)
            delete = sorted(seg for path in gone for seg in loaded[path][0])
            for path in gone:
                del loaded[path]
            parts: list[tuple[SegmentInfo, int]] = []
            for info in to_load:
                self._next_seg += 1
                parts.append((info, self._next_seg))
            if whole:
                self._transaction(table, delete, parts, new_calls, deleted_calls, own=False)
                loaded_parts, ok = parts, True
            else:
                loaded_parts, ok = self._apply(table, delete, parts, new_calls, deleted_calls)
            complete = complete and ok
            for info, seg in loaded_parts:
                loaded[info.path] = (frozenset({seg}), info.rows)
            if table == "calls":
                new_calls = [seg for _, seg in loaded_parts]
                deleted_calls = delete
        return complete

    def _apply(
        self,
        table: str,
        delete: list[int],
        parts: list[tuple[SegmentInfo, int]],
        new_calls: list[int],
        deleted_calls: list[int],
    ) -> tuple[list[tuple[SegmentInfo, int]], bool]:
        """Delete and load segments of one table in one transaction: the parts loaded, and False when a segment
        vanished meanwhile. A group that fails as a whole is loaded one segment at a time, so that one bad
        segment is found, skipped and warned about, and the rest still loads."""
        try:
            self._transaction(table, delete, parts, new_calls, deleted_calls)
            return parts, True
        except Exception:
            log.debug("tracer store: loading %d segments of %s at once failed; one by one", len(parts), table, exc_info=True)
        complete = True
        good: list[tuple[SegmentInfo, int]] = []
        for info, seg in parts:
            try:
                self._probe(info, table)
            except FileNotFoundError:
                complete = False
                continue
            except Exception as exc:
                if info.format != "rows":
                    self._catalog.mark_bad(info.path, str(exc))
                    continue
                # A row segment that does not decode as a whole (a value out of range, written before schema 4):
                # read row by row, keeping every row that decodes.
                try:
                    kept = self._probe(info, table, salvage=True)
                except FileNotFoundError:
                    complete = False
                    continue
                except Exception as again:
                    self._catalog.mark_bad(info.path, str(again))
                    continue
                self._salvaged.add(info.path)
                _warn_salvaged(info, kept, str(exc))
            good.append((info, seg))
        self._transaction(table, delete, good, new_calls, deleted_calls)
        return good, complete

    def _loaded_rows(self, rows: int) -> None:
        """Tell `progress` that `rows` more rows loaded. Never raises: a failing callback is dropped, with one
        warning, and the load carries on."""
        if self._progress is None:
            return
        self._loading[0] += rows
        try:
            self._progress(self._loading[0], max(self._loading))
        except Exception:
            log.warning("tracer store: the progress callback failed; no more progress is reported", exc_info=True)
            self._progress = None

    def _probe(self, info: SegmentInfo, table: str, *, salvage: bool = False) -> int:
        """Load one segment into a scratch table and drop it: its row count, or the error that loading it raises."""
        if not info.path.exists():
            raise FileNotFoundError(info.path)
        # Materialised, not counted: a count is answered from a Parquet footer without decoding a damaged page.
        try:
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE _probe AS {_select(table, [info], seg_map=False, salvage=salvage)}")
            counted = self._con.execute("SELECT count(*) FROM _probe").fetchone()
            return int(counted[0]) if counted else 0
        finally:
            with contextlib.suppress(Exception):
                self._con.execute("DROP TABLE IF EXISTS _probe")

    def _transaction(
        self,
        table: str,
        delete: list[int],
        parts: list[tuple[SegmentInfo, int]],
        new_calls: list[int],
        deleted_calls: list[int],
        *,
        own: bool = True,
    ) -> None:
        """Apply one table's changes: in a transaction of its own (`own`), or in the one under way."""
        con = self._con
        if own:
            con.execute("BEGIN TRANSACTION")
        try:
            # The minutes whose rows change, before and after: their per-minute totals are recomputed at the end.
            touched: set[int | None] = set()
            if table in ("calls", "attempts"):
                touched |= _minutes(con, table, "_seg", delete)
                if table == "attempts":
                    touched |= _minutes(con, table, "_call_seg", deleted_calls)
            if table == "calls" and delete:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE _retotal AS SELECT DISTINCT trace_key FROM _calls "
                    "WHERE _seg IN (SELECT unnest(?::INTEGER[])) AND trace_id IS NOT NULL",
                    [delete],
                )
            if delete:
                con.execute(f"DELETE FROM _{table} WHERE _seg IN (SELECT unnest(?::INTEGER[]))", [delete])
            if table == "calls" and delete:
                _retotal_traces(con)
            if table == "attempts" and deleted_calls:
                # Attempts whose call was pruned no longer have one (as an inner join to calls would say).
                con.execute(
                    f"UPDATE _attempts SET {', '.join(f'{c} = NULL' for c in _CALL_COLUMNS)}, _call_seg = NULL "
                    "WHERE _call_seg IN (SELECT unnest(?::INTEGER[]))",
                    [deleted_calls],
                )
            if table == "attempts" and new_calls:
                # Attempts loaded before their call was: give them the call's columns now.
                con.execute(
                    f"""UPDATE _attempts SET {', '.join(f'{c} = c.{c[5:]}' for c in _CALL_COLUMNS)}, _call_seg = c._seg
                        FROM _calls c
                        WHERE _attempts._call_seg IS NULL AND c._seg IN (SELECT unnest(?::INTEGER[]))
                          AND _attempts.call_span_id = c.span_id AND _attempts.trace_id = c.trace_id""",
                    [new_calls],
                )
            for group in _by_columns(parts, self._salvaged):
                salvage = group[0][0].path in self._salvaged
                for step in _steps(group):
                    con.execute("CREATE OR REPLACE TEMP TABLE _segmap (filename VARCHAR, seg INTEGER)")
                    con.executemany("INSERT INTO _segmap VALUES (?, ?)", [[str(info.path), seg] for info, seg in step])
                    select = _select(table, [info for info, _ in step], seg_map=True, salvage=salvage)
                    if table == "attempts":
                        _insert_attempts(con, select, [seg for _, seg in step], new_calls)
                    else:
                        con.execute(f"INSERT INTO _{table} {select}")
                    self._loaded_rows(sum(info.rows for info, _ in step))
            if table == "calls" and parts:
                _add_trace_costs(con, [seg for _, seg in parts])
            if table in ("calls", "attempts") and touched:
                # Rows left the totals: the minutes they were in, and those of the new rows, are summed again.
                touched |= _minutes(con, table, "_seg", [seg for _, seg in parts])
                if table == "attempts":
                    touched |= _minutes(con, table, "_call_seg", new_calls)
                for rollup, (_, source, build) in _rollup.TABLES.items():
                    if source == table:
                        _recompute(con, rollup, build, "a" if table == "attempts" else "c", touched)
            elif table in ("calls", "attempts"):
                # Rows only arrived: their totals are added to their minutes' (a new segment costs its own rows).
                # Attempts loaded before whose call came now count from now on (none when no attempts were loaded).
                arrived = new_calls if table == "attempts" and self._loaded["attempts"] else []
                _add_to_rollups(con, table, [seg for _, seg in parts], arrived)
            state = {**self._loaded[table], **{info.path: (frozenset({seg}), info.rows) for info, seg in parts}}
            con.execute("DELETE FROM _segments WHERE tbl = ?", [table])
            if state:
                paths = list(state)
                con.execute(
                    "INSERT INTO _segments SELECT ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[][]), unnest(?::BIGINT[])",
                    [table, [str(p) for p in paths], [sorted(state[p][0]) for p in paths], [state[p][1] for p in paths]],
                )
            if own:
                con.execute("COMMIT")
        except BaseException:
            if own:
                with contextlib.suppress(Exception):  # a failed COMMIT (a full disk) has already ended it
                    con.execute("ROLLBACK")
            raise


# Agent runs, over the four tables. `trace_spans`: every stored span of a trace as one tree (calls,
# their attempts, and the other spans: the application's, the SDK's tool-runner and tool spans), with one set of
# columns; `type` says which table a row came from (and `tool`/`agent` for the SDK's tool and tool-runner spans).
# `traces`: one row per trace with a call. `conversations`: one row per call with a conversation id, its turn number
# and whether it wrote a cache prefix again that the turn before had already written or read (a cache miss).
_TRACE_VIEWS = {
    "trace_spans": """
        SELECT trace_id, span_id, parent_span_id, 'call' AS type, name, start_time, duration_ms, status, error_type,
               operation, model, http_status, attempts, input_tokens, cache_read_tokens, cache_write_tokens,
               output_tokens, thinking_tokens, cost_usd, tool_names, tool_use_count, NULL AS tool_name,
               conversation_id, service_name, content, trace_key
          FROM calls
        UNION ALL BY NAME
        SELECT trace_id, span_id, call_span_id AS parent_span_id, 'attempt' AS type,
               'attempt ' || attempt AS name, start_time, duration_ms,
               CASE WHEN outcome = 'ok' THEN 'ok' ELSE 'error' END AS status,
               error_type, outcome, NULL AS operation, model, http_status, service_name, trace_key
          FROM attempts
        UNION ALL BY NAME
        SELECT trace_id, span_id, parent_span_id,
               CASE operation WHEN 'execute_tool' THEN 'tool' WHEN 'invoke_agent' THEN 'agent' ELSE 'span' END AS type,
               name, start_time, duration_ms, status, error_type, operation, tool_name, conversation_id,
               service_name, content, trace_key
          FROM spans""",
    "traces": "",  # traces_sql(), below
    "conversations": "",  # conversations_sql(), below
}



def traces_sql(picked: str = "") -> str:
    """The `traces` view's query: per trace with a call, its root span's name, start, duration, calls, attempts,
    tool executions, errors, tokens by kind, exact cost. `picked`, a condition on `trace_key` and `trace_id` (such
    as `trace_key = hash(?)`), limits the roll-up to those traces before anything is aggregated (used twice: give
    its parameters twice)."""
    return f"""
        WITH c AS (
            SELECT trace_id, count(*) AS calls, sum(attempts) AS attempts,
                   count(*) FILTER (WHERE status = 'error') AS call_errors,
                   sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens,
                   sum(cache_write_tokens) AS cache_write_tokens, sum(output_tokens) AS output_tokens,
                   sum(thinking_tokens) AS thinking_tokens, sum(cost_usd) AS cost_usd,
                   count(*) FILTER (WHERE unpriced) AS unpriced_calls,
                   min(start_time) AS calls_start,
                   max(start_time + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT))) AS calls_end,
                   arg_min(name, start_time) AS first_call, any_value(conversation_id) AS conversation_id,
                   any_value(service_name) AS service_name, string_agg(DISTINCT model, ',') AS models
              FROM {_rows_of("calls", picked)} trace_id IS NOT NULL GROUP BY trace_id),
        s AS (
            SELECT trace_id, count(*) FILTER (WHERE operation = 'execute_tool') AS tool_executions,
                   count(*) FILTER (WHERE status = 'error') AS span_errors,
                   coalesce(arg_min(name, start_time) FILTER (WHERE parent_span_id IS NULL),
                            arg_min(name, start_time)) AS root_name,
                   min(start_time) AS spans_start,
                   max(start_time + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT))) AS spans_end
              FROM {_rows_of("spans", picked)} trace_id IS NOT NULL GROUP BY trace_id)
        SELECT c.trace_id, coalesce(s.root_name, c.first_call) AS root_name,
               least(c.calls_start, coalesce(s.spans_start, c.calls_start)) AS start_time,
               (epoch_us(greatest(c.calls_end, coalesce(s.spans_end, c.calls_end)))
                 - epoch_us(least(c.calls_start, coalesce(s.spans_start, c.calls_start)))) / 1000.0 AS duration_ms,
               c.calls, c.attempts, coalesce(s.tool_executions, 0) AS tool_executions,
               c.call_errors + coalesce(s.span_errors, 0) AS errors, c.input_tokens, c.cache_read_tokens,
               c.cache_write_tokens, c.output_tokens, c.thinking_tokens, c.cost_usd, c.unpriced_calls,
               c.conversation_id, c.service_name, c.models
          FROM c LEFT JOIN s USING (trace_id)"""


def conversations_sql(picked: str = "") -> str:
    """The `conversations` view's query: one row per turn (a `chat` call with a conversation id), numbered, with
    `cache_rewrite`: the turn wrote a cache prefix while reading less than the turn before had cached (read +
    written), a prefix that changed or expired. `picked`, a condition on `conversation_id`, limits it to those
    conversations before the turns are numbered."""
    return f"""
        SELECT conversation_id, row_number() OVER w AS turn, trace_id, span_id, start_time, duration_ms, model,
               status, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd, ttft_ms,
               tool_names,
               row_number() OVER w > 1 AND coalesce(cache_write_tokens, 0) > 0
                 AND coalesce(cache_read_tokens, 0)
                     < coalesce(lag(coalesce(cache_read_tokens, 0) + coalesce(cache_write_tokens, 0)) OVER w, 0)
                 AS cache_rewrite
          FROM {_rows_of("calls", picked)} conversation_id IS NOT NULL AND operation = 'chat'
        WINDOW w AS (PARTITION BY conversation_id ORDER BY start_time, span_id)"""


def _rows_of(table: str, picked: str) -> str:
    """SQL: the rows of the view `table` ("calls", "spans"), up to an open WHERE clause: with `picked` (a condition on
    its columns), only those rows, found by their row ids first and then fetched. A condition on one column scans that
    column alone and reads the others of the few rows it picks; as a plain WHERE beside an aggregate, DuckDB reads
    every column the aggregate needs for every row before filtering."""
    if not picked:
        return f"{table} WHERE"
    rows = f"_store.main._{table}"  # the view's table (the views hide only the reader's own columns)
    # The row ids as one list, computed before the outer scan starts: joined to a subquery instead, the scan reads
    # every row's columns and filters them afterwards.
    return f"{rows} WHERE rowid IN (SELECT unnest((SELECT list(rowid) FROM {rows} WHERE {picked}))) AND"


_TRACE_VIEWS["traces"] = traces_sql()
_TRACE_VIEWS["conversations"] = conversations_sql()

# What DuckDB says when the cache file, not the query, is the trouble: damaged blocks, a full disk, a database it
# invalidated after an I/O error.
_CACHE_TROUBLE = ("Corrupt database", "checksum", "No space left", "Could not write", "Could not read", "invalidated")

# The call's columns each attempt row carries (filled by the reader when both are loaded), so the dashboard's
# attempt queries filter and group by the call without joining 11M attempts to 10M calls on two string ids.
_CALL_COLUMNS = ("call_start_time", "call_model", "call_service_name", "call_tags")


def _minutes(con: Any, table: str, column: str, segs: Sequence[int]) -> set[int | None]:
    """The minutes (as `_rollup.minute_of`) of the rows of `_table` whose `column` is one of `segs`."""
    if not segs:
        return set()
    found = con.execute(
        f"SELECT DISTINCT {_rollup.minute_of('start_time')} FROM _{table} WHERE {column} IN (SELECT unnest(?::INTEGER[]))",
        [list(segs)],
    ).fetchall()
    return {m for (m,) in found}


def _recompute(con: Any, rollup: str, build: Any, alias: str, touched: set[int | None]) -> None:
    """Replace the rows of `rollup` for the `touched` minutes with totals computed afresh from the rows."""
    if not touched:
        return
    minutes = sorted(m for m in touched if m is not None)
    null = None in touched
    con.execute(
        f"DELETE FROM {rollup} WHERE t IN (SELECT unnest(?::BIGINT[])){' OR t IS NULL' if null else ''}", [minutes]
    )
    clauses: list[str] = []
    params: list[Any] = []
    if minutes:
        lo, hi = minutes[0], minutes[-1] + _rollup.MINUTE_US
        # The time range lets DuckDB skip the row groups outside it; the list only when some minutes between are
        # not touched (a first load touches all of them).
        clause = f"({alias}.start_time >= make_timestamptz(?) AND {alias}.start_time < make_timestamptz(?)"
        params += [lo, hi]
        if len(minutes) < (hi - lo) // _rollup.MINUTE_US:
            clause += f" AND {_rollup.minute_of(alias + '.start_time')} IN (SELECT unnest(?::BIGINT[]))"
            params.append(minutes)
        clauses.append(clause + ")")
    if null:
        clauses.append(f"{alias}.start_time IS NULL")
    con.execute(f"INSERT INTO {rollup} {build('WHERE (' + ' OR '.join(clauses) + ')')}", params)


# `trace_costs` (`_trace_costs`): each trace's cost (a double, NULL when none of its calls is priced), one row per
# trace with a call, by `trace_key`: the dearest runs of the whole store are a top-N over it instead of a sum per
# trace over every call. Kept in step with `_calls` in the same transaction: new calls' sums are added to their
# traces (sums add across segments); a trace that lost calls (a prune, a compaction that changed rows) is summed
# again from the calls it still has.
_ADD = _rollup.added("sum", "cost_usd")  # both's sum, the one known, or NULL for neither


def _trace_sums(where: str) -> str:
    """SQL: the cost of each trace with a call among the `_calls` rows that `where` (a condition) picks."""
    return (
        f"SELECT trace_key, sum(cost_usd::DOUBLE) AS cost_usd FROM _calls WHERE ({where}) AND trace_id IS NOT NULL "
        "GROUP BY trace_key"
    )


def _add_trace_costs(con: Any, segs: Sequence[int]) -> None:
    """Add the calls of segments `segs` (just loaded) to their traces' costs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new_costs AS {_trace_sums('_seg IN (SELECT unnest(?::INTEGER[]))')}", [list(segs)])
    # One join of the new sums to every trace's where DuckDB has MERGE (an UPDATE and an INSERT of those left are two).
    _rollup.add_rows(con, "_trace_costs", "_new_costs", "r.trace_key = m.trace_key", f"cost_usd = {_ADD}")
    con.execute("DROP TABLE _new_costs")


def _retotal_traces(con: Any) -> None:
    """Sum again, from the calls left, the costs of the traces in `_retotal` (those that just lost calls)."""
    con.execute("DELETE FROM _trace_costs WHERE trace_key IN (SELECT trace_key FROM _retotal)")
    con.execute(f"INSERT INTO _trace_costs {_trace_sums('trace_key IN (SELECT trace_key FROM _retotal)')}")
    con.execute("DROP TABLE _retotal")


def _add_to_rollups(con: Any, table: str, segs: Sequence[int], call_segs: Sequence[int]) -> None:
    """Add to the per-minute totals those of the rows of segments `segs` of `table` (just loaded) and, for attempts,
    of the attempts whose call arrived in calls segments `call_segs` (they count from now on)."""
    if not segs and not call_segs:
        return
    alias = "a" if table == "attempts" else "c"
    # Each its own WHERE (an OR of the two would scan every row; each alone skips the row groups loaded before).
    parts: list[tuple[str, list[Any]]] = [(f"WHERE {alias}._seg IN (SELECT unnest(?::INTEGER[]))", [list(segs)])]
    if table == "attempts" and call_segs:
        parts.append(
            (
                "WHERE a._call_seg IN (SELECT unnest(?::INTEGER[])) AND a._seg NOT IN (SELECT unnest(?::INTEGER[]))",
                [list(call_segs), list(segs)],
            )
        )
    minute = "coalesce(t, 1)"  # rows without a start time have no minute (NULL); no minute starts at 1 us
    for rollup, (_, source, build) in _rollup.TABLES.items():
        if source != table:
            continue
        if len(parts) == 1 and not con.execute(f"SELECT 1 FROM {rollup} LIMIT 1").fetchall():
            # Nothing kept (a first open): the new totals are the table.
            con.execute(f"INSERT INTO {rollup} BY NAME {build(parts[0][0])}", parts[0][1])
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE _part AS {build(parts[0][0])}", parts[0][1])
        for where, params in parts[1:]:
            con.execute(f"INSERT INTO _part {build(where)}", params)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _minutes AS SELECT DISTINCT {minute} AS m FROM _part")
        counted = con.execute(f"SELECT count(*) FROM {rollup} WHERE {minute} IN (SELECT m FROM _minutes)").fetchone()
        if counted and counted[0] <= REWRITE_ROWS:
            # The minutes' kept rows and the new ones summed, and written again in their place.
            merged = f"(SELECT * FROM {rollup} WHERE {minute} IN (SELECT m FROM _minutes) UNION ALL BY NAME SELECT * FROM _part)"
            con.execute(f"CREATE OR REPLACE TEMP TABLE _merged AS {_rollup.merge_sql(rollup, merged)}")
            con.execute(f"DELETE FROM {rollup} WHERE {minute} IN (SELECT m FROM _minutes)")
            con.execute(f"INSERT INTO {rollup} BY NAME SELECT * FROM _merged")
        else:
            # One row per keys (the two parts may share some), each added to the kept row of the same keys or
            # kept as a new one: only the rows whose keys got new rows change.
            con.execute(f"CREATE OR REPLACE TEMP TABLE _merged AS {_rollup.merge_sql(rollup, '_part')}")
            _rollup.merge_into(con, rollup, "_merged")
        for temp in ("_part", "_minutes", "_merged"):
            con.execute(f"DROP TABLE {temp}")


def _steps(group: list[tuple[SegmentInfo, int]]) -> list[list[tuple[SegmentInfo, int]]]:
    """`group` in runs of whole segments of about `LOAD_STEP_ROWS` rows each (a segment bigger than that is a
    run of its own)."""
    steps: list[list[tuple[SegmentInfo, int]]] = [[]]
    rows = 0
    for part in group:
        if steps[-1] and rows + part[0].rows > LOAD_STEP_ROWS:
            steps.append([])
            rows = 0
        steps[-1].append(part)
        rows += part[0].rows
    return steps


def prepare(path: str | os.PathLike[str] | None = None, progress: Progress | None = None) -> int:
    """Bring the store's cache file up to date, so that the next reader (a dashboard's) opens it at once:
    the rows loaded (0 when nothing was new, or the store is small enough to read from memory). Takes a while
    on the first open of a big store; `progress(done, total)` hears how far it is."""
    store = Store(path, progress=progress)
    try:
        if not store.keeps_a_cache_file():
            return 0
        pending = store.pending_rows()
        store.refresh()
        return pending
    finally:
        store.close()


def _by_columns(parts: list[tuple[SegmentInfo, int]], salvaged: set[Path]) -> list[list[tuple[SegmentInfo, int]]]:
    """`parts` in groups that one SELECT reads: one format, the same columns, and all read row by row or none."""
    groups: dict[tuple[str, tuple[str, ...], bool], list[tuple[SegmentInfo, int]]] = {}
    for info, seg in parts:
        groups.setdefault((info.format, info.columns, info.path in salvaged), []).append((info, seg))
    return list(groups.values())


_warned_salvaged: set[str] = set()  # per process: each salvaged segment is warned about once, however many readers


def _warn_salvaged(info: SegmentInfo, kept: int, reason: str) -> None:
    key = str(info.path)
    if key in _warned_salvaged:
        return
    _warned_salvaged.add(key)
    log.warning(
        "tracer store: segment %s does not decode as a whole (%s); read row by row: %d of its %d rows kept, %d left "
        "out (values that do not fit their column read as NULL, named in damaged_fields); `tracer store repair` "
        "rewrites it",
        key, reason.splitlines()[0] if reason else "?", kept, info.rows, max(info.rows - kept, 0),
    )  # fmt: skip


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select(table: str, infos: list[SegmentInfo], *, seg_map: bool, salvage: bool = False) -> str:
    """SELECT the current columns of `table` from segments of one format that all have the same columns (see
    `select_sql`, also for `salvage`); with `seg_map`, each row's segment number and the reader's own columns too."""
    exprs, source = select_sql(table, infos, filename=seg_map, salvage=salvage)
    select = ", ".join(exprs)
    if not seg_map:
        return f"SELECT {select} FROM {source}"
    source += " JOIN _segmap m ON p.filename = m.filename"
    names = [c for c, _ in COLUMN_TYPES[table]]
    key = f", hash({exprs[names.index('trace_id')]}) AS trace_key" if table in _KEYED else ""
    if table != "attempts":
        return f"SELECT {select}, m.seg{key} FROM {source}"
    # Named, for `_insert_attempts` to add the call's columns by name.
    named = ", ".join(f'{expr} AS "{name}"' for expr, name in zip(exprs, names, strict=True))
    return f"SELECT {named}, m.seg AS _seg{key} FROM {source}"


def _insert_attempts(con: Any, select: str, segs: Sequence[int], call_segs: Sequence[int]) -> None:
    """Insert the attempts of segments `segs` that `select` reads (`_select`'s) into `_attempts` with their call's
    columns, as a LEFT JOIN to all of `_calls` would give them, reading only the calls that can match: those of
    calls segments `call_segs` (loaded in this refresh: an application writes a call and its attempts at about the
    same time) as the attempts are read, and then, for those left without a call, the calls of their traces (found
    by `trace_key`, one integer column, and fetched by row id). A join to every call would read the ids, start,
    model, service and tags of all of them for a few new attempts."""
    # A refresh's segment numbers are above all earlier ones, and rows are stored in the order they loaded: as a
    # range of constants, DuckDB skips the row groups loaded before without reading them.
    new_calls = f"_seg BETWEEN {min(call_segs)} AND {max(call_segs)}" if call_segs else "false"
    con.execute(
        f"""INSERT INTO _attempts BY NAME
            SELECT n.*, c.start_time AS call_start_time, c.model AS call_model, c.service_name AS call_service_name,
                   c.tags AS call_tags, c._seg AS _call_seg
            FROM ({select}) n LEFT JOIN (
                SELECT span_id, trace_id, start_time, model, service_name, tags, _seg FROM _calls WHERE {new_calls}
            ) c ON n.call_span_id = c.span_id AND n.trace_id = c.trace_id"""
    )
    def left(a: str) -> str:  # this step's attempts without a call that may have one
        return (
            f"{a}._seg BETWEEN {min(segs)} AND {max(segs)} AND {a}._call_seg IS NULL"
            f" AND {a}.call_span_id IS NOT NULL AND {a}.trace_id IS NOT NULL"
        )

    con.execute(f"CREATE OR REPLACE TEMP TABLE _keys AS SELECT DISTINCT trace_key FROM _attempts a WHERE {left('a')}")
    counted = con.execute("SELECT count(*) FROM _keys").fetchone()
    if counted and counted[0]:
        # Row ids as a list computed before the join (see `_rows_of`): a join to a subquery reads every row's
        # columns before filtering.
        con.execute(
            f"""UPDATE _attempts SET {", ".join(f"{c} = c.{c[5:]}" for c in _CALL_COLUMNS)}, _call_seg = c._seg
                FROM (SELECT span_id, trace_id, start_time, model, service_name, tags, _seg FROM _calls
                      WHERE rowid IN (SELECT unnest((SELECT list(rowid) FROM _calls WHERE trace_key IN (SELECT trace_key FROM _keys))))
                ) c
                WHERE {left("_attempts")}
                  AND _attempts.call_span_id = c.span_id AND _attempts.trace_id = c.trace_id"""
        )
    con.execute("DROP TABLE _keys")


# Tables whose rows carry `trace_key`, DuckDB's 64-bit hash of their trace id, computed as they load: one run's rows
# are found by comparing integers, not 32-character strings, over 10M calls, 11M attempts and 7M spans (the queries
# compare the trace id too, so a hash collision cannot mix two runs).
_KEYED = ("calls", "attempts", "spans")


def _claim_cache(con: Any, root: Path) -> tuple[Path | None, int | None]:
    """Attach the first free cache file of the store as `_store`: (its path, the lock's fd), or (None, None)."""
    if not root.is_dir() or not os.access(root, os.W_OK):
        return None, None
    directory = root / CACHE_DIR
    try:
        directory.mkdir(exist_ok=True)
    except OSError:
        return None, None
    for n in range(_MAX_CACHES):
        try:
            fd = os.open(directory / f"reader-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None, None
        try:
            held = locks.lock(fd, blocking=False)
        except OSError:
            held = False
        if not held:
            os.close(fd)
            continue
        path = directory / f"reader-{n}.duckdb"
        _forget_other_engines(path)
        for attempt in range(2):
            try:
                con.execute(f"ATTACH {_quote(str(path))} AS _store")
                try:
                    current = con.execute("SELECT format FROM _store.main._meta").fetchall() == [(CACHE_FORMAT,)]
                except Exception:
                    current = not con.execute("SELECT 1 FROM duckdb_tables() WHERE database_name = '_store'").fetchall()
                if current:
                    _engine_file(path).write_text(_engine())
                    return path, fd
                # Another layout: start from an empty file (dropping the tables would keep the file's size).
                con.execute("DETACH _store")
                raise _StaleCache(path)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    con.execute("DETACH _store")
                if attempt:
                    log.warning("tracer store: cannot use the reader cache %s (%s); reading into memory", path, exc)
                    break
                # A damaged cache (a disk that filled up, a file from another DuckDB version): start it afresh.
                if isinstance(exc, _StaleCache):
                    log.info("tracer store: the reader cache %s has another layout; rebuilding it", path)
                else:
                    log.warning(
                        "tracer store: the reader cache %s is damaged or cannot be opened (%s); rebuilding it from the "
                        "store's segments (nothing recorded is lost; a big store takes a while)", path, exc,
                    )
                    log.debug("tracer store: the reader cache's error", exc_info=True)
                for stale in (path, path.with_name(path.name + ".wal")):
                    with contextlib.suppress(OSError):
                        stale.unlink()
        os.close(fd)
        return None, None
    return None, None


def _engine() -> str:
    import duckdb

    return str(duckdb.__version__)


def _engine_file(cache: Path) -> Path:
    """Beside each cache file, the DuckDB version that wrote it: DuckDB 2 writes files DuckDB 1 cannot open, and a
    file DuckDB 2 opened from 1 may be upgraded for good, so a cache is never shared across majors."""
    return cache.with_name(cache.name + ".engine")


def _forget_other_engines(cache: Path) -> None:
    """Delete a cache written by another DuckDB major (an application's venv and the dashboard's can differ), with
    one message: it is rebuilt from the segments, which any version reads. Never raises."""
    try:
        written_by = _engine_file(cache).read_text().strip()
    except OSError:
        return
    if written_by.split(".")[0] == _engine().split(".")[0]:
        return
    log.warning(
        "tracer store: the reader cache %s was written by DuckDB %s and this is DuckDB %s; rebuilding it from the "
        "segments (nothing is lost: the cache only holds what the segments hold)",
        cache, written_by, _engine(),
    )  # fmt: skip
    for stale in (cache, cache.with_name(cache.name + ".wal"), _engine_file(cache)):
        with contextlib.suppress(OSError):
            stale.unlink()


class _StaleCache(Exception):
    pass


def _release(con: Any, lock_fds: list[int]) -> None:
    try:
        con.close()
    except Exception:
        log.debug("tracer store: closing the reader failed", exc_info=True)
    for fd in lock_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
