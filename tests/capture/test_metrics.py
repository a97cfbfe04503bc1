"""GenAI metrics with the semantic conventions' names, units and buckets; our attempt, retry, cost and rate-limit
metrics with the labels the Grafana dashboards query."""

from __future__ import annotations

from typing import Any

import pytest

from tracer import semconv

from .conftest import HELLO, MODEL, script, sync_client


def by(points: list[tuple[dict[str, Any], Any]], **labels: Any) -> list[Any]:
    return [p for attrs, p in points if all(attrs.get(k.replace("__", ".")) == v for k, v in labels.items())]


class TestGenAIMetrics:
    def test_duration_and_token_usage_histograms(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        messages = [client.messages.create(model=MODEL, max_tokens=32, messages=HELLO) for _ in range(3)]
        (duration,) = telemetry.metric(semconv.METRIC_OPERATION_DURATION)
        attrs, point = duration
        assert attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL and attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
        assert point.count == 3
        assert tuple(point.explicit_bounds) == semconv.DURATION_BUCKETS
        tokens = telemetry.metric(semconv.METRIC_TOKEN_USAGE)
        (out,) = [p for a, p in tokens if a[semconv.GEN_AI_TOKEN_TYPE] == "output"]
        assert out.sum == sum(m.usage.output_tokens for m in messages)
        assert tuple(out.explicit_bounds) == tuple(float(b) for b in semconv.TOKEN_BUCKETS)

    def test_time_to_first_chunk_for_streams(self, fake_api: Any, telemetry: Any) -> None:
        with sync_client(fake_api).messages.stream(model=MODEL, max_tokens=32, messages=HELLO) as stream:
            stream.get_final_message()
        ((attrs, point),) = telemetry.metric(semconv.METRIC_TIME_TO_FIRST_CHUNK)
        assert point.count == 1 and attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL


class TestOurMetrics:
    def test_attempts_by_status_and_retries_by_cause(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("429:1,529,ok"))
        attempts = {a[semconv.HTTP_RESPONSE_STATUS_CODE]: p.value for a, p in telemetry.metric(semconv.METRIC_ATTEMPTS)}
        assert attempts == {429: 1, 529: 1, 200: 1}
        retries = {a[semconv.ERROR_TYPE]: p.value for a, p in telemetry.metric(semconv.METRIC_RETRIES)}
        assert retries == {"429": 1, "529": 1}

    def test_cost_counter_by_model_and_tag_equals_the_spans(self, fake_api: Any, telemetry: Any) -> None:
        import tracer

        client = sync_client(fake_api)
        with tracer.tags(feature="search"):
            for _ in range(2):
                client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        ((attrs, point),) = telemetry.metric(semconv.METRIC_COST)
        assert attrs == {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.TAG_PREFIX + "feature": "search"}
        assert point.value == pytest.approx(sum(c.attributes[semconv.COST_USD] for c in telemetry.calls()))

    def test_rate_limit_remaining_gauges(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        (attempt,) = telemetry.attempts()
        gauges = {a[semconv.METRIC_ATTR_RATELIMIT_KIND]: p.value for a, p in telemetry.metric(semconv.METRIC_RATELIMIT_REMAINING)}
        assert set(gauges) == set(semconv.RATELIMIT_KINDS)
        assert gauges["requests"] == attempt.attributes[semconv.ratelimit_attribute("requests", "remaining")]

    def test_an_unknown_model_counts_as_unpriced_never_zero(self, fake_api: Any, telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from tracer import cost

        # A model the fake API serves but the price table does not know (mock: every real model has a price).
        table = cost.default_table()
        monkeypatch.setattr(table, "cost_of", lambda *a, **k: None)
        monkeypatch.setattr(table, "resolve_model", lambda model: None)
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        call = telemetry.call()
        assert call.attributes[semconv.COST_UNPRICED] is True and semconv.COST_USD not in call.attributes
        assert [p.value for _, p in telemetry.metric(semconv.METRIC_UNPRICED_CALLS)] == [1]
        assert telemetry.metric(semconv.METRIC_COST) == []


def test_latency_points_keep_an_exemplar_of_their_trace(fake_api: Any, telemetry: Any) -> None:
    """Recorded off the caller's thread, yet the duration histogram's exemplar names the call span (Grafana's
    trace link from a latency point)."""
    sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
    call = telemetry.call()
    ((_, point),) = telemetry.metric(semconv.METRIC_OPERATION_DURATION)
    assert [(e.trace_id, e.span_id) for e in point.exemplars] == [(call.context.trace_id, call.context.span_id)]


def test_no_meter_provider_means_nothing_is_recorded_until_one_is_registered(fake_api: Any) -> None:
    """Without a MeterProvider the instruments are the API's proxies: nothing is computed or queued per call. Once
    the application registers one, the proxies get real instruments and the calls after that are recorded."""
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import tracer
    from tests.conftest import metric_points
    from tracer.capture import _metrics, _worker

    proxy = _ProxyMeterProvider()  # what `metrics.get_meter_provider()` is before the application sets one
    tracer.instrument(store=False)
    try:
        _metrics.configure(proxy.get_meter(semconv.SCOPE))
        queued: list[Any] = []
        real_defer = _worker.defer
        _worker.defer = lambda fn, *args: (queued.append(fn), real_defer(fn, *args))  # type: ignore[assignment]
        try:
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
            _worker.drain()
            assert _metrics._record_call not in queued
            reader = InMemoryMetricReader()
            proxy.on_set_meter_provider(MeterProvider(metric_readers=[reader]))
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
            _worker.drain()
            assert _metrics._record_call in queued
            assert len(metric_points(reader, semconv.METRIC_OPERATION_DURATION)) == 1
            assert metric_points(reader, semconv.METRIC_ATTEMPTS)
        finally:
            _worker.defer = real_defer  # type: ignore[assignment]
    finally:
        tracer.uninstrument()
