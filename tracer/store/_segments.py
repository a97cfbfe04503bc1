"""Segment files: the store's only storage. Append-only, immutable, renamed into place whole.

Layout under the store directory (`$TRACER_STORE`, default `./.tracer`):

    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-<utc time>-<host>-<pid>-<seq>-<rand>.parquet   (a flush)
    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-c<utc time>-<host>-<pid>-<rand>.parquet         (compacted)

Why it holds up with many writers and readers at once:

- A writer never touches a file anyone else can see: it writes `.tmp-<name>` in the same directory and
  `os.replace`s it to its final name (atomic on POSIX). Readers list only `*.parquet` names, so they see a
  segment whole or not at all; a writer killed by SIGKILL leaves at most a `.tmp-` file, never a damaged segment.
  Names carry host, pid, a per-process counter and random bits, so writers never collide.
- A segment that is nevertheless unreadable (truncated by a full disk, copied half-way, hand-edited) fails the
  footer check (`pyarrow.parquet.read_metadata`), is skipped with one warning, and the rest reads.
- Compaction (under an `fcntl.flock` on `<root>/.compact.lock`, one compactor at a time) writes the merged
  segment first, with the names of the segments it holds in its metadata (`tracer.store.replaces`), renames it
  into place, and only then deletes its sources. A reader that lists both the merged file and a source ignores
  the source (it is named in a live segment's `replaces`), so at every instant the live rows are exactly the
  rows written: no duplicates (merged file and sources never both count) and no gap (sources go only after the
  merged file is visible). A compactor killed between the rename and the deletes leaves sources that readers
  already ignore; the next compaction deletes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracer.store._schema import (
    LOW_CARDINALITY,
    META_REPLACES,
    META_TABLE,
    META_VERSION,
    SCHEMA_VERSION,
    TABLES,
    TIME_COLUMN,
)

log = logging.getLogger("tracer.store")

SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".compact.lock"
_HOST = "".join(ch if ch.isalnum() else "_" for ch in socket.gethostname())[:32] or "host"
_seq_lock = threading.Lock()
_seq = 0
_warned_bad: set[str] = set()  # per process: each unreadable segment is warned about once, however many readers


def default_root() -> Path:
    """`$TRACER_STORE`, else `./.tracer`."""
    return Path(os.environ.get("TRACER_STORE") or ".tracer")


def _next_seq() -> int:
    global _seq
    with _seq_lock:
        _seq += 1
        return _seq


def segment_name(table: str, *, compacted: bool = False, version: int = SCHEMA_VERSION) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    rand = secrets.token_hex(4)
    if compacted:
        return f"{table}-v{version}-c{stamp}-{_HOST}-{os.getpid()}-{rand}{SUFFIX}"
    return f"{table}-v{version}-{stamp}-{_HOST}-{os.getpid()}-{_next_seq():06d}-{rand}{SUFFIX}"


def write_segment(
    root: Path,
    table: str,
    data: pa.Table,
    day: str,
    *,
    replaces: list[str] | None = None,
    version: int = SCHEMA_VERSION,
    compression: str = "snappy",
    row_group_size: int = 1 << 20,
) -> Path:
    """Write one immutable segment of `table` for UTC `day` atomically; returns its final path.

    Raises OSError (read-only directory, full disk): the caller decides how loudly to say so.
    """
    directory = root / table / day
    directory.mkdir(parents=True, exist_ok=True)
    name = segment_name(table, compacted=replaces is not None, version=version)
    final = directory / name
    tmp = directory / (TMP_PREFIX + name)
    meta = dict(data.schema.metadata or {})
    meta[META_VERSION] = str(version).encode()
    meta[META_TABLE] = table.encode()
    if replaces is not None:
        meta[META_REPLACES] = json.dumps(sorted(replaces)).encode()
    data = data.replace_schema_metadata(meta)
    try:
        pq.write_table(
            data,
            tmp,
            compression=compression,
            row_group_size=row_group_size,
            write_statistics=True,
            use_dictionary=_dictionary_columns(data.schema),
        )
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    names = []
    for f in schema:
        if f.name in LOW_CARDINALITY:
            if pa.types.is_map(f.type):
                names += [f"{f.name}.key_value.key", f"{f.name}.key_value.value"]
            else:
                names.append(f.name)
    return names


@dataclass(frozen=True)
class SegmentInfo:
    """What a segment's footer says: enough to decide whether and how to read it, without reading its data."""

    path: Path
    table: str
    rows: int
    version: int
    columns: tuple[str, ...]
    replaces: frozenset[str] = field(default_factory=frozenset)  # names (same directory) this segment holds
    size: int = 0
    first: dt.datetime | None = None  # earliest and latest time (column TIME_COLUMN) from the footer's statistics
    last: dt.datetime | None = None


class BadSegment(Exception):
    pass


def read_info(path: Path, table: str) -> SegmentInfo:
    """The footer of one segment. Raises BadSegment when the file is not a whole, readable Parquet file."""
    try:
        size = path.stat().st_size
        meta = pq.read_metadata(path)
        kv = meta.metadata or {}
        schema = meta.schema.to_arrow_schema()
    except FileNotFoundError:
        raise
    except Exception as exc:  # ArrowInvalid, OSError on a truncated file, ...
        raise BadSegment(f"{path}: {exc}") from exc
    try:
        version = int(kv.get(META_VERSION, b"0"))
    except ValueError:
        version = 0
    replaces: frozenset[str] = frozenset()
    if META_REPLACES in kv:
        try:
            replaces = frozenset(str(name) for name in json.loads(kv[META_REPLACES]))
        except ValueError as exc:
            raise BadSegment(f"{path}: unreadable {META_REPLACES.decode()}: {exc}") from exc
    first, last = _time_range(meta, TIME_COLUMN.get(table, ""))
    return SegmentInfo(path, table, meta.num_rows, version, tuple(schema.names), replaces, size, first, last)


def _time_range(meta: pq.FileMetaData, column: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    # Leaf columns, not fields: a MAP column is two leaves, so the time column is found by its path.
    leaf = next((j for j in range(meta.num_columns) if meta.schema.column(j).path == column), None)
    lows, highs = [], []
    if leaf is not None:
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(leaf).statistics
            if stats is not None and stats.has_min_max and isinstance(stats.min, dt.datetime):
                lows.append(stats.min)
                highs.append(stats.max)
    return (min(lows) if lows else None), (max(highs) if highs else None)


def list_segments(root: Path, table: str) -> Iterator[tuple[Path, int, int]]:
    """(path, size, mtime_ns) of every segment file of `table`, by day; temporary files are not segments."""
    base = root / table
    try:
        days = sorted(entry.name for entry in os.scandir(base) if entry.is_dir() and not entry.name.startswith("."))
    except FileNotFoundError:
        return
    for day in days:
        try:
            entries = list(os.scandir(base / day))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = entry.name
            if name.endswith(SUFFIX) and not name.startswith("."):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                yield Path(entry.path), st.st_size, st.st_mtime_ns


class SegmentCatalog:
    """Footers of the segments seen so far (segments never change, so each is read once per process), the
    bad ones (warned about once each), and which segments are live: valid and not held by a compacted one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._infos: dict[tuple[str, int, int], SegmentInfo | None] = {}
        self.bad: set[str] = set()
        self._lock = threading.Lock()

    def mark_bad(self, path: Path, reason: str) -> None:
        with self._lock:
            for key in [k for k in self._infos if k[0] == str(path)]:
                self._infos[key] = None
            self._warn_once(str(path), reason)

    def _warn_once(self, key: str, reason: str) -> None:
        self.bad.add(key)
        if key not in _warned_bad:
            _warned_bad.add(key)
            log.warning("tracer store: skipping unreadable segment %s (%s); the rest of the store reads", key, reason)

    def live(self, table: str) -> list[SegmentInfo]:
        infos: list[SegmentInfo] = []
        for path, size, mtime in list_segments(self.root, table):
            key = (str(path), size, mtime)
            with self._lock:
                known = key in self._infos
                info = self._infos.get(key)
            if not known:
                try:
                    info = read_info(path, table)
                except FileNotFoundError:
                    continue  # compacted or pruned away since it was listed
                except BadSegment as exc:
                    info = None
                    with self._lock:
                        self._warn_once(str(path), str(exc.__cause__ or exc))
                with self._lock:
                    self._infos[key] = info
            if info is not None:
                infos.append(info)
        held = {info.path.parent / name for info in infos for name in info.replaces}
        return [info for info in infos if info.path not in held]

    def forget_missing(self) -> None:
        """Drop footers of files that are gone (keeps a long-running reader's memory flat)."""
        with self._lock:
            for key in [k for k in self._infos if not os.path.exists(k[0])]:
                del self._infos[key]


@contextlib.contextmanager
def compaction_lock(root: Path, *, blocking: bool = True) -> Iterator[bool]:
    """One compactor/pruner per store at a time (fcntl.flock; released if the holder dies)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                yield False
                return
            raise
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def conform(data: pa.Table, table: str) -> pa.Table:
    """`data` with exactly the current columns of `table`: missing ones NULL, unknown ones dropped."""
    schema = TABLES[table]
    columns = []
    for column in schema:
        if column.name in data.column_names:
            columns.append(data.column(column.name).cast(column.type))
        else:
            columns.append(pa.nulls(data.num_rows, column.type))
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass
class CompactResult:
    merged: int = 0  # segments merged away
    written: int = 0  # compacted segments written
    removed_stale: int = 0  # leftover sources / temporary files deleted
    skipped_bad: int = 0


def compact(
    root: Path,
    *,
    small_bytes: int = 32 << 20,
    target_rows: int = 4_000_000,
    tmp_age_s: float = 3600.0,
    now: float | None = None,
) -> CompactResult:
    """Merge the small segments of each table and day into big ones sorted by time (readers keep reading).

    Segments under `small_bytes` are merged, up to `target_rows` rows per output. Also deletes sources that a
    compacted segment already holds (left by a compactor that died) and `.tmp-` files older than `tmp_age_s`.
    """
    result = CompactResult()
    now = time.time() if now is None else now
    with compaction_lock(root):
        catalog = SegmentCatalog(root)
        for table in TABLES:
            live = catalog.live(table)
            _remove_held(root, table, live, result)
            _remove_old_tmp(root / table, now - tmp_age_s, result)
            by_day: dict[Path, list[SegmentInfo]] = {}
            for info in live:
                if info.size < small_bytes:
                    by_day.setdefault(info.path.parent, []).append(info)
            for directory, infos in by_day.items():
                infos.sort(key=lambda i: i.path.name)
                group: list[SegmentInfo] = []
                rows = 0
                candidate: SegmentInfo | None
                for candidate in [*infos, None]:
                    if candidate is not None and (rows + candidate.rows <= target_rows or not group):
                        group.append(candidate)
                        rows += candidate.rows
                        continue
                    if len(group) > 1:
                        _merge(root, table, directory, group, result)
                    group = [candidate] if candidate is not None else []
                    rows = candidate.rows if candidate is not None else 0
    return result


def _remove_held(root: Path, table: str, live: list[SegmentInfo], result: CompactResult) -> None:
    for info in live:
        for name in info.replaces:
            with contextlib.suppress(FileNotFoundError):
                (info.path.parent / name).unlink()
                result.removed_stale += 1


def _remove_old_tmp(base: Path, cutoff: float, result: CompactResult) -> None:
    with contextlib.suppress(FileNotFoundError):
        for day in os.scandir(base):
            if not day.is_dir():
                continue
            for entry in os.scandir(day.path):
                if entry.name.startswith(TMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            result.removed_stale += 1


def _merge(root: Path, table: str, directory: Path, group: list[SegmentInfo], result: CompactResult) -> None:
    parts = []
    for info in group:
        try:
            parts.append(conform(pq.read_table(info.path), table))
        except Exception as exc:
            log.warning("tracer store: not compacting unreadable segment %s (%s)", info.path, exc)
            result.skipped_bad += 1
            return
    merged = pa.concat_tables(parts).sort_by(TIME_COLUMN[table])
    # Everything these segments held, transitively: a reader must ignore all of it once the merge is visible.
    replaces = {info.path.name for info in group}
    for info in group:
        replaces |= info.replaces
    write_segment(root, table, merged, directory.name, replaces=sorted(replaces), compression="zstd")
    for info in group:
        with contextlib.suppress(FileNotFoundError):
            info.path.unlink()
    result.merged += len(group)
    result.written += 1


@dataclass
class PruneResult:
    days_removed: int = 0
    files_removed: int = 0


def prune(root: Path, older_than: dt.timedelta, *, now: dt.datetime | None = None) -> PruneResult:
    """Delete whole days that ended more than `older_than` ago (the partition is the unit of retention)."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - older_than
    result = PruneResult()
    with compaction_lock(root):
        for table in TABLES:
            base = root / table
            with contextlib.suppress(FileNotFoundError):
                for entry in sorted(os.scandir(base), key=lambda e: e.name):
                    try:
                        day = dt.datetime.strptime(entry.name, "%Y-%m-%d").replace(tzinfo=dt.UTC)
                    except ValueError:
                        continue
                    if day + dt.timedelta(days=1) > cutoff:
                        continue
                    for file in os.scandir(entry.path):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(file.path)
                            result.files_removed += 1
                    with contextlib.suppress(OSError):
                        os.rmdir(entry.path)
                    result.days_removed += 1
    return result


def store_info(root: Path) -> dict[str, Any]:
    """Per table: live segments, rows, bytes, days, schema versions seen, unreadable segments, and the earliest
    and latest time (`first`, `last`: aware datetimes from the segments' footers, None when unknown)."""
    catalog = SegmentCatalog(root)
    out: dict[str, Any] = {}
    for table in TABLES:
        all_files = list(list_segments(root, table))
        live = catalog.live(table)
        out[table] = {
            "segments": len(live),
            "rows": sum(i.rows for i in live),
            "bytes": sum(i.size for i in live),
            "days": sorted({i.path.parent.name for i in live}),
            "versions": sorted({i.version for i in live}),
            "unreadable": sum(1 for path, _, _ in all_files if str(path) in catalog.bad),
            "first": min((i.first for i in live if i.first is not None), default=None),
            "last": max((i.last for i in live if i.last is not None), default=None),
        }
    return out
