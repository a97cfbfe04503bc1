"""Cost that survives sampling: with `ParentBased(TraceIdRatioBased(0.01))` the SDK's call spans are dropped for
almost every call, yet the cost and token metrics and the store's totals equal those of an unsampled run of the same
workload (the calls are billed either way)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

import tracer
from tests.capture.conftest import API_KEY
from tests.conftest import metric_points
from tracer import semconv
from tracer.fakeapi import FakeAPI
from tracer.read import Store

CALLS = 24


def workload(api: FakeAPI, provider: TracerProvider) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, open_telemetry={"tracer_provider": provider})
    with tracer.tags(feature="sampling"):
        for i in range(CALLS):
            messages = [{"role": "user", "content": f"question {i}"}]
            if i % 3 == 0:
                with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=messages) as s:
                    s.get_final_message()
            elif i % 3 == 1:
                client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=messages)
            else:  # a declined hop billed at Fable's rates, then Opus: the iterations count too
                client.beta.messages.create(
                    model="claude-fable-5", max_tokens=64, messages=messages, fallbacks=[{"model": "claude-opus-4-8"}],
                    extra_headers={"anthropic-beta": "server-side-fallback-2026-07-01", "x-fake-script": "refuse:bio"},
                )  # fmt: skip


def run(sampler: Any, store: Path) -> tuple[Decimal, float, int, tuple[Any, ...], int]:
    """The workload under `sampler`: cost metric total, input+output token metric total, call spans kept, the
    store's totals, and how many calls the store has."""
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    tracer.instrument(store=store, tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        with FakeAPI(seed=0, latency_scale=0.0) as api:
            workload(api, provider)
        assert tracer.flush()
        cost = sum((Decimal(str(p.value)) for _, p in metric_points(reader, semconv.METRIC_COST)), Decimal(0))
        tokens = sum(p.sum for _, p in metric_points(reader, semconv.METRIC_TOKEN_USAGE))
        kept = sum(1 for s in exporter.get_finished_spans()
                   if (s.attributes or {}).get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_CALL)  # fmt: skip
    finally:
        tracer.uninstrument()
        provider.shutdown()
    (totals,) = Store(store).rows(
        "SELECT COUNT(*), SUM(cost_usd), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens) FROM calls"
    )
    return cost.quantize(Decimal("1e-9")), tokens, kept, totals, totals[0]


def test_metrics_and_store_totals_count_every_call(tmp_path: Path) -> None:
    everything = run(ALWAYS_ON, tmp_path / "all")
    sampled = run(ParentBased(TraceIdRatioBased(0.01)), tmp_path / "sampled")
    assert everything[2] == CALLS and sampled[2] < CALLS // 4  # the sampler really dropped the call spans
    assert everything[4] == sampled[4] == CALLS
    assert sampled[0] == everything[0] > 0  # cost metric
    assert sampled[1] == everything[1] > 0  # token metric
    assert sampled[3] == everything[3]  # store totals: calls, cost, tokens
