"""Fixtures for the capture tests: the real SDK over real HTTP to the fake API, with `tracer.instrument()` on.

Spans: the SDK's native call spans go to the global TracerProvider, so the session joins (or installs) one SDK
provider and adds an in-memory exporter to it; `instrument()` adds its own processors to that same provider, as
it does in an application that registered one. Metrics: each test passes its own MeterProvider with an
in-memory reader to `instrument()`, so metric assertions see only that test's calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
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

API_KEY = "sk-ant-api03-claude-tracer-test-secret"
MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]

_exporter = InMemorySpanExporter()


def _provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_capture_tests_joined", False):
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        provider._capture_tests_joined = True  # type: ignore[attr-defined]
    return provider


class Telemetry:
    """What the instrumented calls of one test recorded."""

    def __init__(self, reader: InMemoryMetricReader, store: Path) -> None:
        self.reader = reader
        self.store = store

    def spans(self) -> list[ReadableSpan]:
        from tracer.capture import _worker

        _worker.drain()  # attempt spans are made on the worker thread
        return list(_exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if (s.attributes or {}).get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_CALL]

    def call(self) -> ReadableSpan:
        (only,) = self.calls()
        return only

    def attempts(self, call: ReadableSpan | None = None) -> list[ReadableSpan]:
        out = [s for s in self.spans() if (s.attributes or {}).get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_ATTEMPT]
        if call is not None:
            out = [s for s in out if s.parent is not None and s.parent.span_id == call.context.span_id]
        return sorted(out, key=lambda s: (s.attributes or {}).get(semconv.HTTP_REQUEST_RESEND_COUNT, 0))  # first attempts have none

    def metric(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        from tracer.capture import _worker

        _worker.drain()  # metrics are recorded on the worker thread
        return metric_points(self.reader, name)

    def clear(self) -> None:
        _exporter.clear()


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[Telemetry]:
    """`tracer.instrument()` on for the test (store under tmp_path, metrics to an in-memory reader)."""
    _provider()
    _exporter.clear()
    reader = InMemoryMetricReader()
    store = tmp_path / "store"
    tracer.instrument(store=store, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        yield Telemetry(reader, store)
    finally:
        tracer.uninstrument()
        _exporter.clear()


def sync_client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, **options)


def async_client(api: Any, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.base_url, **options)


def script(outcomes: str) -> dict[str, Any]:
    return {"extra_headers": {"x-fake-script": outcomes}}
