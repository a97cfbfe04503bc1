"""Every PromQL expression of the Grafana dashboards, run by a real Prometheus over the tracer's real metrics.

A workload process (tests/grafana/workload.py) instruments itself with `tracer.instrument(prometheus_port=...)`
and calls the fake API through the real SDK with scripted 429s, 529s and 500s; the Debian `prometheus` binary
scrapes its /metrics every second. Then each dashboard query, with Grafana's variables given concrete values,
goes through Prometheus' HTTP API: it must parse, return series, and carry the labels its legend shows; and the
429 share Prometheus computes must be the share the fake API actually answered.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_system_tool

from . import promnames, stack
from .promserver import Prometheus, free_port

pytestmark = [pytest.mark.prometheus, pytest.mark.world, pytest.mark.timeout(180)]

ROUNDS = 10
WORKLOAD = Path(__file__).with_name("workload.py")
# Grafana's variables as a dashboard with "All" selected would send them. The rate window is wider than the
# workload, so every rate() sees the whole run.
VARIABLES = {"model": ".*", "job": ".*", "__rate_interval": "2m", "__range": "5m", "__interval": "15s", "slow": "10s"}
TEMPO_METRICS = ("traces_spanmetrics_", "traces_service_graph_")


class Run:
    def __init__(self, prometheus: Prometheus, summary: dict[str, Any]) -> None:
        self.prometheus = prometheus
        self.summary = summary


# The GenAI names the workload emits: the released ones, and the newest alone (OTEL_SEMCONV_STABILITY_OPT_IN, where
# inference latency is gen_ai.client.inference.duration and token usage a counter per kind). Every panel and rule
# must work with either.
CONVENTIONS = [None, "gen_ai_latest_experimental"]


@pytest.fixture(scope="module", params=CONVENTIONS, ids=["released-names", "opt-in-newest-names"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    binary = require_system_tool("prometheus")
    for module in ("tracer.capture", "tracer.fakeapi"):  # the workload's parts, built in other areas
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} does not exist yet: the workload needs instrument(prometheus_port=...) and FakeAPI")
    workdir = tmp_path_factory.mktemp("prometheus")
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    env["ANTHROPIC_OPEN_TELEMETRY"] = env.get("ANTHROPIC_OPEN_TELEMETRY", "true")
    if request.param is not None:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = request.param
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stack.ROOT), env.get("PYTHONPATH")]))
    rules = stack.ROOT / "deploy" / "prometheus" / "rules" / "claude-tracer.rules.yml"  # as the compose stack loads them
    with Prometheus(binary, workdir, [f"127.0.0.1:{metrics_port}"], rule_files=(rules,)) as prometheus:
        # Prometheus hands new targets to its scrape loops after a few seconds (discovery updates are batched):
        # start the workload once the target is being scraped (down, for now), or its first rounds go unseen.
        Prometheus.wait_until(lambda: bool(prometheus.query("up")), timeout_s=30, what="the first scrape")
        proc = subprocess.Popen(
            [sys.executable, str(WORKLOAD), str(metrics_port), str(ROUNDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=workdir,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline()
            if not line:
                proc.wait(timeout=30)
                pytest.fail(f"the workload died:\n{proc.stderr.read() if proc.stderr else ''}")
            summary = json.loads(line)
            attempts = promnames.series(*_metric("tracer.client.attempts"))[0]
            # Wait for a scrape that saw the whole workload.
            Prometheus.wait_until(
                lambda: prometheus.scalar(f"sum({attempts})") == summary["attempts"],
                timeout_s=60,
                what=f"Prometheus to scrape all {summary['attempts']} attempts (last: {prometheus.scalar(f'sum({attempts})')})",
            )
            # The workload's 429 share (one attempt in six) is past the rule's threshold: that alert is pending.
            Prometheus.wait_until(lambda: bool(prometheus.query('ALERTS{alertname="ClaudeRateLimitedShareHigh"}')),
                                  timeout_s=30, what="the 429 alert rule to be evaluated")  # fmt: skip
            yield Run(prometheus, summary)
        finally:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _metric(name: str) -> tuple[str, str, str]:
    from tracer import semconv

    kind, unit = semconv.METRIC_INSTRUMENTS[name]
    return name, unit, kind


def _legend_labels(panel_target: dict[str, Any]) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", panel_target.get("legendFormat", "")))


def _targets() -> list[tuple[stack.Query, set[str]]]:
    """Every Prometheus query of every dashboard with the labels its legend prints."""
    out = []
    for query in stack.queries("prometheus"):
        dash = stack.dashboards()[query.dashboard]
        panel = next(p for p in stack.panels(dash) if p.get("title") == query.panel)
        target = next(t for t in panel["targets"] if t["refId"] == query.ref)
        out.append((query, _legend_labels(target)))
    return out


def _grouping_labels(expr: str) -> set[str]:
    """Labels an expression keeps in its result: those of its outermost `by (...)` clauses, minus `le`."""
    groups = [set(g.replace(" ", "").split(",")) for g in re.findall(r"\bby\s*\(([^)]*)\)", expr)]
    return set.intersection(*groups) - {"le"} if groups else set()


@pytest.mark.parametrize(
    ("query", "legend"), _targets(), ids=lambda v: f"{v.panel}/{v.ref}" if isinstance(v, stack.Query) else ""
)
def test_dashboard_query_returns_series_with_its_labels(run: Run, query: stack.Query, legend: set[str]) -> None:
    expr = stack.substitute(query.text, VARIABLES)
    result = run.prometheus.query(expr)  # a PromQL error raises here
    if any(m.startswith(TEMPO_METRICS) for m in stack.promql_metrics(expr)):
        # Tempo's span metrics need Tempo (no Docker engine here): the expression parses and runs, and its
        # names are checked against Tempo's dimensions in test_grafana_names.py.
        assert result == []
        return
    assert result, f"{query.dashboard} / {query.panel} / {query.ref} returned no series:\n{expr}"
    expected = legend | _grouping_labels(expr)
    for series in result:
        missing = {label for label in expected if not series["metric"].get(label)}
        assert not missing, f"{query.panel}: series {series['metric']} lacks {missing}"
        value = float(series["value"][1])
        assert math.isfinite(value), f"{query.panel}: {series}"


def _model_labels(result: list[dict[str, Any]]) -> set[str]:
    return {s["metric"].get("gen_ai_request_model", "") for s in result}


def test_every_model_of_the_workload_appears_per_model(run: Run) -> None:
    cost = next(q for q, _ in _targets() if q.panel.startswith("Cost per model"))
    assert _model_labels(run.prometheus.query(stack.substitute(cost.text, VARIABLES))) == set(run.summary["models"])


def test_the_429_share_prometheus_reports_is_the_workloads(run: Run) -> None:
    (share,) = [q for q, _ in _targets() if q.panel == "429 share of attempts"]
    reported = run.prometheus.scalar(stack.substitute(share.text, VARIABLES))
    actual = run.summary["by_status"]["429"] / run.summary["attempts"]
    # rate() extrapolates at the window's edges and the first scrape may fall inside a round: a few percent.
    assert reported == pytest.approx(actual, rel=0.1), (reported, actual, run.summary)


def test_the_per_model_429_share_matches_too(run: Run) -> None:
    (panel_429,) = [q for q, _ in _targets() if q.panel.startswith("429 / 529 / 5xx") and q.ref == "A"]
    result = run.prometheus.query(stack.substitute(panel_429.text, VARIABLES))
    actual = run.summary["by_status"]["429"] / run.summary["attempts"]  # the same mix for every model
    assert {s["metric"]["gen_ai_request_model"] for s in result} == set(run.summary["models"])
    for series in result:
        assert float(series["value"][1]) == pytest.approx(actual, rel=0.1)


def test_variable_queries_find_the_workloads_values(run: Run) -> None:
    """`label_values(metric{job=~"$job"}, label)` as Grafana asks it, through /api/v1/series semantics."""
    main = stack.dashboards()["claude-tracer.json"]
    for var in main["templating"]["list"]:
        if var["type"] != "query":
            continue
        metric, selector, label = re.fullmatch(
            r"label_values\((\w+)(\{.*\})?,\s*(\w+)\)", var["query"]["query"]
        ).groups()
        result = run.prometheus.query(f"count by ({label}) ({metric}{stack.substitute(selector or '', VARIABLES)})")
        values = {s["metric"][label] for s in result}
        assert values, var["name"]
        if label == "gen_ai_request_model":
            assert values == set(run.summary["models"])


def test_the_alert_rules_run_over_the_tracers_real_metrics(run: Run) -> None:
    """The rules of deploy/prometheus/rules, loaded as the compose stack loads them, evaluated by a real Prometheus
    over the workload's metrics: the 429 recording rule is the workload's share per model, and its alert (past
    tracer/alerts.py's threshold) is pending or firing; the rate-limit headroom rule has a value per model and kind."""
    from tracer import alerts

    (rule,) = [a for a in alerts.ALERTS if a.name == "ClaudeRateLimitedShareHigh"]
    actual = run.summary["by_status"]["429"] / run.summary["attempts"]
    assert actual > rule.threshold
    shares = run.prometheus.query(rule.record)
    assert {s["metric"]["gen_ai_request_model"] for s in shares} == set(run.summary["models"])
    for series in shares:
        assert float(series["value"][1]) == pytest.approx(actual, rel=0.1)
    states = {s["metric"]["alertstate"] for s in run.prometheus.query(f'ALERTS{{alertname="{rule.name}"}}')}
    assert states and states <= {"pending", "firing"}
    headroom = run.prometheus.query("claude:ratelimit:headroom")
    assert {s["metric"]["tracer_ratelimit_kind"] for s in headroom} == set(semconv_ratelimit_kinds())
    assert all(0 <= float(s["value"][1]) <= 1 for s in headroom)


def semconv_ratelimit_kinds() -> tuple[str, ...]:
    from tracer import semconv

    return semconv.RATELIMIT_KINDS
