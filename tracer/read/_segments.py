"""Reading segments: footers and headers, checksums, the catalog of live segments, decoding (salvaging row by
row what does not decode whole), and writing compacted Parquet segments. The reading side: pyarrow and DuckDB.

The layout and the row-segment format are the writer's (`tracer.store.segments`, `tracer.store.schema`); this
module reads what they write, and writes only what compaction and repair produce (Parquet segments whose footer
names the segments they replace).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.read._pagecrc import page_crcs_match
from tracer.store.schema import (
    COLUMN_TYPES,
    FOR_OLDER_SEGMENTS,
    LOW_CARDINALITY,
    META_REPLACES,
    META_TABLE,
    META_VERSION,
    SCHEMA_VERSION,
    TIME_COLUMN,
    arrow_schema,
)
from tracer.store.segments import ROWS_MAGIC, ROWS_SUFFIX, SUFFIXES, TMP_PREFIX, segment_name

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

log = logging.getLogger("tracer.store")
_HEADER_MAX = 1 << 16
_warned_bad: set[str] = set()  # per process: each unreadable segment is warned about once, however many readers

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
    """Write one immutable Parquet segment of `table` for UTC `day` atomically; returns its final path. Used by
    compaction and the synthetic stores (the reading side: imports pyarrow).

    Raises OSError (read-only directory, full disk): the caller decides how loudly to say so.
    """
    import pyarrow.parquet as pq

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
            write_page_checksum=True,  # `store_info` verifies them: damage inside a page is found, not read as data
        )
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    import pyarrow as pa

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
    """What a segment's footer (Parquet) or header (rows) says: enough to decide whether and how to read it,
    without reading its data."""

    path: Path
    table: str
    rows: int
    version: int
    columns: tuple[str, ...]
    replaces: frozenset[str] = field(default_factory=frozenset)  # names (same directory) this segment holds
    size: int = 0
    first: dt.datetime | None = None  # earliest and latest time (column TIME_COLUMN) from the footer's statistics
    last: dt.datetime | None = None
    format: str = "parquet"  # or "rows"
    body_offset: int = 0  # rows: where the body starts, its length and CRC-32 (checked before it is read)
    body_bytes: int = 0
    crc32: int | None = None


class BadSegment(Exception):
    pass


def read_info(path: Path, table: str) -> SegmentInfo:
    """The footer or header of one segment. Raises BadSegment when it is not a whole, readable segment."""
    if path.name.endswith(ROWS_SUFFIX):
        return _read_rows_header(path, table)
    import pyarrow.parquet as pq

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


def _read_rows_header(path: Path, table: str) -> SegmentInfo:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        line = f.readline(_HEADER_MAX)
    try:
        (header,) = json.loads(line)
        if header.get(ROWS_MAGIC) != 1 or header["table"] != table:
            raise ValueError("not a row segment of this table")
        rows, body = int(header["rows"]), int(header["bytes"])
        columns = tuple(str(c) for c in header["columns"])
        version, crc = int(header["version"]), int(header["crc32"])
        first, last = (None if v is None else _from_us(int(v)) for v in (header["first"], header["last"]))
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise BadSegment(f"{path}: unreadable header ({exc!r})") from exc
    if len(line) + body != size:
        raise BadSegment(f"{path}: {size} bytes where its header says {len(line) + body} (truncated or appended to)")
    return SegmentInfo(path, table, rows, version, columns, frozenset(), size, first, last, "rows", len(line), body, crc)


def _from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def check_body(info: SegmentInfo) -> None:
    """Raise BadSegment when a segment's data is damaged: a row segment's body against its header's length and
    CRC-32, a Parquet segment's pages against their CRCs (compaction writes them; DuckDB does not check them and
    reads a damaged uncompressed page as wrong values), over the pages' bytes (`_pagecrc`). Reads the whole file;
    Parquet needs pyarrow. What does not decode otherwise is found when the segment is read."""
    if info.format == "rows":
        with open(info.path, "rb") as f:
            f.seek(info.body_offset)
            crc, n = 0, 0
            while chunk := f.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
                n += len(chunk)
        if n != info.body_bytes or crc != info.crc32:
            raise BadSegment(f"{info.path}: its body is damaged (checksum mismatch)")
        return
    import pyarrow.parquet as pq

    try:
        # The pages' CRCs checked over their bytes; a file with a page without one (not written by us) is decoded
        # whole instead, which finds what does not decode.
        if not page_crcs_match(info.path):
            for _ in pq.ParquetFile(info.path, page_checksum_verification=True).iter_batches(batch_size=1 << 16):
                pass
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise BadSegment(f"{info.path}: its data is damaged ({exc})") from exc


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
            if name.endswith(SUFFIXES) and not name.startswith("."):
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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A row segment's line may hold large tag values; DuckDB's default limit (16 MB a line) would fail the segment.
_MAX_LINE = 1 << 28


def select_sql(
    table: str, infos: Sequence[SegmentInfo], *, filename: bool = False, salvage: bool = False
) -> tuple[list[str], str]:
    """(an expression per column, FROM clause) reading `table`'s current columns, as alias `p`, from segments of one format
    with the same columns: the columns they lack are NULL, the ones this reader does not know are left out, every
    column cast to the current type. With `filename`, `p.filename` names each row's file.

    With `salvage` (row segments only), a segment that does not decode as a whole is read row by row: a line that
    is not a JSON array is left out, a value that does not cast to its column (a number out of range, written by a
    writer before schema 4) is NULL and named in the row's `damaged_fields`. Every other row reads as it would."""
    files = "[" + ", ".join(_quote(str(info.path)) for info in infos) + "]"
    present = infos[0].columns
    columns: list[str] = []
    older = FOR_OLDER_SEGMENTS.get(table, {})

    def missing(name: str, kind: str) -> str:
        # A column added after these segments were written: derived from the others where the schema says how
        # (the one place the reader derives a value, for old data alone), else NULL.
        if name in older:
            made = dict(zip((c for c, _ in COLUMN_TYPES[table]), columns, strict=False))
            return f"({older[name].format(**made)})::{kind}"
        return f"NULL::{kind}"

    if infos[0].format == "rows":
        index = {name: i + 1 for i, name in enumerate(present)}
        failed = []  # salvage: per column, SQL naming it when its value is there but does not cast
        for name, kind in COLUMN_TYPES[table]:
            i = index.get(name)
            if i is None:
                expr = missing(name, kind)
            elif kind == "VARCHAR":
                expr = f"(p.l[{i}] ->> '$')"
            elif kind == "TIMESTAMPTZ":
                expr = f"make_timestamptz(p.l[{i}]::BIGINT)"
            elif kind.startswith("DECIMAL"):
                expr = f"(p.l[{i}] ->> '$')::{kind}"
            elif kind.startswith("MAP"):
                # Tags are written as [[key, value], ...]: JSON has no map with a key order worth keeping.
                expr = f"map_from_entries(list_transform(p.l[{i}]::VARCHAR[][], lambda x: {{'key': x[1], 'value': x[2]}}))"
            else:
                expr = f"p.l[{i}]::{kind}"
            if salvage and i is not None and kind != "VARCHAR":
                expr = f"try({expr})"
                failed.append(f"CASE WHEN {expr} IS NULL AND coalesce(json_type(p.l[{i}]), 'NULL') <> 'NULL' THEN '{name}' END")
            columns.append(expr)
        if salvage and failed:
            at = [name for name, _ in COLUMN_TYPES[table]].index("damaged_fields")
            columns[at] = f"nullif(concat_ws(',', {columns[at]}, {', '.join(failed)}), '')"
        source = (
            f"(SELECT * FROM read_json({files}, format = 'newline_delimited', records = false, columns = {{'l': 'JSON[]'}}, "
            f"maximum_object_size = {_MAX_LINE}{', filename = true' if filename else ''}{', ignore_errors = true' if salvage else ''}) "
            # the header, `[{...}]`, is the only line whose first value is an object; with ignore_errors, a line
            # that is not a JSON array reads as NULL
            f"WHERE json_type(l[1]) IS DISTINCT FROM 'OBJECT'{' AND l IS NOT NULL' if salvage else ''}) p"
        )
    else:
        for name, kind in COLUMN_TYPES[table]:
            columns.append(f'CAST(p."{name}" AS {kind})' if name in present else missing(name, kind))
        source = f"read_parquet({files}{', filename = true' if filename else ''}) p"
    return columns, source


@dataclass(frozen=True)
class Decoded:
    """What decoding every value of a segment found (`decode`)."""

    rows: int  # rows the segment says it holds (header or footer)
    kept: int  # rows that decode
    salvaged: bool  # True: it did not decode as a whole, and was read row by row
    damaged: int = 0  # rows with a value stored or read as NULL (`damaged_fields`)
    future: int = 0  # rows stamped after now (decoding's clock): a writer whose clock runs fast

    @property
    def left_out(self) -> int:
        return max(self.rows - self.kept, 0)


def decode(info: SegmentInfo, con: Any) -> Decoded:
    """Decode every value of a segment, as a reader loads it (not only its checksum): as a whole, else (a row
    segment) row by row. Raises BadSegment when its checksum fails or it does not decode at all, FileNotFoundError
    when it is gone. `con` is a DuckDB connection (the reading side)."""
    import duckdb

    check_body(info)
    for salvage in (False, True):
        if salvage and info.format != "rows":
            break
        columns, source = select_sql(info.table, [info], salvage=salvage)
        order = [name for name, _ in COLUMN_TYPES[info.table]]
        damaged, time = columns[order.index("damaged_fields")], columns[order.index(TIME_COLUMN[info.table])]
        names = ", ".join(f'{expr} AS "c{i}"' for i, expr in enumerate(columns))
        try:
            # hash(t) of the whole row: every value is decoded (a bare count would be answered without casting).
            kept, flagged, future = con.execute(
                f"SELECT count(hash(t)), count(t.d), count(*) FILTER (WHERE t.w > now()) "
                f"FROM (SELECT {names}, {damaged} AS d, {time} AS w FROM {source}) t"
            ).fetchone()
        except duckdb.IOException as exc:
            if not info.path.exists():
                raise FileNotFoundError(info.path) from exc
            error: Exception = exc
            continue
        except duckdb.Error as exc:
            error = exc
            continue
        return Decoded(info.rows, int(kept), salvage, int(flagged), int(future))
    raise BadSegment(f"{info.path}: does not decode ({str(error).splitlines()[0] if str(error) else error!r})")


def conform(data: pa.Table, table: str) -> pa.Table:
    """`data` with exactly the current columns of `table`: missing ones NULL, unknown ones dropped."""
    import pyarrow as pa

    schema = arrow_schema(table)
    columns = []
    for column in schema:
        if column.name in data.column_names:
            columns.append(data.column(column.name).cast(column.type))
        else:
            columns.append(pa.nulls(data.num_rows, column.type))
    return pa.Table.from_arrays(columns, schema=schema)


def read_table(info: SegmentInfo, con: Any = None, *, salvage: bool = False) -> pa.Table:
    """A whole segment as an Arrow table with the current columns of its table (the reading side: DuckDB, pyarrow);
    with `salvage`, read row by row (`select_sql`). Raises BadSegment when it is damaged, FileNotFoundError when it
    is gone."""
    import duckdb

    check_body(info)
    own = con is None
    con = con or duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        columns, source = select_sql(info.table, [info], salvage=salvage)
        names = ", ".join(f'{expr} AS "{name}"' for expr, (name, _) in zip(columns, COLUMN_TYPES[info.table], strict=True))
        return conform(con.sql(f"SELECT {names} FROM {source}").to_arrow_table(), info.table)
    except duckdb.IOException as exc:
        if not info.path.exists():
            raise FileNotFoundError(info.path) from exc
        raise BadSegment(f"{info.path}: {exc}") from exc
    except duckdb.Error as exc:
        raise BadSegment(f"{info.path}: {exc}") from exc
    finally:
        if own:
            con.close()
