"""Keeping a store: compaction, repair, pruning, and `store_info` (what `tracer store compact|repair|prune|info`
run). The reading side: DuckDB and pyarrow; one compactor, repairer or pruner per store at a time
(`compaction_lock`), while writers and readers carry on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer import _drops
from tracer.read._segments import (
    BadSegment,
    Decoded,
    SegmentCatalog,
    SegmentInfo,
    check_body,
    decode,
    list_segments,
    read_info,
    read_table,
    write_segment,
)
from tracer.store import locks
from tracer.store.schema import TABLE_NAMES, TIME_COLUMN
from tracer.store.segments import LOCK_NAME, TMP_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("tracer.store")


@contextlib.contextmanager
def compaction_lock(root: Path, *, blocking: bool = True) -> Iterator[bool]:
    """One compactor/pruner per store at a time (released if the holder dies; see `tracer.store.locks`)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not locks.lock(fd, blocking=blocking):
            yield False
            return
        try:
            yield True
        finally:
            locks.unlock(fd)
    finally:
        os.close(fd)


@dataclass
class CompactResult:
    merged: int = 0  # segments merged away
    written: int = 0  # compacted segments written
    removed_stale: int = 0  # leftover sources / temporary files deleted
    skipped_bad: int = 0
    salvaged: int = 0  # row segments that decoded only row by row (merged with every row that decodes)
    rows_left_out: int = 0  # rows of those that did not decode (also warned about, per file)


def _read_salvaging(info: SegmentInfo, con: Any, result: CompactResult | RepairResult) -> pa.Table:
    """`read_table`, row by row when a row segment does not decode as a whole: counted in `result`, and a warning
    naming the file and the rows left out."""
    import duckdb

    try:
        return read_table(info, con)
    except BadSegment as exc:
        if info.format != "rows" or not isinstance(exc.__cause__, duckdb.Error) or isinstance(exc.__cause__, duckdb.IOException):
            raise
    data = read_table(info, con, salvage=True)
    left_out = max(info.rows - data.num_rows, 0)
    result.salvaged += 1
    result.rows_left_out += left_out
    log.warning(
        "tracer store: segment %s does not decode as a whole; rewritten with every row that decodes: %d of %d kept, "
        "%d left out", info.path, data.num_rows, info.rows, left_out,
    )  # fmt: skip
    return data


@dataclass
class RepairResult:
    salvaged: int = 0  # segments rewritten
    rows_kept: int = 0
    rows_left_out: int = 0
    files: list[tuple[str, str, int, int]] = field(default_factory=list)  # (damaged, written, kept, left out)
    unreadable: list[str] = field(default_factory=list)  # segments that do not decode at all: left where they are


def repair(root: Path) -> RepairResult:
    """Rewrite every row segment that does not decode as a whole with every row that decodes (values that do not
    fit their column NULL and named in `damaged_fields`), under the compaction lock. Atomic: the new segment is a
    compacted one that names the damaged one in its `replaces` (readers ignore the damaged one from the instant the
    new one is visible), and the damaged one is deleted only after the new one is read back with exactly the rows
    counted. Never loses more than it reports: `rows_left_out` (per file in `files`). The reading side."""
    import duckdb

    result = RepairResult()
    with compaction_lock(root), contextlib.closing(duckdb.connect(":memory:")) as con:
        catalog = SegmentCatalog(root)
        for table in TABLE_NAMES:
            for info in catalog.live(table):
                try:
                    found = decode(info, con)
                except FileNotFoundError:
                    continue
                except BadSegment:
                    result.unreadable.append(str(info.path))
                    continue
                if not found.salvaged:
                    continue
                data = read_table(info, con, salvage=True)
                written = write_segment(root, table, data, info.path.parent.name, replaces=sorted({info.path.name, *info.replaces}), compression="zstd")
                back = decode(read_info(written, table), con)
                if back.kept != data.num_rows or back.salvaged:
                    with contextlib.suppress(FileNotFoundError):
                        written.unlink()
                    raise BadSegment(f"{written}: the repaired segment does not read back whole; {info.path} left as it is")
                with contextlib.suppress(FileNotFoundError):
                    info.path.unlink()
                left_out = max(info.rows - data.num_rows, 0)
                result.salvaged += 1
                result.rows_kept += data.num_rows
                result.rows_left_out += left_out
                result.files.append((str(info.path), str(written), data.num_rows, left_out))
    return result


def compact(
    root: Path,
    *,
    small_bytes: int = 32 << 20,
    target_rows: int = 4_000_000,
    tmp_age_s: float = 3600.0,
    now: float | None = None,
) -> CompactResult:
    """Merge the small segments of each table and day into big Parquet ones sorted by time (readers keep
    reading). Row segments are always merged (into Parquet, even one alone), Parquet ones under `small_bytes`;
    up to `target_rows` rows per output. Also deletes sources that a compacted segment already holds (left by a
    compactor that died) and `.tmp-` files older than `tmp_age_s`. The reading side: imports DuckDB and pyarrow.
    """
    import duckdb

    result = CompactResult()
    now = time.time() if now is None else now
    with compaction_lock(root), contextlib.closing(duckdb.connect(":memory:")) as con:
        catalog = SegmentCatalog(root)
        for table in TABLE_NAMES:
            live = catalog.live(table)
            _remove_held(root, table, live, result)
            _remove_old_tmp(root / table, now - tmp_age_s, result)
            by_day: dict[Path, list[SegmentInfo]] = {}
            for info in live:
                if info.format == "rows" or info.size < small_bytes:
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
                    if len(group) > 1 or (group and group[0].format == "rows"):
                        _merge(con, root, table, directory, group, result)
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


def _merge(con: Any, root: Path, table: str, directory: Path, group: list[SegmentInfo], result: CompactResult) -> None:
    import pyarrow as pa

    parts = []
    for info in group:
        try:
            parts.append(_read_salvaging(info, con, result))
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
    drop_records_removed: int = 0


def prune(root: Path, older_than: dt.timedelta, *, now: dt.datetime | None = None) -> PruneResult:
    """Delete whole days that ended more than `older_than` ago (the partition is the unit of retention), and the
    drop records (`tracer._drops`) that no process has written since the cutoff: they count what was dropped on the
    way to days now gone, by processes long gone, and `tracer store info` would go on adding them up."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - older_than
    result = PruneResult()
    with compaction_lock(root):
        for table in TABLE_NAMES:
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
        result.drop_records_removed = _prune_drop_records(root / _drops.RECORD_DIR, cutoff.timestamp())
    return result


def _prune_drop_records(directory: Path, cutoff_s: float) -> int:
    """Delete the drop records last written before `cutoff_s` (a process rewrites its record whenever its counts
    change, so the file's time is its last word); the number deleted. Leftover temporary files go the same way."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if not entry.name.endswith(_drops.RECORD_SUFFIX):
                continue
            try:
                if entry.stat().st_mtime < cutoff_s:
                    os.unlink(entry.path)
                    removed += not entry.name.startswith(".")
            except FileNotFoundError:
                continue
    return removed


def store_info(root: Path) -> dict[str, Any]:
    """Per table: live segments, rows, bytes, days, schema versions seen, unreadable segments (`unreadable`, and
    their paths in `bad`), and the earliest and latest time (`first`, `last`: aware datetimes from the segments'
    footers and headers, None when unknown).

    Decodes every value of every segment, as a reader would (`decode`; needs DuckDB, else only the checksums are
    checked): `rows` counts the rows that decode; `salvaged` lists the segments that decode only row by row
    (readers read them so; `repair` rewrites them), `lost` maps each segment to the rows a reader leaves out of
    it (a salvaged segment's lines that do not decode, an unreadable segment's rows as its header counts them),
    `damaged_rows` counts rows with a value stored or read as NULL (`damaged_fields`), `clock_skew_rows` rows
    stamped after now (a writer whose clock runs fast: no window that ends at now shows them)."""
    try:
        import duckdb

        con: Any = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
    except ImportError:
        con = None
    catalog = SegmentCatalog(root)
    out: dict[str, Any] = {}
    try:
        for table in TABLE_NAMES:
            all_files = list(list_segments(root, table))
            live, lost, salvaged = [], {}, []
            rows = damaged = future = 0
            for info in catalog.live(table):
                try:
                    if con is None:
                        check_body(info)
                        found = Decoded(info.rows, info.rows, False)
                    else:
                        found = decode(info, con)
                except FileNotFoundError:
                    continue
                except BadSegment as exc:
                    catalog.mark_bad(info.path, str(exc))
                    if info.rows:
                        lost[str(info.path)] = info.rows
                    continue
                live.append(info)
                rows += found.kept
                damaged += found.damaged
                future += found.future
                if found.salvaged:
                    salvaged.append(str(info.path))
                if found.left_out:
                    lost[str(info.path)] = found.left_out
            bad = sorted(str(path) for path, _, _ in all_files if str(path) in catalog.bad)
            out[table] = {
                "segments": len(live),
                "rows": rows,
                "bytes": sum(i.size for i in live),
                "days": sorted({i.path.parent.name for i in live}),
                "versions": sorted({i.version for i in live}),
                "unreadable": len(bad),
                "bad": bad,
                "salvaged": sorted(salvaged),
                "lost": dict(sorted(lost.items())),
                "damaged_rows": damaged,
                "clock_skew_rows": future,
                "first": min((i.first for i in live if i.first is not None), default=None),
                "last": max((i.last for i in live if i.last is not None), default=None),
            }
    finally:
        if con is not None:
            con.close()
    return out
