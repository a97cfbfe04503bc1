"""Every metric, label and attribute name the dashboards and the collector/Tempo configs use is one the tracer emits.

Names come from tracer/semconv.py through tests/grafana/promnames.py (the OpenTelemetry-to-Prometheus
translation), so renaming a constant without updating the dashboards fails here instead of blanking a panel.
"""

from __future__ import annotations

import re

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from tracer import semconv

from . import promnames, stack

# Labels Prometheus and the exporters add by themselves (not attributes of ours).
PROMETHEUS_LABELS = {"job", "instance", "le", "otel_scope_name", "otel_scope_version"}
# Labels Tempo's metrics-generator puts on span metrics besides the configured dimensions.
TEMPO_INTRINSIC_LABELS = {"service", "span_name", "span_kind", "status_code", "status_message", "le", "job", "instance"}
TEMPO_METRIC_PREFIXES = ("traces_spanmetrics_", "traces_service_graph_")
# Prometheus' own series of its alert rules (deploy/prometheus/rules, from tracer/alerts.py) and their labels.
ALERT_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}
ALERT_LABELS = {"alertname", "alertstate", "severity"}


def _exposed_names(kind: str, name: str, unit: str) -> set[str]:
    """The sample names the installed opentelemetry-exporter-prometheus writes for one instrument."""
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    try:
        meter = provider.get_meter(semconv.SCOPE)
        attrs = {semconv.GEN_AI_REQUEST_MODEL: "m"}
        if kind == "histogram":
            meter.create_histogram(name, unit=unit).record(1.0, attrs)
        elif kind == "counter":
            meter.create_counter(name, unit=unit).add(1, attrs)
        else:
            meter.create_gauge(name, unit=unit).set(1, attrs)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    return {line.split("{")[0] for line in text.splitlines() if line and not line.startswith("#")} - {"target_info"}


class TestTranslation:
    @pytest.mark.parametrize("metric", sorted(semconv.METRIC_INSTRUMENTS))
    def test_matches_the_installed_prometheus_exporter(self, metric):
        kind, unit = semconv.METRIC_INSTRUMENTS[metric]
        assert _exposed_names(kind, metric, unit) == set(promnames.series(metric, unit, kind))

    @pytest.mark.parametrize("metric", sorted(semconv.METRIC_INSTRUMENTS))
    def test_the_collector_exposes_the_same_name(self, metric):
        kind, unit = semconv.METRIC_INSTRUMENTS[metric]
        assert promnames.collector_name(metric, unit, kind) == promnames.scrape_name(metric, unit, kind)

    @pytest.mark.parametrize(
        ("name", "unit", "kind", "scrape", "collector"),
        [
            ("gen_ai.client.operation.duration", "s", "histogram", "gen_ai_client_operation_duration_seconds", None),
            ("tracer.client.cost", "USD", "counter", "tracer_client_cost_USD", None),
            ("gen_ai.client.token.usage", "{token}", "histogram", "gen_ai_client_token_usage", None),
            ("x.requests.total", "{request}", "counter", "x_requests", None),
            ("x.bytes", "By/s", "gauge", "x_bytes_bytes_per_second", "x_bytes_per_second"),
            ("x.share", "1", "gauge", "x_share", "x_share_ratio"),
        ],
    )
    def test_known_cases(self, name, unit, kind, scrape, collector):
        assert promnames.scrape_name(name, unit, kind) == scrape
        assert promnames.collector_name(name, unit, kind) == (collector or scrape)

    def test_no_gauge_has_unit_one(self):
        """The two paths disagree on gauges of unit "1" (the collector appends _ratio)."""
        assert not [m for m, (kind, unit) in semconv.METRIC_INSTRUMENTS.items() if kind == "gauge" and unit == "1"]

    def test_labels(self):
        assert promnames.label(semconv.GEN_AI_REQUEST_MODEL) == "gen_ai_request_model"
        assert promnames.label(semconv.HTTP_RESPONSE_STATUS_CODE) == "http_response_status_code"


def _tracer_queries():
    return [
        q
        for q in stack.queries("prometheus")
        if not any(m.startswith(TEMPO_METRIC_PREFIXES) for m in stack.promql_metrics(q.text))
    ]


def _span_metric_queries():
    return [
        q
        for q in stack.queries("prometheus")
        if any(m.startswith(TEMPO_METRIC_PREFIXES) for m in stack.promql_metrics(q.text))
    ]


def _variable_queries() -> list[str]:
    out = []
    for dash in stack.dashboards().values():
        for var in dash.get("templating", {}).get("list", []):
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if var.get("type") == "query" and query:
                out.append(query)
    return out


class TestDashboardsUseEmittedNames:
    def test_there_are_queries_to_check(self):
        assert len(_tracer_queries()) >= 15 and _span_metric_queries() and stack.queries("tempo")

    @pytest.mark.parametrize("query", _tracer_queries(), ids=lambda q: f"{q.panel}/{q.ref}")
    def test_tracer_metric_panels_select_emitted_series_and_labels(self, query):
        series = set(promnames.tracer_series()) | ALERT_SERIES
        labels = set(promnames.semconv_attributes()) | PROMETHEUS_LABELS | ALERT_LABELS
        metrics = stack.promql_metrics(query.text)
        assert metrics, query.text
        assert metrics <= set(series), f"not emitted by the tracer: {metrics - set(series)}"
        assert stack.promql_labels(query.text) <= labels, (
            f"not a semconv attribute: {stack.promql_labels(query.text) - labels}"
        )

    @pytest.mark.parametrize("query", _span_metric_queries(), ids=lambda q: f"{q.panel}/{q.ref}")
    def test_span_metric_panels_use_tempo_dimensions(self, query):
        dimensions = stack.tempo_config()["metrics_generator"]["processor"]["span_metrics"]["dimensions"]
        allowed = {promnames.label(d) for d in dimensions} | TEMPO_INTRINSIC_LABELS
        assert stack.promql_labels(query.text) <= allowed

    def test_variables_select_emitted_series(self):
        series = set(promnames.tracer_series()) | {"traces_spanmetrics_calls_total"}
        labels = set(promnames.semconv_attributes()) | PROMETHEUS_LABELS
        for query in _variable_queries():
            metric, label = re.fullmatch(r"label_values\((\w+)(?:\{.*\})?,\s*(\w+)\)", query).groups()
            assert metric in series and label in labels, query

    def test_label_values_that_name_semconv_values_exist(self):
        """`tracer_event_kind="breaker_transition"`: the value is an EVENT_KIND_* constant."""
        kinds = {v for k, v in vars(semconv).items() if k.startswith("EVENT_KIND_")}
        event_label = promnames.label(semconv.EVENT_KIND)
        for query in stack.queries("prometheus"):
            for value in re.findall(rf'{event_label}\s*=\s*"([^"]*)"', query.text):
                assert value in kinds, value

    @pytest.mark.parametrize("query", stack.queries("tempo"), ids=lambda q: f"{q.panel}/{q.ref}")
    def test_traceql_attributes_are_semconv_names(self, query):
        attributes = stack.traceql_attributes(query.text)
        if query.text:
            assert attributes <= promnames.all_semconv_names(), attributes - promnames.all_semconv_names()
        for value in re.findall(rf'span\.{re.escape(semconv.SPAN_TYPE)}\s*=\s*"(\w+)"', query.text):
            assert value in (semconv.SPAN_TYPE_CALL, semconv.SPAN_TYPE_ATTEMPT, semconv.SPAN_TYPE_EVENT)


class TestConfigsUseEmittedNames:
    def test_tempo_dimensions_are_semconv_attributes(self):
        processor = stack.tempo_config()["metrics_generator"]["processor"]
        names = promnames.all_semconv_names()
        for dimension in processor["span_metrics"]["dimensions"] + processor["service_graphs"].get("dimensions", []):
            assert dimension in names, dimension

    def test_trace_to_metrics_tags_are_semconv_attributes(self):
        tempo = next(ds for ds in stack.datasources() if ds["type"] == "tempo")["jsonData"]
        for tag in tempo["tracesToMetrics"]["tags"]:
            assert tag["key"] in promnames.all_semconv_names()
        assert tempo["spanBar"]["tag"] in promnames.all_semconv_names()

    def test_trace_to_metrics_queries_use_tempo_dimensions(self):
        tempo = next(ds for ds in stack.datasources() if ds["type"] == "tempo")["jsonData"]
        dimensions = stack.tempo_config()["metrics_generator"]["processor"]["span_metrics"]["dimensions"]
        allowed = {promnames.label(d) for d in dimensions} | TEMPO_INTRINSIC_LABELS
        for query in tempo["tracesToMetrics"]["queries"]:
            assert stack.promql_labels(query["query"]) <= allowed
