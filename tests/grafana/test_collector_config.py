"""The collector's and Tempo's configs checked against what the pinned releases accept, as far as can be done with no
Collector or Tempo binary here (none is packaged for PyPI, npm or Debian): every component exists under that name
and takes those keys, every pipeline is wired end to end, the image tags and docs agree.

The tables below are a reading of the releases' own files, made 2026-11-29, not a copy of them:

- Collector core (otlp receiver, memory_limiter and batch processors, otlp_grpc exporter): `metadata.yaml` and
  `config.schema.yaml` of each component, and of `config/configgrpc`, `config/confighttp`, `config/confignet`,
  `config/configtls`, `internal/memorylimiter`, at open-telemetry/opentelemetry-collector tag v0.159.0 (2026-08-17).
- Collector contrib (prometheus exporter, health_check extension): `exporter/prometheusexporter/config.schema.yaml`,
  `config.go` and `metadata.yaml`, `extension/healthcheckextension/README.md`, in
  open-telemetry/opentelemetry-collector-contrib (the code index's copies).
- Tempo: `docs/sources/tempo/configuration/manifest.md` (every option with its default) and
  `example/docker-compose/single-binary/tempo.yaml`, at grafana/tempo tag v3.0.3 (2026-08-13).

What only a real `docker compose up` proves (the binaries parse these files and start) is said in
docs/production.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tracer import semconv

from . import stack

# Keys shared by the server settings of the receivers and exporters used here.
_GRPC_SERVER = {"endpoint", "transport", "tls", "max_recv_msg_size_mib", "max_concurrent_streams",
                "read_buffer_size", "write_buffer_size", "keepalive", "auth", "include_metadata", "middlewares"}
_HTTP_SERVER = {"endpoint", "tls", "cors", "auth", "max_request_body_size", "include_metadata", "response_headers",
                "compression_algorithms", "read_timeout", "read_header_timeout", "write_timeout", "idle_timeout",
                "middlewares", "keep_alives_enabled"}  # fmt: skip

# kind -> component type -> (signals it handles, top-level keys it takes, nested keys where we use them)
COLLECTOR: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "receivers": {
        "otlp": ({"traces", "metrics", "logs"}, {"protocols"}),
    },
    "processors": {
        "memory_limiter": ({"traces", "metrics", "logs"}, {"check_interval", "limit_mib", "spike_limit_mib",
                           "limit_percentage", "spike_limit_percentage", "min_gc_interval_when_soft_limited",
                           "min_gc_interval_when_hard_limited", "max_gc_interval_when_soft_limited",
                           "max_gc_interval_when_hard_limited"}),
        "batch": ({"traces", "metrics", "logs"}, {"timeout", "send_batch_size", "send_batch_max_size", "metadata_keys",
                  "metadata_cardinality_limit"}),
    },
    "exporters": {
        # `otlp` is the deprecated alias of `otlp_grpc` (metadata.yaml: deprecated_type).
        "otlp_grpc": ({"traces", "metrics", "logs"}, {"endpoint", "tls", "compression", "headers", "timeout",
                      "retry_on_failure", "sending_queue", "keepalive", "balancer_name", "auth", "authority",
                      "read_buffer_size", "write_buffer_size", "wait_for_ready", "user_agent", "middlewares"}),
        "prometheus": ({"metrics"}, {"endpoint", "tls", "namespace", "const_labels", "send_timestamps",
                       "metric_expiration", "enable_open_metrics", "translation_strategy", "without_scope_info",
                       "resource_constant_labels", "sending_queue", "add_metric_suffixes",
                       "resource_to_telemetry_conversion"} | _HTTP_SERVER),
    },
    "extensions": {
        "health_check": (set(), {"endpoint", "path", "response_body", "tls", "check_collector_pipeline"} | _HTTP_SERVER),
    },
}  # fmt: skip
_OTLP_HTTP = _HTTP_SERVER | {"traces_url_path", "metrics_url_path", "logs_url_path"}
NESTED = {
    ("receivers", "otlp", "protocols"): {"grpc": _GRPC_SERVER, "http": _OTLP_HTTP},
    ("exporters", "otlp_grpc", "tls"): {"insecure", "insecure_skip_verify", "server_name_override", "ca_file",
                                        "cert_file", "key_file", "min_version", "max_version"},
}
DEPRECATED = {  # kept by the release for old configs; a current config does not use them
    ("exporters", "otlp"): "otlp_grpc",
    ("exporters", "prometheus", "add_metric_suffixes"): "translation_strategy",
    ("exporters", "prometheus", "resource_to_telemetry_conversion"): "resource_constant_labels",
}
TRANSLATION_STRATEGIES = {"UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes",
                          "NoUTF8EscapingWithSuffixes", "NoTranslation"}  # fmt: skip


def _components() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    config = stack.collector_config()
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for name, settings in (config.get(kind) or {}).items():
            yield kind, name, name.split("/")[0], settings or {}


class TestCollectorComponents:
    @pytest.mark.parametrize(("kind", "name", "type_", "settings"), list(_components()), ids=lambda v: str(v)[:30])
    def test_each_component_exists_in_the_release_and_takes_its_keys(self, kind: str, name: str, type_: str, settings: dict[str, Any]) -> None:
        assert type_ in COLLECTOR[kind], f"{kind} {type_!r} is not a component of the pinned release"
        assert (kind, type_) not in DEPRECATED, f"{type_} is deprecated: use {DEPRECATED[(kind, type_)]}"
        _signals, keys = COLLECTOR[kind][type_]
        assert set(settings) <= keys, f"{name}: keys the release does not take: {set(settings) - keys}"
        for key in settings:
            assert (kind, type_, key) not in DEPRECATED, f"{name}.{key} is deprecated: use {DEPRECATED[(kind, type_, key)]}"
            nested = NESTED.get((kind, type_, key))
            if isinstance(nested, dict):
                for sub, value in settings[key].items():
                    assert sub in nested, f"{name}.{key}: no {sub!r}"
                    assert set(value or {}) <= nested[sub], f"{name}.{key}.{sub}: {set(value or {}) - nested[sub]}"
            elif nested is not None:
                assert set(settings[key]) <= nested, f"{name}.{key}: {set(settings[key]) - nested}"

    def test_the_prometheus_exporter_keeps_suffixed_names(self) -> None:
        strategy = stack.collector_config()["exporters"]["prometheus"]["translation_strategy"]
        assert strategy in TRANSLATION_STRATEGIES and strategy == "UnderscoreEscapingWithSuffixes"


class TestPipelines:
    def test_every_pipeline_is_wired_end_to_end_with_components_for_its_signal(self) -> None:
        config = stack.collector_config()
        pipelines = config["service"]["pipelines"]
        assert {p.split("/")[0] for p in pipelines} == {"traces", "metrics"}
        for pipeline_name, pipeline in pipelines.items():
            signal = pipeline_name.split("/")[0]
            assert pipeline.get("receivers") and pipeline.get("exporters"), pipeline_name
            for kind in ("receivers", "processors", "exporters"):
                for component in pipeline.get(kind, []):
                    assert component in config[kind], f"{pipeline_name} uses undefined {component}"
                    signals, _ = COLLECTOR[kind][component.split("/")[0]]
                    assert signal in signals, f"{component} does not handle {signal}"
            processors = pipeline.get("processors", [])
            # The collector's own advice (batch processor README): memory_limiter first, batch after it.
            assert processors[:1] == ["memory_limiter"] and processors[-1:] == ["batch"], pipeline_name

    def test_nothing_defined_is_left_unused(self) -> None:
        config = stack.collector_config()
        used = {c for p in config["service"]["pipelines"].values() for k in ("receivers", "processors", "exporters")
                for c in p.get(k, [])}  # fmt: skip
        for kind in ("receivers", "processors", "exporters"):
            assert set(config[kind]) <= used, f"unused {kind}: {set(config[kind]) - used}"
        assert set(config["extensions"]) == set(config["service"]["extensions"])

    def test_the_health_check_port_is_published(self) -> None:
        port = stack.host_port(stack.collector_config()["extensions"]["health_check"]["endpoint"])[1]
        assert stack.published_ports("otel-collector").get(port) == port


# ----------------------------------------------------------------------------------------------------------------
# Tempo 3
# ----------------------------------------------------------------------------------------------------------------

# Key paths this config uses, each found in Tempo v3.0.3's manifest.md or its single-binary example (maps and lists
# whose default is empty, such as registry.external_labels or storage.remote_write, are in the example only).
TEMPO_KEYS = {
    "stream_over_http_enabled", "server.http_listen_port", "server.log_level", "distributor.receivers",
    "backend_worker.compaction.block_retention", "metrics_generator.registry.external_labels",
    "metrics_generator.storage.path", "metrics_generator.storage.remote_write",
    "metrics_generator.processor.service_graphs.dimensions",
    "metrics_generator.processor.service_graphs.histogram_buckets",
    "metrics_generator.processor.span_metrics.dimensions", "metrics_generator.processor.span_metrics.histogram_buckets",
    "metrics_generator.processor.span_metrics.enable_target_info", "storage.trace.backend", "storage.trace.wal.path",
    "storage.trace.local.path", "overrides.defaults.metrics_generator.processors", "usage_report.reporting_enabled",
}  # fmt: skip
# What Tempo 3 removed (its CHANGELOG's breaking changes for v3.0.0): a config that still has them does not start.
TEMPO_REMOVED = {"ingester", "compactor", "metrics_generator.traces_storage", "query_frontend.search.duration_slo",
                 "query_frontend.trace_by_id.duration_slo", "querier.query_live_store"}  # fmt: skip
TEMPO_PROCESSORS = {"service-graphs", "span-metrics"}  # `local-blocks` is gone in 3.0


_FREE_MAPS = {"distributor.receivers", "metrics_generator.registry.external_labels"}  # their keys are the user's


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted key paths down to leaves; maps whose keys are free (the receivers block is the collector's own
    config, external labels are any labels) stop there."""
    if isinstance(node, dict) and prefix not in _FREE_MAPS:
        for key, value in node.items():
            yield from _paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


class TestTempo:
    def test_every_key_is_one_tempo_3_takes(self) -> None:
        paths = set(_paths(stack.tempo_config()))
        assert paths <= TEMPO_KEYS, paths - TEMPO_KEYS

    def test_nothing_tempo_3_removed(self) -> None:
        paths = set(_paths(stack.tempo_config()))
        assert not {p for p in paths for removed in TEMPO_REMOVED if p == removed or p.startswith(removed + ".")}
        processors = stack.tempo_config()["overrides"]["defaults"]["metrics_generator"]["processors"]
        assert set(processors) <= TEMPO_PROCESSORS

    def test_tempo_receives_what_the_collector_sends(self) -> None:
        receivers = stack.tempo_config()["distributor"]["receivers"]
        assert set(receivers) == {"otlp"} and set(receivers["otlp"]["protocols"]) <= {"grpc", "http"}


# ----------------------------------------------------------------------------------------------------------------
# Image tags, config checks and docs in step
# ----------------------------------------------------------------------------------------------------------------


class TestInStep:
    def test_the_docs_name_every_pinned_image_and_port(self) -> None:
        doc = (stack.ROOT / "docs" / "production.md").read_text(encoding="utf-8")
        for name, svc in stack.services().items():
            if "image" in svc:
                assert f"`{svc['image']}`" in doc, f"docs/production.md does not name {svc['image']}"
            for host in stack.published_ports(name).values():
                assert str(host) in doc, f"docs/production.md does not mention port {host} of {name}"

    def test_the_compose_comment_dates_the_lookup_and_names_each_version(self) -> None:
        text = stack.COMPOSE.read_text(encoding="utf-8")
        assert re.search(r"Looked up \d{4}-\d{2}-\d{2}", text)
        for svc in stack.services().values():
            if "image" in svc:
                tag = svc["image"].rpartition(":")[2]
                assert tag.lstrip("v") in text.split("services:")[0], f"the header does not say where {tag} came from"

    def test_span_metric_dimensions_are_attributes_the_tracer_sets(self) -> None:
        dims = stack.tempo_config()["metrics_generator"]["processor"]["span_metrics"]["dimensions"]
        assert semconv.SPAN_TYPE in dims and semconv.GEN_AI_REQUEST_MODEL in dims
