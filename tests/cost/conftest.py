"""Fixtures for the cost tests that drive instrumented calls: the real SDK over real HTTP to the fake API,
`tracer.instrument()` on, spans in memory, metrics to an in-memory reader, a store under tmp_path.

The capture tests' `Telemetry` is reused; the exporter is this directory's own, joined to the same global provider
(pytest may import the capture conftest under another module name, whose exporter this one must not depend on).
"""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.capture.conftest import Telemetry

_exporter = InMemorySpanExporter()


def _provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_cost_tests_joined", False):
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        provider._cost_tests_joined = True  # type: ignore[attr-defined]
    return provider


class CostTelemetry(Telemetry):
    def spans(self) -> list[ReadableSpan]:
        from tracer.capture import _worker

        _worker.drain()
        return list(_exporter.get_finished_spans())

    def clear(self) -> None:
        _exporter.clear()


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[CostTelemetry]:
    _provider()
    _exporter.clear()
    reader = InMemoryMetricReader()
    store = tmp_path / "store"
    tracer.instrument(store=store, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        yield CostTelemetry(reader, store)
    finally:
        tracer.uninstrument()
        _exporter.clear()

