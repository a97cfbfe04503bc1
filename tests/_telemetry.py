"""What instrumented test calls recorded: the one in-memory span exporter that every test area reads, and the
`Telemetry` view over it that the area fixtures hand to tests.

Spans: the SDK's native call spans go to the global TracerProvider, so the session joins (or installs) one SDK
provider and adds this module's in-memory exporter to it once; `instrument()` adds its own processors to that same
provider, as it does in an application that registered one, and a processor of the application's own outlives
`uninstrument()`. Metrics: each test passes its own MeterProvider with an in-memory reader to `instrument()`, so
metric assertions see only that test's calls.

Imported as `tests._telemetry` only (never as a conftest, which pytest may import under another name): so there is
one exporter in the session, whatever the areas that run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracer
from tests.conftest import metric_points
from tracer import semconv

EXPORTER = InMemorySpanExporter()


def join_provider() -> TracerProvider:
    """The global SDK provider (installed if there is none), with `EXPORTER`'s processor on it once."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()  # type: ignore[assignment]
    if not getattr(provider, "_tests_joined", False):
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        provider._tests_joined = True  # type: ignore[attr-defined]
    return provider


def finished_spans(drain: bool = True) -> list[ReadableSpan]:
    """Every span finished since the last clear; first (`drain`) the worker's queue, where attempt spans are made."""
    if drain:
        from tracer.capture import _worker

        _worker.drain()
    return list(EXPORTER.get_finished_spans())


def of_type(spans: list[ReadableSpan], kind: str) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get(semconv.SPAN_TYPE) == kind]


class Telemetry:
    """What the instrumented calls of one test recorded: spans, and metrics when a reader was given."""

    def __init__(self, reader: InMemoryMetricReader | None = None, store: Path | None = None) -> None:
        self.reader = reader
        self.store = store

    def spans(self) -> list[ReadableSpan]:
        return finished_spans()

    def all(self) -> list[ReadableSpan]:
        return finished_spans()

    def of_type(self, kind: str, drain: bool = True) -> list[ReadableSpan]:
        return of_type(finished_spans(drain), kind)

    def calls(self) -> list[ReadableSpan]:
        return self.of_type(semconv.SPAN_TYPE_CALL)

    def call(self) -> ReadableSpan:
        (only,) = self.calls()
        return only

    def attempts(self, call: ReadableSpan | None = None) -> list[ReadableSpan]:
        out = self.of_type(semconv.SPAN_TYPE_ATTEMPT)
        if call is not None:
            out = [s for s in out if s.parent is not None and s.parent.span_id == call.context.span_id]
        return sorted(out, key=lambda s: (s.attributes or {}).get(semconv.HTTP_REQUEST_RESEND_COUNT, 0))  # first attempts have none

    def metric(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        from tracer.capture import _worker

        _worker.drain()  # metrics are recorded on the worker thread
        assert self.reader is not None, "this fixture gave instrument() no metric reader"
        return metric_points(self.reader, name)

    def clear(self) -> None:
        EXPORTER.clear()


@contextmanager
def recording() -> Iterator[Telemetry]:
    """The application's spans, cleared before and after; `tracer.instrument()` is up to the caller."""
    join_provider()
    EXPORTER.clear()
    try:
        yield Telemetry()
    finally:
        EXPORTER.clear()


@contextmanager
def instrumented(store: Path | None, *, metrics: bool = True) -> Iterator[Telemetry]:
    """`tracer.instrument()` on for the block (the store at `store`; with `metrics`, an in-memory metric reader)."""
    join_provider()
    EXPORTER.clear()
    reader = InMemoryMetricReader() if metrics else None
    options: dict[str, Any] = {"meter_provider": MeterProvider(metric_readers=[reader])} if reader is not None else {}
    tracer.instrument(store=store if store is not None else False, **options)
    try:
        yield Telemetry(reader, store)
    finally:
        tracer.uninstrument()
        EXPORTER.clear()


# The fixtures of the areas that drive instrumented calls (a conftest imports them: `from tests._telemetry import
# fake_api, telemetry`).


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[Telemetry]:
    """`tracer.instrument()` on for the test (store under tmp_path, metrics to an in-memory reader)."""
    with instrumented(tmp_path / "store") as recorded:
        yield recorded
