"""Segment files: the store's only storage. Append-only, immutable, renamed into place whole.

Layout under the store directory (`$TRACER_STORE`, default `./.tracer`):

    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-<utc time>-<host>-<pid>-<seq>-<rand>.jsonl     (a writer's flush)
    <root>/<table>/<YYYY-MM-DD>/<table>-v<schema>-c<utc time>-<host>-<pid>-<rand>.parquet         (compacted)

Two formats, because the two sides have different budgets. The writer runs inside the application, so a flush is
a *row segment* that needs nothing beyond the standard library and msgspec (a C wheel with no dependencies): a first line `[{header}]` (table, schema version,
columns, row count, time range, the body's length and CRC-32), then one JSON array per row in column order.
Compaction, which runs on the reading side and may import anything, merges row segments into Parquet segments,
whose footer carries the same facts (`tracer.store.schema_version`, `tracer.store.table`,
`tracer.store.replaces`). Readers read both (`tracer.read`); this module is the writer's half, and the layout both halves share.

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
import os
import secrets
import socket
import threading
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tracer.store.schema import COLUMN_TYPES, SCHEMA_VERSION, TIME_COLUMN

ROWS_SUFFIX = ".jsonl"  # a writer's row segment
SUFFIX = ".parquet"  # a compacted segment
SUFFIXES = (ROWS_SUFFIX, SUFFIX)
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".compact.lock"
ROWS_MAGIC = "tracer.store"  # the header's first key: what tells a row segment from any other JSON lines file
_HOST = "".join(ch if ch.isalnum() else "_" for ch in socket.gethostname())[:32] or "host"
_seq_lock = threading.Lock()
_seq = 0


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
