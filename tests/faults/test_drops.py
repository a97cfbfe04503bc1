"""Every drop is counted (issue 24, item 4): a span a full batch-processor queue drops, an item our worker's full
deque drops, each is counted in the `tracer.dropped` metric by stage, makes the next `tracer.flush()` say False (once),
and shows in `tracer store info`.

The real SDK over real HTTP to the fake API, a real store. Two things are made small or slow on purpose, and say so:
the store's exporter waits at a gate (a slow disk, in effect) so that its processor's queue fills, and the worker is
held (its drain lock) so that its deque fills.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

import tracer
import tracer.store
from tests.conftest import metric_points
from tests.faults.conftest import HELLO, MODEL, Spans, sync_client
from tracer import _drops, semconv
from tracer.capture import _worker
from tracer.read import Store
from tracer.store import StoreExporter


def _dropped(reader: InMemoryMetricReader, stage: str, exporter: str | None) -> int:
    """The `tracer.dropped` metric's value for `stage` (and what it feeds), as a metric reader collects it now."""
    wanted = {semconv.DROP_STAGE: stage, **({semconv.DROP_EXPORTER: exporter} if exporter else {})}
    points = [point.value for attrs, point in metric_points(reader, semconv.METRIC_DROPPED) if attrs == wanted]
    assert len(points) <= 1
    return points[0] if points else 0


def _store_info(store: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    from tracer.cli import main

    capsys.readouterr()
    assert main(["store", "info", "--store", str(store), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


class _GatedExporter(StoreExporter):
    """The store's exporter, made slow: each export waits until the test opens the gate."""

    gate = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.gate.wait(60)
        return super().export(spans)


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    gate = threading.Event()
    monkeypatch.setattr(_GatedExporter, "gate", gate)
    monkeypatch.setattr(tracer.store, "StoreExporter", _GatedExporter)  # what instrument() makes the store's with
    try:
        yield gate
    finally:
        gate.set()


class TestProcessorQueue:
    def test_a_full_queue_drops_count_once_in_flush_in_the_metric_and_in_store_info(
        self, tmp_path: Path, fake_api: Any, spans: Spans, reader: InMemoryMetricReader, gated: threading.Event, capsys: Any
    ) -> None:
        """With room for 4 spans and an exporter that does not take them, most of 12 calls' 24 spans are dropped:
        every one is either in the store or counted, flush() says False once, and store info reports them."""
        store = tmp_path / "store"
        before = _drops.snapshot().get(("processor_queue", "store"), 0)
        tracer.instrument(store=store, span_queue_size=4, meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            client = sync_client(fake_api)
            for _ in range(12):
                client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            ended = len(spans.calls()) + len(spans.attempts())  # what the application's own processor saw
            gated.set()
            assert tracer.flush(timeout_s=60) is False
            assert tracer.flush(timeout_s=60) is True  # the drops were reported once; nothing new since
        finally:
            tracer.uninstrument()

        assert ended == 24
        dropped = _dropped(reader, "processor_queue", "store") - before
        assert dropped > 0
        kept = Store(store).rows("SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM attempts)")[0][0]
        assert kept + dropped == ended  # nothing left the queue uncounted
        info = _store_info(store, capsys)
        assert info["dropped"]["by_stage"] == {"processor_queue": dropped}
        assert info["dropped"]["processes"] == 1

    def test_the_default_queue_is_longer_than_opentelemetrys_and_the_setting_is_checked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from tracer.capture._batch import DEFAULT_SPAN_QUEUE_SIZE, span_queue_size

        monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE", raising=False)
        assert span_queue_size(None) == DEFAULT_SPAN_QUEUE_SIZE > 2_048
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "5000")
        assert span_queue_size(None) == 5_000
        assert span_queue_size(7) == 7  # the argument wins over the variable
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
        with pytest.raises(ValueError, match="OTEL_BSP_MAX_QUEUE_SIZE='lots'"):
            tracer.instrument(store=False)
        with pytest.raises(ValueError, match="span_queue_size=0"):
            span_queue_size(0)


class TestWorkerQueue:
    def test_a_full_worker_deque_drops_new_items_and_counts_each(
        self, tmp_path: Path, fake_api: Any, spans: Spans, reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch, capsys: Any
    ) -> None:
        """With room for 3 deferred items while the worker is held, every item deferred after those is dropped and
        counted: exactly the deferred count less 3."""
        store = tmp_path / "store"
        before = _drops.snapshot().get(("worker_queue", ""), 0)
        deferred: list[Any] = []
        tracer.instrument(store=store, meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            client = sync_client(fake_api)
            client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)  # connections and clients warmed up
            real_defer = _worker.defer
            monkeypatch.setattr(_worker, "defer", lambda fn, *args: (deferred.append(fn), real_defer(fn, *args)))
            monkeypatch.setattr(_worker, "MAX_PENDING", 3)
            _worker.drain()
            with _worker._drain_lock:  # the worker thread waits here: nothing leaves the deque
                for _ in range(6):
                    client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            monkeypatch.undo()
            assert tracer.flush(timeout_s=60) is False
            assert tracer.flush(timeout_s=60) is True
            attempts = len(spans.attempts())
        finally:
            tracer.uninstrument()

        assert len(deferred) >= 12  # each call: its attempt span and its metrics
        dropped = _dropped(reader, "worker_queue", None) - before
        assert dropped == len(deferred) - 3
        assert attempts < 7  # some of the six calls' attempt spans were among them
        assert _store_info(store, capsys)["dropped"]["by_stage"] == {"worker_queue": dropped}


class TestExporter:
    def test_the_store_exporters_drops_are_in_the_metric_and_flush_says_false_once(
        self, tmp_path: Path, fake_api: Any, spans: Spans, reader: InMemoryMetricReader
    ) -> None:
        blocked = tmp_path / "a-file"
        blocked.write_text("")  # the store's directory cannot be made under a file
        before = _drops.snapshot().get(("exporter", "store"), 0)
        tracer.instrument(store=blocked / "store", meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            assert tracer.flush(timeout_s=30) is False
            assert tracer.flush(timeout_s=30) is True
        finally:
            tracer.uninstrument()
        assert _dropped(reader, "exporter", "store") - before == 2  # the call span and its attempt's


class TestDropRecords:
    def test_store_info_sums_every_process_and_lists_a_record_it_cannot_read(self, tmp_path: Path) -> None:
        from tracer.read import store_drops

        records = tmp_path / _drops.RECORD_DIR
        records.mkdir()
        (records / "a.json").write_text(json.dumps({"dropped": {"processor_queue": 5, "worker_queue": 1}}))
        (records / "b.json").write_text(json.dumps({"dropped": {"processor_queue": 2}}))
        (records / "c.json").write_text("{not json")
        found = store_drops(tmp_path)
        assert found == {"by_stage": {"processor_queue": 7, "worker_queue": 1}, "processes": 2, "unreadable": [str(records / "c.json")]}


class TestNeverBreaks:
    def test_a_failing_queue_check_never_reaches_the_application(
        self, tmp_path: Path, fake_api: Any, spans: Spans, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Zone 2 sabotaged: the queue check raises on the application's thread; the call still returns its answer
        and the span still goes to the store (the check is skipped, not the span)."""
        from tracer.capture import _instrumentor
        from tracer.capture._batch import CountingBatchSpanProcessor

        store = tmp_path / "store"
        tracer.instrument(store=store)
        try:
            assert _instrumentor._state is not None
            (processor,) = [s.inner for s in _instrumentor._state.processors if isinstance(s.inner, CountingBatchSpanProcessor)]
            monkeypatch.setattr(processor, "_waiting", lambda: 1 // 0)
            message = sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            assert message.content
            assert tracer.flush(timeout_s=30) is True
        finally:
            tracer.uninstrument()
        assert Store(store).rows("SELECT count(*) FROM calls") == [(1,)]
