"""Fixtures for the resilience tests: recorded telemetry (events as spans, metrics) and a manual clock.

Events go through the global OpenTelemetry providers (tracer._events uses the global tracer), so the session
installs SDK providers once (or joins the ones already installed) with in-memory exporters; each test then sees
only the spans finished during it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import metric_points
from tracer import semconv
from tracer.resilience import ManualClock

_exporter = InMemorySpanExporter()
_reader: InMemoryMetricReader | None = None


class _Switch(SpanProcessor):
    """A span processor a test can point somewhere (a StoreExporter) and back, on the process-wide provider."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.target is not None:
            self.target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.target is not None:
            self.target.on_end(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.target.force_flush(timeout_millis) if self.target is not None else True


_switch = _Switch()


def _install() -> None:
    global _reader
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_resilience_tests_joined", False):
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        provider.add_span_processor(_switch)
        provider._resilience_tests_joined = True  # type: ignore[attr-defined]
    if _reader is None and not isinstance(metrics.get_meter_provider(), MeterProvider):
        _reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))


class Recorded:
    """What the code under test recorded: event spans by kind, and metric points by name."""

    def spans(self) -> list[ReadableSpan]:
        return list(_exporter.get_finished_spans())

    def events(self, kind: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for span in self.spans():
            attrs = dict(span.attributes or {})
            if attrs.get(semconv.SPAN_TYPE) != semconv.SPAN_TYPE_EVENT:
                continue
            if kind is not None and attrs.get(semconv.EVENT_KIND) != kind:
                continue
            if name is not None and attrs.get(semconv.EVENT_NAME) != name:
                continue
            out.append(attrs)
        return out

    def transitions(self, name: str) -> list[tuple[str, str]]:
        return [
            (e[semconv.EVENT_FROM_STATE], e[semconv.EVENT_TO_STATE])
            for e in self.events(semconv.EVENT_KIND_BREAKER_TRANSITION, name)
        ]

    def metric_points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) for every point of `metric` collected now; empty when metrics are not ours."""
        if _reader is None:
            pytest.skip("another test installed the global MeterProvider; metric assertions need ours")
        return metric_points(_reader, metric)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    _install()
    _exporter.clear()
    yield Recorded()
    _exporter.clear()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    """Event spans also go to a real store (StoreExporter) under tmp_path while the test runs."""
    from tracer.store import StoreExporter

    _install()
    exporter = StoreExporter(tmp_path / "store")
    _switch.target = SimpleSpanProcessor(exporter)
    try:
        yield tmp_path / "store"
    finally:
        _switch.target = None
        exporter.shutdown()


@pytest.fixture
def fake_api() -> Iterator[Any]:
    """The project's fake Claude API on loopback (real HTTP, scripted faults via `x-fake-script`)."""
    fakeapi = pytest.importorskip("tracer.fakeapi", reason="tracer.fakeapi has not landed yet")
    with fakeapi.FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api
