"""`StoreExporter`: an OpenTelemetry SpanExporter writing finished spans to the store's row segments.

It keeps calls, attempts and resilience events, and the other spans of every trace with a Claude call (the
application's spans around it, the SDK's tool-runner and tool spans: `_rows.TraceKeeper` decides, in the
exporter's thread, so the application's thread pays nothing for it); spans of traces without a call are let go.

It runs in the application's process, so it needs nothing heavy: rows are tuples, written as JSON lines by the
standard library (`segments.write_rows`); no pyarrow, pandas or DuckDB is imported (tests/install/test_core.py).

It never gets in the application's way. `export()` (called in a BatchSpanProcessor's worker thread, never the
caller's) turns spans into rows and puts them in a bounded buffer; segments are written by the exporter's own
thread. Rows are coalesced into one segment per table and day per flush, so a busy process writes a few big
files instead of many small ones. When the buffer is full, new spans are dropped and counted (metric
`tracer.store.dropped_spans`, one warning). A directory that cannot be written (read-only, full disk) gives one
warning; the spans are dropped and counted, and the application carries on.

When to flush: a batch shorter than the processor's full batch means its queue is drained (the end of a burst, or
`force_flush` on the provider): everything buffered is written before `export()` returns, so
`provider.force_flush()` is enough for the data to be readable. Full batches are only buffered (a burst is in
progress) and written when `flush_rows` rows are waiting, every `flush_interval_s`, on `force_flush()`,
`shutdown()` and at interpreter exit.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tracer import _drops, semconv
from tracer.store._rows import COLUMNS, TraceKeeper, day_of, row_tuples_from_spans
from tracer.store.schema import TABLE_NAMES, TIME_COLUMN
from tracer.store.segments import default_root, write_rows

log = logging.getLogger("tracer.store")

_US_PER_DAY = 86_400_000_000
_DEFAULT_FULL_BATCH = 512  # BatchSpanProcessor's default max_export_batch_size


def table_from_rows(table: str, rows: Sequence[dict[str, Any]]) -> Any:
    """An Arrow table with the current schema of `table` from row dicts (as `rows_from_spans` builds them). The
    reading side's helper: imports pyarrow."""
    import pyarrow as pa

    from tracer.store.schema import arrow_schema

    return pa.Table.from_pylist(list(rows), schema=arrow_schema(table))


def _split_by_day(rows: list[tuple[Any, ...]], time_at: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """`rows` split by the UTC day of their time (one part, without copying, in the usual case of one day)."""
    days = {t // _US_PER_DAY for row in rows if (t := row[time_at]) is not None}
    if len(days) <= 1:
        return [(day_of(days.pop() * _US_PER_DAY) if days else day_of(0), rows)]
    parts: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        t = row[time_at]
        parts.setdefault(0 if t is None else t // _US_PER_DAY, []).append(row)
    return [(day_of(d * _US_PER_DAY), part) for d, part in sorted(parts.items())]


class StoreExporter(SpanExporter):
    """Writes calls, attempts and events to the store under `path` (default `$TRACER_STORE`, else `./.tracer`).

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(BatchSpanProcessor(StoreExporter(".tracer")))   # doctest: +SKIP

    `dropped` counts spans dropped (buffer full, or the directory could not be written); `written` counts rows
    written; `damaged` counts rows written with a value their column could not hold, stored as NULL. Any number of processes may write one store at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_buffered: int = 100_000,
        flush_rows: int = 20_000,
        flush_interval_s: float = 1.0,
        full_batch: int = _DEFAULT_FULL_BATCH,
        meter_provider: Any = None,
    ) -> None:
        self.root = Path(path) if path is not None else default_root()
        self.max_buffered = max_buffered
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.full_batch = full_batch
        self.dropped = 0
        self.written = 0
        self.damaged = 0  # rows written with a value stored as NULL (`damaged_fields`): kept, not dropped
        self._damaged_counter: Any = None
        self._buffer: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLE_NAMES}
        # The other spans of traces with a Claude call (the application's, the SDK's tool and agent spans).
        self.keeper = TraceKeeper()
        self._keeper_lock = threading.Lock()
        self._buffered = 0
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one writer at a time (segment order within a process)
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self._warned: set[str] = set()
        self._dropped_counter: Any = None
        # This process's drops on the way to a store since this exporter began, kept in the store (`_record_drops`).
        self._drops_base = _drops.store_counts()
        self._drops_pid = os.getpid()
        self._drops_seen = 0  # `_drops.total()` when the record was last brought up to date
        self._drops_written: dict[str, int] = {}
        self._meter_provider = meter_provider  # None: the global one, looked up when the first span is dropped
        ref = weakref.ref(self)
        atexit.register(lambda: None if (e := ref()) is None else e._flush_at_exit())

    # -- SpanExporter -------------------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Buffer the spans' rows; write now when the batch says the processor's queue is drained. Never raises."""
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            damaged: dict[str, int] = {}
            with self._keeper_lock:
                rows = row_tuples_from_spans(spans, self.keeper, damaged)
            if damaged:
                self._count_damaged(damaged)
            count = sum(len(r) for r in rows.values())
            with self._lock:
                self._ensure_thread()
                if self._buffered + count > self.max_buffered:
                    drop = count
                else:
                    drop = 0
                    for table, table_rows in rows.items():
                        if table_rows:
                            self._buffer[table].extend(table_rows)
                    self._buffered += count
                    if self._buffered >= self.flush_rows:
                        self._wake.notify()
            if drop:
                self._count_dropped(drop, "buffer_full", f"the store's buffer is full ({self.max_buffered} spans): dropping spans until it drains")
                return SpanExportResult.SUCCESS
            if len(spans) < self.full_batch:
                self._write_buffered()
        except Exception:
            log.debug("tracer store: export failed", exc_info=True)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write everything buffered. True when it was written (or dropped with a warning)."""
        return self._write_buffered()

    def shutdown(self) -> None:
        self._write_buffered()
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    # -- internals ----------------------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        # Called with the lock held. A forked child (gunicorn, multiprocessing) starts its own writer thread.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = None
            self._write_lock = threading.Lock()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="tracer-store-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                if self._buffered < self.flush_rows:
                    self._wake.wait(self.flush_interval_s)
                if self._closed:
                    return
                pending = self._buffered
            if pending or _drops.total() != self._drops_seen:
                self._write_buffered()

    def _take(self) -> dict[str, list[tuple[Any, ...]]]:
        with self._lock:
            taken = self._buffer
            self._buffer = {name: [] for name in TABLE_NAMES}
            self._buffered = 0
        return taken

    def _write_buffered(self) -> bool:
        with self._write_lock:
            taken = self._take()
            ok = True
            for table, rows in taken.items():
                if rows and not self._write_table(table, rows):
                    ok = False
            self._record_drops()
            return ok

    def _record_drops(self) -> None:
        """Bring this process's drop record in the store up to date (`tracer._drops`: what this process dropped on
        the way to a store since this exporter began, which `tracer store info` reports), when it changed. Called
        with the write lock held."""
        if self._drops_pid != os.getpid():  # a forked child: its counts start at the fork
            self._drops_pid, self._drops_base, self._drops_written = os.getpid(), {}, {}
        self._drops_seen = _drops.total()
        base = self._drops_base
        counts = {stage: n - base.get(stage, 0) for stage, n in _drops.store_counts().items() if n > base.get(stage, 0)}
        if counts == self._drops_written:
            return
        self._drops_written = counts  # also on failure: a directory that cannot be written is not tried each second
        try:
            _drops.write_record(self.root, counts)
        except Exception:
            log.debug("tracer store: could not record the drop counts", exc_info=True)

    def _write_table(self, table: str, rows: list[tuple[Any, ...]]) -> bool:
        try:
            by_day = _split_by_day(rows, COLUMNS[table].index(TIME_COLUMN[table]))
        except Exception as exc:
            self._count_dropped(len(rows), "error", f"cannot convert spans for the store at {self.root} ({exc!r}); spans dropped")
            return False
        ok = True
        for day, data in by_day:
            try:
                write_rows(self.root, table, data, day)
                self.written += len(data)
            except OSError as exc:
                ok = False
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                if exc.errno == errno.ENOSPC:
                    reason = "no space left on device"
                self._count_dropped(
                    len(data),
                    f"oserror-{exc.errno}",
                    f"cannot write to the store at {self.root} ({reason}): its spans are dropped and counted; the application carries on",
                )
            except Exception as exc:
                ok = False
                self._count_dropped(len(data), "error", f"cannot write a segment to the store at {self.root} ({exc!r}); spans dropped")
        return ok

    def _count_dropped(self, n: int, key: str, message: str) -> None:
        self.dropped += n
        _drops.count(_drops.EXPORTER, _drops.STORE, n)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("tracer store: %s", message)
        try:
            if self._dropped_counter is None:
                from opentelemetry import metrics

                meter = (self._meter_provider or metrics.get_meter_provider()).get_meter(semconv.SCOPE)
                self._dropped_counter = meter.create_counter(
                    semconv.METRIC_STORE_DROPPED_SPANS, unit="{span}", description="Spans the embedded store dropped"
                )
            self._dropped_counter.add(n, {"reason": key.split("-")[0]})
        except Exception:
            log.debug("tracer store: could not count dropped spans", exc_info=True)

    def _count_damaged(self, by_table: dict[str, int]) -> None:
        self.damaged += sum(by_table.values())
        if "damaged" not in self._warned:
            self._warned.add("damaged")
            log.warning(
                "tracer store: a span had a value its column cannot hold (out of range, not finite, negative or of the "
                "wrong type); it is stored as NULL and named in the row's damaged_fields, the rest of the row is kept"
            )
        try:
            if self._damaged_counter is None:
                from opentelemetry import metrics

                meter = (self._meter_provider or metrics.get_meter_provider()).get_meter(semconv.SCOPE)
                self._damaged_counter = meter.create_counter(
                    semconv.METRIC_STORE_DAMAGED_ROWS, unit="{row}", description="Rows the embedded store kept with a value stored as NULL"
                )
            for table, n in by_table.items():
                self._damaged_counter.add(n, {"table": table})
        except Exception:
            log.debug("tracer store: could not count damaged rows", exc_info=True)

    def _flush_at_exit(self) -> None:
        try:
            if not self._closed:
                self._write_buffered()
        except Exception:
            log.debug("tracer store: flush at exit failed", exc_info=True)
