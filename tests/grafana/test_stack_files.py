"""docker-compose.yml and every config it mounts: valid, present, pinned, and wired to each other consistently.

There is no Docker engine here, so the stack is checked as files: every port a service dials is one the
service it names listens on, every datasource URL is a compose service and its port, every config a command
names is the file mounted there.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tracer import semconv

from . import promnames, stack


class TestComposeFile:
    def test_every_service_runs_a_pinned_image_or_builds_from_the_repo(self):
        for name, svc in stack.services().items():
            if "build" in svc:
                build = svc["build"]
                context = stack.ROOT / build.get("context", ".")
                assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
                continue
            image = svc["image"]
            repo, _, tag = image.rpartition(":")
            assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
            assert tag != "latest" and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (
                f"{name}: {image!r} is not a pinned version"
            )

    def test_the_stack_has_the_four_parts(self):
        images = {svc.get("image", "").rpartition(":")[0] for svc in stack.services().values()}
        assert {
            "otel/opentelemetry-collector-contrib",
            "grafana/tempo",
            "prom/prometheus",
            "grafana/grafana",
        } <= images

    def test_services_of_one_product_share_one_version(self):
        versions: dict[str, set[str]] = {}
        for svc in stack.services().values():
            if "image" in svc:
                repo, _, tag = svc["image"].rpartition(":")
                versions.setdefault(repo, set()).add(tag)
        assert all(len(tags) == 1 for tags in versions.values()), versions

    def test_every_mounted_path_exists_and_parses(self):
        mounts = stack.bind_mounts()
        assert mounts
        for mount in mounts:
            assert mount.source.exists(), f"{mount.service} mounts missing {mount.source}"
            files = (
                [mount.source] if mount.source.is_file() else sorted(p for p in mount.source.rglob("*") if p.is_file())
            )
            assert files, f"{mount.source} is empty"
            for path in files:
                text = path.read_text(encoding="utf-8")
                if path.suffix in (".yml", ".yaml"):
                    assert yaml.safe_load(text) is not None, path
                elif path.suffix == ".json":
                    json.loads(text)
                else:
                    pytest.fail(f"unexpected file {path} mounted into {mount.service}")

    def test_depends_on_and_named_volumes_refer_to_what_exists(self):
        doc = stack.compose()
        names = set(doc["services"])
        for name, svc in doc["services"].items():
            for dep in svc.get("depends_on", []):
                assert dep in names, f"{name} depends on unknown {dep}"
            for volume in svc.get("volumes", []):
                source = volume.split(":")[0]
                if not source.startswith((".", "/")):
                    assert source in doc.get("volumes", {}), f"{name} uses undeclared volume {source}"

    def test_the_demo_image_is_built_from_this_repo_and_exports_to_the_collector(self):
        demo = stack.services()["demo"]
        dockerfile = (stack.ROOT / demo["build"]["dockerfile"]).read_text()
        assert "pip install" in dockerfile and "tracer demo" in dockerfile
        host, port = stack.host_port(demo["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert host == "otel-collector"
        assert port == _collector_otlp_port("grpc") and demo["environment"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"

    def test_the_demo_image_copies_what_pip_install_needs(self):
        """The Dockerfile copies pyproject's readme and every package it installs, and the ignore file lets them in."""
        import tomllib

        project = tomllib.loads((stack.ROOT / "pyproject.toml").read_text())
        needed = {project["project"]["readme"], "pyproject.toml"}
        setuptools = project["tool"]["setuptools"]
        folders = setuptools.get("package-dir", {})  # claude_tracer_dashboard is the folder dashboard/
        needed |= {folders.get(p, p) for p in setuptools["packages"] if "." not in p}
        dockerfile = stack.ROOT / stack.services()["demo"]["build"]["dockerfile"]
        copied = set()
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                copied |= {part.rstrip("/").removeprefix("./") for part in line.split()[1:-1]}
        assert needed <= copied, needed - copied
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
        for path in needed:
            assert f"!{path}" in ignore or f"!{path}/" in ignore, f"{path} is excluded from the build context"


def _collector_otlp_port(protocol: str) -> int:
    receiver = stack.collector_config()["receivers"]["otlp"]["protocols"][protocol]
    return stack.host_port(receiver["endpoint"])[1]


def _tempo_otlp_port(protocol: str) -> int:
    receiver = stack.tempo_config()["distributor"]["receivers"]["otlp"]["protocols"][protocol]
    return stack.host_port(receiver["endpoint"])[1]


class TestCollector:
    def test_receives_otlp_grpc_and_http_on_published_ports(self):
        published = stack.published_ports("otel-collector")
        for protocol, standard in (("grpc", 4317), ("http", 4318)):
            port = _collector_otlp_port(protocol)
            assert port == standard
            assert published.get(port) == standard, f"OTLP {protocol} port {port} is not published as {standard}"

    def test_pipelines_use_only_defined_components(self):
        config = stack.collector_config()
        service = config["service"]
        for ext in service.get("extensions", []):
            assert ext in config["extensions"]
        for name, pipeline in service["pipelines"].items():
            for kind in ("receivers", "processors", "exporters"):
                for component in pipeline.get(kind, []):
                    assert component in config[kind], f"pipeline {name} uses undefined {kind[:-1]} {component}"

    def test_traces_go_to_tempos_otlp_receiver(self):
        config = stack.collector_config()
        exporters = config["service"]["pipelines"]["traces"]["exporters"]
        otlp = [config["exporters"][e] for e in exporters if e.split("/")[0] == "otlp_grpc"]
        assert otlp, "the traces pipeline exports over OTLP"
        host, port = stack.host_port(otlp[0]["endpoint"])
        assert host == "tempo" and port == _tempo_otlp_port("grpc")

    def test_metrics_are_exposed_where_prometheus_scrapes_them(self):
        config = stack.collector_config()
        exporters = config["service"]["pipelines"]["metrics"]["exporters"]
        assert "prometheus" in exporters
        port = stack.host_port(config["exporters"]["prometheus"]["endpoint"])[1]
        targets = {
            stack.host_port(t)
            for job in stack.prometheus_config()["scrape_configs"]
            for sc in job.get("static_configs", [])
            for t in sc["targets"]
        }
        assert ("otel-collector", port) in targets
        # Names follow tests/grafana/promnames.py only with the unit and _total suffixes on.
        assert config["exporters"]["prometheus"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"


class TestTempo:
    def test_metrics_generator_writes_to_prometheus_remote_write_receiver(self):
        remote = stack.tempo_config()["metrics_generator"]["storage"]["remote_write"]
        host, port = stack.host_port(remote[0]["url"])
        assert (host, port) == ("prometheus", stack.prometheus_listen_port())
        assert remote[0]["url"].endswith("/api/v1/write")
        assert stack.has_flag("prometheus", "--web.enable-remote-write-receiver")

    def test_span_metrics_and_service_graphs_are_on(self):
        processors = stack.tempo_config()["overrides"]["defaults"]["metrics_generator"]["processors"]
        assert {"span-metrics", "service-graphs"} <= set(processors)

    def test_span_metrics_keep_model_error_and_status_and_reach_two_minutes(self):
        span_metrics = stack.tempo_config()["metrics_generator"]["processor"]["span_metrics"]
        assert {semconv.GEN_AI_REQUEST_MODEL, semconv.ERROR_TYPE, semconv.HTTP_RESPONSE_STATUS_CODE} <= set(
            span_metrics["dimensions"]
        )
        buckets = span_metrics["histogram_buckets"]
        assert buckets == sorted(buckets) and max(buckets) >= 120

    def test_grafana_reaches_tempos_http_port(self):
        port = stack.tempo_config()["server"]["http_listen_port"]
        (tempo,) = [ds for ds in stack.datasources() if ds["type"] == "tempo"]
        assert stack.host_port(tempo["url"]) == ("tempo", port)


class TestPrometheus:
    def test_every_scrape_target_is_a_service_and_a_port_it_listens_on(self):
        listening = {
            "otel-collector": {stack.host_port(stack.collector_config()["exporters"]["prometheus"]["endpoint"])[1]},
            "localhost": {stack.prometheus_listen_port()},
        }
        for job in stack.prometheus_config()["scrape_configs"]:
            for sc in job["static_configs"]:
                for target in sc["targets"]:
                    host, port = stack.host_port(target)
                    assert port in listening.get(host, set()), (
                        f"job {job['job_name']} scrapes {target}, nothing listens there"
                    )

    def test_exemplars_are_stored(self):
        assert stack.command_flag("prometheus", "--enable-feature") == "exemplar-storage"


class TestGrafana:
    def test_datasources_point_at_compose_services_and_their_ports(self):
        by_type = {ds["type"]: ds for ds in stack.datasources()}
        assert stack.host_port(by_type["prometheus"]["url"]) == ("prometheus", stack.prometheus_listen_port())
        assert stack.host_port(by_type["tempo"]["url"])[0] == "tempo"

    def test_datasource_links_refer_to_existing_uids(self):
        uids = {ds["uid"] for ds in stack.datasources()}
        by_type = {ds["type"]: ds for ds in stack.datasources()}
        tempo = by_type["tempo"]["jsonData"]
        assert tempo["tracesToMetrics"]["datasourceUid"] in uids
        assert tempo["serviceMap"]["datasourceUid"] in uids
        for dest in by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]:
            assert dest["datasourceUid"] == by_type["tempo"]["uid"]

    def test_trace_to_metrics_queries_select_span_metrics_by_translated_tags(self):
        links = stack.datasources()
        tempo = next(ds for ds in links if ds["type"] == "tempo")["jsonData"]["tracesToMetrics"]
        for tag in tempo["tags"]:
            if tag["key"] != semconv.SERVICE_NAME:  # Tempo names the resource's service.name label "service"
                assert tag["value"] == promnames.label(tag["key"])
        for query in tempo["queries"]:
            # "$$" is the provisioning escape for a literal "$": Grafana itself substitutes $__tags.
            assert "$$__tags" in query["query"]
            assert stack.promql_metrics(query["query"]) <= {
                "traces_spanmetrics_latency_bucket",
                "traces_spanmetrics_calls_total",
            }

    def test_dashboards_provider_reads_the_mounted_dashboards(self):
        (doc,) = stack.grafana_provisioning("dashboards")
        path = doc["providers"][0]["options"]["path"]
        assert stack.mounted_file("grafana", path) == stack.DASHBOARDS
        home = stack.services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        assert stack.mounted_file("grafana", home).is_file()

    def test_every_panel_uses_a_provisioned_datasource(self):
        uids = {ds["uid"]: ds["type"] for ds in stack.datasources()}
        for file, dash in stack.dashboards().items():
            for panel in stack.panels(dash):
                for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
                    if ds:
                        assert uids.get(ds["uid"]) == ds["type"], f"{file}: {panel['title']} uses {ds}"
            for var in dash.get("templating", {}).get("list", []):
                if var.get("datasource"):
                    assert uids.get(var["datasource"]["uid"]) == var["datasource"]["type"]

    def test_dashboards_have_unique_uids_and_panel_ids(self):
        seen = set()
        for file, dash in stack.dashboards().items():
            assert dash["uid"] not in seen
            seen.add(dash["uid"])
            ids = [p["id"] for p in stack.panels(dash)]
            assert len(ids) == len(set(ids)), file

    def test_the_main_dashboard_has_every_required_view(self):
        main = stack.dashboards()["claude-tracer.json"]
        exprs = " ".join(q.text for q in stack.queries("prometheus") if q.dashboard == "claude-tracer.json")
        series = promnames.tracer_series()
        by_metric = {metric: {s for s, m in series.items() if m == metric} for metric in set(series.values())}

        def uses(metric: str) -> bool:
            return any(s in exprs for s in by_metric[metric])

        for metric in (semconv.METRIC_COST, semconv.METRIC_OPERATION_DURATION, semconv.METRIC_TIME_TO_FIRST_CHUNK,
                       semconv.METRIC_ATTEMPTS, semconv.METRIC_RETRIES, semconv.METRIC_RESILIENCE_EVENTS,
                       semconv.METRIC_RATELIMIT_REMAINING):  # fmt: skip
            assert uses(metric), f"no panel shows {metric}"
        for q in ("0.5", "0.95", "0.99"):
            assert f"histogram_quantile({q}" in exprs.replace("0.50", "0.5")
        outcome = promnames.label(semconv.ATTEMPT_OUTCOME)  # the attempts' one classification (tracer._derived)
        for status in ("429", "529", "5xx"):
            assert f'{outcome}="{status}"' in exprs
        assert f'{promnames.label(semconv.EVENT_KIND)}="{semconv.EVENT_KIND_BREAKER_TRANSITION}"' in exprs
        traceql = [q.text for q in stack.queries("tempo") if q.dashboard == "claude-tracer.json"]
        assert any("duration >" in q and "status = error" in q for q in traceql), (
            "a TraceQL panel lists slow and failed calls"
        )
        assert main["templating"]["list"]
