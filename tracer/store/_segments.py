"""Segment files: the store's only storage. Append-only, immutable, renamed into place whole.

Layout under the store directory (`$TRACER_STORE`, default `./.tracer`):

    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-<utc time>-<host>-<pid>-<seq>-<rand>.jsonl     (a writer's flush)
    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-c<utc time>-<host>-<pid>-<rand>.parquet         (compacted)

Two formats, because the two sides have different budgets. The writer runs inside the application, so a flush is
a *row segment* that needs nothing beyond the standard library: a first line `[{header}]` (table, schema version,
columns, row count, time range, the body's length and CRC-32), then one JSON array per row in column order.
Compaction, which runs on the reading side and may import anything, merges row segments into Parquet segments,
whose footer carries the same facts (`tracer.store.schema_version`, `tracer.store.table`,
`tracer.store.replaces`). Readers read both.

Why it holds up with many writers and readers at once:

- A writer never touches a file anyone else can see: it writes `.tmp-<name>` in the same directory, fsyncs it
  and `os.replace`s it to its final name (atomic on POSIX and Windows). Readers list only segment names, so they
  see a segment whole or not at all; a writer killed by SIGKILL leaves at most a `.tmp-` file, never a damaged
  segment. Names carry host, pid, a per-process counter and random bits, so writers never collide.
- A segment that is nevertheless damaged (truncated by a full disk, copied half-way, hand-edited, a bad sector)
  is found out: a row segment by its header (length) and its body's CRC, a Parquet segment by its footer or by
  failing to decode. It is skipped with one warning naming the file, listed by `tracer store info`, and the rest
  reads.
- Compaction (under a lock on `<root>/.compact.lock`, one compactor at a time) writes the merged segment first,
  with the names of the segments it holds in its metadata (`tracer.store.replaces`), renames it into place, and
  only then deletes its sources. A reader that lists both the merged file and a source ignores the source (it is
  named in a live segment's `replaces`), so at every instant the live rows are exactly the rows written: no
  duplicates (merged file and sources never both count) and no gap (sources go only after the merged file is
  visible). A compactor killed between the rename and the deletes leaves sources that readers already ignore;
  the next compaction deletes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.store import _locks
from tracer.store._schema import (
    COLUMN_TYPES,
    LOW_CARDINALITY,
    META_REPLACES,
    META_TABLE,
    META_VERSION,
    SCHEMA_VERSION,
    TABLE_NAMES,
    TIME_COLUMN,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

log = logging.getLogger("tracer.store")

ROWS_SUFFIX = ".jsonl"  # a writer's row segment
SUFFIX = ".parquet"  # a compacted segment
SUFFIXES = (ROWS_SUFFIX, SUFFIX)
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".compact.lock"
ROWS_MAGIC = "tracer.store"  # the header's first key: what tells a row segment from any other JSON lines file
_HEADER_MAX = 1 << 16
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


def segment_name(table: str, *, compacted: bool = False, version: int = SCHEMA_VERSION, suffix: str = SUFFIX) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    rand = secrets.token_hex(4)
    if compacted:
        return f"{table}-v{version}-c{stamp}-{_HOST}-{os.getpid()}-{rand}{suffix}"
    return f"{table}-v{version}-{stamp}-{_HOST}-{os.getpid()}-{_next_seq():06d}-{rand}{suffix}"


# -- the writer's side: row segments, standard library only ---------------------------------------------------------


def _plain(value: object) -> str:
    # The only non-JSON value a row holds is the cost, a Decimal: kept exact as its string.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not storable: {type(value).__name__}")


# Two encoders behind one switch (`encode_rows(encoder=...)`), whose bodies read back as the same values
# (tests/store/test_rows.py runs both): msgspec's (a declared dependency, a C wheel with none of its own), several
# times faster than the standard library's; and the standard library's C encoder, made once (`JSONEncoder.encode`
# builds it anew for every row), for a row msgspec refuses (a string with a lone surrogate cannot be UTF-8) and for an
# interpreter without msgspec.
try:
    import msgspec.json

    _msgspec_lines: Any = msgspec.json.Encoder(decimal_format="string").encode_lines
except ImportError:  # pragma: no cover - a declared dependency; absent only in an environment put together by hand
    _msgspec_lines = None

_encode = json.JSONEncoder(separators=(",", ":"), default=_plain, check_circular=False).encode
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed: undocumented
_c_encoder = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(None, _plain, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
)
ENCODERS = ("msgspec", "stdlib")
encoder = "msgspec"  # the one `write_rows` uses (benchmarks/store.py times both)


def encode_rows(rows: Sequence[tuple[Any, ...]], *, encoder: str | None = None) -> bytes:
    """The body of a row segment: one JSON array per row, each line ended by a newline (UTF-8). `encoder` picks
    one of `ENCODERS` (default: the module's `encoder`); msgspec falls back to the standard library for a body it
    cannot encode."""
    if not rows:
        return b""
    if encoder is None:
        encoder = globals()["encoder"]
    if encoder == "msgspec" and _msgspec_lines is not None:
        try:
            body: bytes = _msgspec_lines(rows)
            return body
        except (TypeError, ValueError, UnicodeEncodeError, OverflowError):
            pass  # a value msgspec refuses: the standard library escapes it
    if _c_encoder is not None:
        encode = _c_encoder
        return ("\n".join(["".join(encode(row, 0)) for row in rows]) + "\n").encode()
    return ("\n".join(map(_encode, rows)) + "\n").encode()


def write_rows(
    root: Path, table: str, rows: Sequence[tuple[Any, ...]], day: str, *, version: int = SCHEMA_VERSION
) -> Path:
    """Write one immutable row segment of `table` for UTC `day` (rows as tuples in `COLUMN_TYPES[table]` order)
    atomically; returns its final path. Needs nothing beyond the standard library: it runs in the application.

    Raises OSError (read-only directory, full disk): the caller decides how loudly to say so.
    """
    body = encode_rows(rows)
    time_at = [c for c, _ in COLUMN_TYPES[table]].index(TIME_COLUMN[table])
    times = [t for row in rows if (t := row[time_at]) is not None]
    header = {
        ROWS_MAGIC: 1,
        "table": table,
        "version": version,
        "columns": [c for c, _ in COLUMN_TYPES[table]],
        "rows": len(rows),
        "first": min(times, default=None),
        "last": max(times, default=None),
        "bytes": len(body),
        "crc32": zlib.crc32(body),
    }
    return _write_atomically(root / table / day, segment_name(table, version=version, suffix=ROWS_SUFFIX),
                             (json.dumps([header], separators=(",", ":")) + "\n").encode() + body)  # fmt: skip


def _write_atomically(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    tmp = directory / (TMP_PREFIX + name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            # On disk before it gets its name: a power cut leaves the segment whole or absent, never empty.
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return final


# -- the reading side: Parquet segments, footers and headers, the catalog -------------------------------------------


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
    reads a damaged uncompressed page as wrong values). Reads the whole file; Parquet needs pyarrow."""
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


@contextlib.contextmanager
def compaction_lock(root: Path, *, blocking: bool = True) -> Iterator[bool]:
    """One compactor/pruner per store at a time (released if the holder dies; see `_locks`)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _locks.lock(fd, blocking=blocking):
            yield False
            return
        try:
            yield True
        finally:
            _locks.unlock(fd)
    finally:
        os.close(fd)


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
    columns = []
    if infos[0].format == "rows":
        index = {name: i + 1 for i, name in enumerate(present)}
        failed = []  # salvage: per column, SQL naming it when its value is there but does not cast
        for name, kind in COLUMN_TYPES[table]:
            i = index.get(name)
            if i is None:
                expr = f"NULL::{kind}"
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
            columns.append(f'CAST(p."{name}" AS {kind})' if name in present else f"NULL::{kind}")
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

    from tracer.store._schema import arrow_schema

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


def prune(root: Path, older_than: dt.timedelta, *, now: dt.datetime | None = None) -> PruneResult:
    """Delete whole days that ended more than `older_than` ago (the partition is the unit of retention)."""
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
    return result


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
