"""Fixtures for the fault tests: the real SDK over real HTTP to the fake API, `tracer.instrument()` on, finished
spans kept in memory by a processor of the application's own (on the global provider, so it outlives
`uninstrument()`). Kept apart from tests/capture's fixtures: pytest imports that conftest under its own name, and a
second copy imported from here would hold a second, unjoined exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracer
from tracer import semconv

MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]

_memory = InMemorySpanExporter()


def join_provider() -> TracerProvider:
    """The global SDK provider (installed if there is none), with this module's in-memory processor on it once."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()  # type: ignore[assignment]
    if not getattr(provider, "_fault_tests_joined", False):
        provider.add_span_processor(SimpleSpanProcessor(_memory))
        provider._fault_tests_joined = True  # type: ignore[attr-defined]
    return provider


class Spans:
    """The finished spans the application's own processor saw."""

    def all(self) -> list[ReadableSpan]:
        from tracer.capture import _worker

        _worker.drain()  # attempt spans are made on the worker thread
        return list(_memory.get_finished_spans())

    def of_type(self, kind: str, drain: bool = True) -> list[ReadableSpan]:
        spans = self.all() if drain else list(_memory.get_finished_spans())
        return [s for s in spans if (s.attributes or {}).get(semconv.SPAN_TYPE) == kind]

    def calls(self) -> list[ReadableSpan]:
        return self.of_type(semconv.SPAN_TYPE_CALL)

    def call(self) -> ReadableSpan:
        (only,) = self.calls()
        return only

    def clear(self) -> None:
        _memory.clear()


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def spans() -> Iterator[Spans]:
    """The application's spans, cleared before and after; `tracer.instrument()` is up to the test."""
    join_provider()
    _memory.clear()
    yield Spans()
    _memory.clear()


@pytest.fixture
def instrumented(spans: Spans, tmp_path: Path) -> Iterator[Spans]:
    """`tracer.instrument()` on for the test (store under tmp_path)."""
    tracer.instrument(store=tmp_path / "store")
    try:
        yield spans
    finally:
        tracer.uninstrument()


def sync_client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test-faults", base_url=api.base_url, **options)
