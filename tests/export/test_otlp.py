"""OTLP export over loopback to real receivers (gRPC and HTTP/protobuf): what arrives, from where it is
configured, what happens when nothing listens, and the store and OTLP fed the same spans at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.export.receivers import RECEIVERS, GrpcReceiver, HttpReceiver, closed_port
from tests.store.spans import call
from tracer import semconv
from tracer.export import GuardedMetricExporter, GuardedSpanExporter, otlp_exporters
from tracer.read import Store
from tracer.store import StoreExporter

PROTOCOLS = list(RECEIVERS)
MODEL = "claude-sonnet-4-5"


@pytest.fixture(params=PROTOCOLS)
def receiver(request) -> Iterator[GrpcReceiver | HttpReceiver]:
    with RECEIVERS[request.param]() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_otlp_environment(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                 "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.delenv(name, raising=False)


def send_calls(span_exporter, *keys: str, attempts: int = 3, service: str = "otlp-tests") -> None:
    """Calls (each with `attempts` attempt children, all but the last answered 429) through a real provider."""
    provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    tracer = provider.get_tracer(semconv.SCOPE)
    for key in keys:
        call(tracer, key, attempts=attempts, model=MODEL)
    assert provider.force_flush(10_000)
    provider.shutdown()


def send_metrics(metric_exporter, service: str = "otlp-tests") -> None:
    """The instruments capture records, with its names and units, recorded for one call of three attempts."""
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({semconv.SERVICE_NAME: service}))
    meter = provider.get_meter(semconv.SCOPE)
    duration = meter.create_histogram(semconv.METRIC_OPERATION_DURATION, unit="s")
    tokens = meter.create_histogram(semconv.METRIC_TOKEN_USAGE, unit="{token}")
    attempts = meter.create_counter(semconv.METRIC_ATTEMPTS, unit="{attempt}")
    labels = {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.GEN_AI_OPERATION_NAME: "chat"}
    duration.record(2.5, labels)
    tokens.record(1300, {**labels, semconv.GEN_AI_TOKEN_TYPE: "input"})
    tokens.record(250, {**labels, semconv.GEN_AI_TOKEN_TYPE: "output"})
    attempts.add(2, {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.HTTP_RESPONSE_STATUS_CODE: 429, semconv.ERROR_TYPE: "429"})
    attempts.add(1, {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.HTTP_RESPONSE_STATUS_CODE: 200})
    assert provider.force_flush(10_000)
    provider.shutdown()


def check_calls_arrived(receiver, keys: tuple[str, ...], attempts: int = 3, service: str = "otlp-tests") -> None:
    expected = len(keys) * (1 + attempts)
    spans = receiver.wait_for(lambda: (s := receiver.spans()) and len(s) >= expected and s)
    assert len(spans) == expected
    calls = [s for s in spans if s.name == semconv.SPAN_MESSAGES_CREATE]
    assert sorted(s.attributes[semconv.TAG_PREFIX + "key"] for s in calls) == sorted(keys)
    for span in calls:
        assert span.attributes[semconv.SPAN_TYPE] == semconv.SPAN_TYPE_CALL
        assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
        assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1300
        assert span.attributes[semconv.COST_USD_EXACT] == "0.0105"
        assert span.attributes[semconv.HTTP_REQUEST_RESEND_COUNT] == attempts - 1
        assert span.resource[semconv.SERVICE_NAME] == service
        assert span.scope == semconv.SCOPE
        children = sorted((s for s in spans if s.parent_span_id == span.span_id), key=lambda s: s.start_ns)
        assert [s.name for s in children] == [semconv.SPAN_ATTEMPT] * attempts
        assert {s.trace_id for s in children} == {span.trace_id}
        assert [s.attributes[semconv.HTTP_REQUEST_RESEND_COUNT] for s in children] == list(range(attempts))
        assert [s.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] for s in children] == [429] * (attempts - 1) + [200]
        assert {s.attributes[semconv.SPAN_TYPE] for s in children} == {semconv.SPAN_TYPE_ATTEMPT}


def check_metrics_arrived(receiver) -> None:
    duration = receiver.wait_for_metric(semconv.METRIC_OPERATION_DURATION)[-1]
    assert (duration.kind, duration.unit) == ("histogram", "s")
    (point,) = duration.points
    assert (point.count, point.sum) == (1, 2.5)
    assert point.attributes == {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.GEN_AI_OPERATION_NAME: "chat"}
    tokens = receiver.wait_for_metric(semconv.METRIC_TOKEN_USAGE)[-1]
    assert {p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p.sum for p in tokens.points} == {"input": 1300, "output": 250}
    attempts = receiver.wait_for_metric(semconv.METRIC_ATTEMPTS)[-1]
    assert (attempts.kind, attempts.unit) == ("sum", "{attempt}")
    by_status = {p.attributes[semconv.HTTP_RESPONSE_STATUS_CODE]: p.value for p in attempts.points}
    assert by_status == {429: 2, 200: 1}
    assert duration.resource[semconv.SERVICE_NAME] == "otlp-tests"


class TestWhatArrives:
    def test_call_and_attempt_spans_arrive_with_their_names_attributes_and_parents(self, receiver):
        spans, _ = otlp_exporters(receiver.endpoint, receiver.protocol)
        send_calls(spans, "a", "b")
        check_calls_arrived(receiver, ("a", "b"))
        if receiver.protocol == "http/protobuf":
            assert set(receiver.paths) == {"/v1/traces"}

    def test_metrics_arrive_with_their_names_units_attributes_and_values(self, receiver):
        _, metrics = otlp_exporters(receiver.endpoint, receiver.protocol)
        send_metrics(metrics)
        check_metrics_arrived(receiver)
        if receiver.protocol == "http/protobuf":
            assert set(receiver.paths) == {"/v1/metrics"}

    def test_the_exporters_are_guarded(self, receiver):
        spans, metrics = otlp_exporters(receiver.endpoint, receiver.protocol)
        assert isinstance(spans, GuardedSpanExporter) and isinstance(metrics, GuardedMetricExporter)
        assert receiver.endpoint in spans.guard.where and receiver.protocol in spans.guard.where


class TestConfiguration:
    def test_the_endpoint_from_OTEL_EXPORTER_OTLP_ENDPOINT(self, receiver, monkeypatch):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", receiver.protocol)
        spans, metrics = otlp_exporters()
        send_calls(spans, "from-env", attempts=1)
        send_metrics(metrics)
        check_calls_arrived(receiver, ("from-env",), attempts=1)
        check_metrics_arrived(receiver)

    def test_grpc_is_the_default_protocol_off_port_4318(self):
        with GrpcReceiver() as receiver:
            spans, _ = otlp_exporters(receiver.endpoint)
            send_calls(spans, "default")
            check_calls_arrived(receiver, ("default",))

    def test_headers_in_the_OTEL_EXPORTER_OTLP_HEADERS_form_reach_the_collector(self, receiver):
        spans, metrics = otlp_exporters(receiver.endpoint, receiver.protocol, headers="x-tenant=acme,authorization=Bearer%20t")
        send_calls(spans, "with-headers", attempts=1)
        send_metrics(metrics)
        check_metrics_arrived(receiver)
        assert len(receiver.headers) >= 2  # spans, metrics (and metrics again at shutdown)
        for headers in receiver.headers:
            assert headers["x-tenant"] == "acme" and headers["authorization"] == "Bearer t"

    def test_an_http_endpoint_that_already_names_the_signal_path_is_kept(self):
        with HttpReceiver() as receiver:
            spans, _ = otlp_exporters(receiver.endpoint + "/v1/traces", "http/protobuf")
            send_calls(spans, "full-url", attempts=1)
            check_calls_arrived(receiver, ("full-url",), attempts=1)
            assert receiver.paths == ["/v1/traces"]


class TestUnreachable:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_a_closed_port_gives_one_warning_never_raises_and_returns_promptly(self, protocol, caplog):
        endpoint = f"http://127.0.0.1:{closed_port()}"
        spans, metrics = otlp_exporters(endpoint, protocol)
        batch = finished_spans()
        caplog.set_level(logging.DEBUG)
        started = time.perf_counter()
        results = [spans.export(batch) for _ in range(5)]
        first_export_s = time.perf_counter() - started
        # Without the guard's probe, the OTLP exporters retry a refused connection for about 7 s.
        assert first_export_s < 1.0
        assert all(result.name == "FAILURE" for result in results)
        send_metrics(metrics)  # through a real reader: force_flush reports the failure, nothing raises
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len([r for r in warnings if "spans" in r.getMessage()]) == 1
        assert len([r for r in warnings if "metrics" in r.getMessage()]) == 1
        assert len(warnings) == 2, [r.getMessage() for r in warnings]
        assert endpoint in warnings[0].getMessage() and "OTEL_EXPORTER_OTLP_ENDPOINT" in warnings[0].getMessage()
        assert spans.guard.dropped_batches == 5

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_the_applications_spans_still_end_promptly_through_a_batch_processor(self, protocol):
        spans, _ = otlp_exporters(f"http://127.0.0.1:{closed_port()}", protocol)
        started = time.perf_counter()
        send_calls(spans, *[str(i) for i in range(50)])  # force_flush and shutdown included
        assert time.perf_counter() - started < 2.0

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_spans_flow_again_once_the_collector_comes_up(self, protocol, caplog):
        caplog.set_level(logging.INFO, logger="tracer.export")
        now = [1000.0]
        port = closed_port()
        spans, _ = otlp_exporters(f"http://127.0.0.1:{port}", protocol)
        spans.guard.clock = lambda: now[0]
        assert spans.export(finished_spans()).name == "FAILURE"
        with RECEIVERS[protocol](port) as receiver:
            assert spans.export(finished_spans()).name == "FAILURE"  # still in the back-off period: not tried
            now[0] += spans.guard.first_backoff_s
            assert spans.export(finished_spans()).name == "SUCCESS"
            assert len(receiver.wait_for(lambda: len(s := receiver.spans()) == 3 and s)) == 3
        messages = [r.getMessage() for r in caplog.records if r.name == "tracer.export"]
        assert [m for m in messages if "cannot export" in m] == [messages[0]]
        assert "works again" in messages[-1]


def finished_spans():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    call(provider.get_tracer("t"), "x", attempts=2)
    return memory.get_finished_spans()


class TestStoreAndOtlpAtOnce:
    def test_the_same_spans_reach_the_store_and_the_collector(self, receiver, tmp_path):
        otlp, _ = otlp_exporters(receiver.endpoint, receiver.protocol)
        provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: "both"}))
        provider.add_span_processor(BatchSpanProcessor(StoreExporter(tmp_path)))
        provider.add_span_processor(BatchSpanProcessor(otlp))
        tracer = provider.get_tracer(semconv.SCOPE)
        keys = [f"k{i}" for i in range(20)]
        for i, key in enumerate(keys):
            call(tracer, key, attempts=1 + i % 3, model=MODEL)
        assert provider.force_flush(10_000)
        provider.shutdown()

        expected = sum(2 + i % 3 for i in range(20))  # each call and its attempts
        received = receiver.wait_for(lambda: (s := receiver.spans()) and len(s) >= expected and s)
        with Store(tmp_path) as store:
            stored_calls = set(store.rows("SELECT trace_id, span_id FROM calls"))
            stored_attempts = set(store.rows("SELECT trace_id, span_id, call_span_id FROM attempts"))
            services = store.rows("SELECT DISTINCT service_name FROM calls")
        wire_calls = {(s.trace_id, s.span_id) for s in received if s.name == semconv.SPAN_MESSAGES_CREATE}
        wire_attempts = {(s.trace_id, s.span_id, s.parent_span_id) for s in received if s.name == semconv.SPAN_ATTEMPT}
        assert len(wire_calls) == 20 and len(wire_attempts) == expected - 20
        assert stored_calls == wire_calls
        assert stored_attempts == wire_attempts
        assert services == [("both",)]

    def test_an_unreachable_collector_does_not_cost_the_store_a_span(self, tmp_path):
        otlp, _ = otlp_exporters(f"http://127.0.0.1:{closed_port()}", "grpc")
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(StoreExporter(tmp_path)))
        provider.add_span_processor(BatchSpanProcessor(otlp))
        tracer = provider.get_tracer(semconv.SCOPE)
        for i in range(100):
            call(tracer, str(i), attempts=2)
        assert provider.force_flush(10_000)
        provider.shutdown()
        with Store(tmp_path) as store:
            assert store.rows("SELECT count(*) FROM calls") == [(100,)]
            assert store.rows("SELECT count(*) FROM attempts") == [(200,)]
