"""The alert rules: generated from tracer/alerts.py, unit-tested by a real promtool, loaded by the compose stack, and
the same conditions evaluated over a real store that the real SDK filled through the fake API."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_system_tool
from tracer import alerts, semconv

from . import promnames, stack

RULES_DIR = stack.ROOT / "deploy" / "prometheus" / "rules"
RULES = RULES_DIR / "claude-tracer.rules.yml"
RULE_TESTS = RULES_DIR / "claude-tracer.rules.test.yml"
BUDGET_RULES = stack.ROOT / alerts.BUDGET_RULES_FILE
BUDGET_RULE_TESTS = RULES_DIR / "claude-tracer-budgets.rules.test.yml"
EXAMPLE_BUDGETS = stack.ROOT / "deploy" / "prometheus" / "budgets.toml"


def promtool(*args: str | Path, cwd: Path | None = None) -> str:
    binary = require_system_tool("promtool")
    done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


class TestRulesFile:
    def test_is_generated_from_tracer_alerts(self) -> None:
        """One definition of each threshold: the file is exactly `python -m tracer.alerts`."""
        assert RULES.read_text(encoding="utf-8") == alerts.rules_yaml(), "regenerate: python -m tracer.alerts > " + str(RULES)

    def test_every_condition_has_a_recording_rule_and_an_alert_with_its_threshold(self) -> None:
        groups = yaml.safe_load(RULES.read_text())["groups"]
        rules = [r for g in groups for r in g["rules"]]
        recorded = {r["record"]: r["expr"] for r in rules if "record" in r}
        alerted = {r["alert"]: r["expr"] for r in rules if "alert" in r}
        for a in alerts.ALERTS:
            assert a.record in recorded and alerted[a.name].startswith(a.record)
            assert float(alerted[a.name].split()[-1]) == a.threshold

    def test_rules_select_series_the_tracer_emits_with_its_labels(self) -> None:
        series = set(promnames.tracer_series())
        labels = set(promnames.semconv_attributes()) | {"job", "le"}
        for a in alerts.ALERTS:
            assert stack.promql_metrics(a.expr) <= series, a.expr
            assert stack.promql_labels(a.expr) <= labels, a.expr

    def test_the_thresholds_the_issue_asks_for(self) -> None:
        by_name = {a.name: a for a in alerts.ALERTS}
        assert by_name["ClaudeRateLimitHeadroomLow"].threshold == 0.10 and by_name["ClaudeRateLimitHeadroomLow"].op == "<"
        assert {a.name for a in alerts.ALERTS} == {
            "ClaudeRateLimitedShareHigh", "ClaudeOverloadedShareHigh", "ClaudeServerErrorShareHigh",
            "ClaudeLatencyP95High", "ClaudeSpendOverDailyBudget", "ClaudeCircuitBreakerOpen", "ClaudeUnpricedCalls",
            "ClaudeRateLimitHeadroomLow", "ClaudeSpendAnomaly", "ClaudeTelemetryDropped",
        }  # fmt: skip

    def test_the_anomaly_rule_uses_the_budgets_pages_method(self) -> None:
        """The same baseline (24 whole hours), minimum history, minimum excess and threshold as `_budgets`."""
        from tracer import _budgets

        anomaly = next(a for a in alerts.ALERTS if a.name == "ClaudeSpendAnomaly")
        assert anomaly.threshold == _budgets.ANOMALY_SIGMAS
        assert f"[{_budgets.BASELINE_HOURS}h:1h]" in anomaly.expr
        assert f">= {_budgets.MIN_BASELINE_HOURS})" in anomaly.expr and f">= {_budgets.ANOMALY_MIN_USD})" in anomaly.expr


class TestPromtool:
    @pytest.mark.prometheus
    def test_check_rules(self) -> None:
        assert f"{len(alerts.ALERTS) * 2} rules found" in promtool("check", "rules", RULES)

    @pytest.mark.prometheus
    def test_unit_tests_pass(self) -> None:
        assert "SUCCESS" in promtool("test", "rules", RULE_TESTS.name, cwd=RULES_DIR)

    def test_every_alert_has_a_unit_test_that_fires_it(self) -> None:
        tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
        fired = {t["alertname"] for group in tests for t in group.get("alert_rule_test", []) if t.get("exp_alerts")}
        assert fired == {a.name for a in alerts.ALERTS}

    @pytest.mark.prometheus
    def test_check_config_of_every_prometheus_file_the_stack_mounts(self, tmp_path: Path) -> None:
        """`promtool check config` of the config Prometheus runs with (its rule_files included), and of the scrape
        snippet for a Prometheus of one's own. Debian's promtool (2.42) is older than the pinned image; these files
        use nothing newer."""
        config = stack.mounted_file("prometheus", stack.command_flag("prometheus", "--config.file") or "")
        out = promtool("check", "config", config)
        assert "2 rule files found" in out and f"{len(alerts.ALERTS) * 2} rules found" in out
        assert f"{_budget_rule_count()} rules found" in out
        promtool("check", "config", stack.ROOT / "deploy" / "prometheus" / "scrape-tracer.yml")

    def test_the_stack_mounts_the_rules_where_rule_files_points(self) -> None:
        config = stack.prometheus_config()
        (pattern,) = config["rule_files"]
        target = str(Path("/etc/prometheus") / pattern)  # relative to the config file's directory in the container
        mounted = stack.mounted_file("prometheus", target.replace("*", "claude-tracer"))
        assert mounted == RULES


def _budget_rule_count() -> int:
    return sum(len(g["rules"]) for g in yaml.safe_load(BUDGET_RULES.read_text())["groups"])


class TestBudgetRules:
    """deploy/prometheus/rules/claude-tracer-budgets.rules.yml: the example budgets of deploy/prometheus/budgets.toml
    (the file the dashboard reads with TRACER_BUDGETS) as Prometheus rules, with promtool tests of their own."""

    def test_is_generated_from_the_example_budgets(self) -> None:
        from tracer import _budgets

        budgets = _budgets.load({_budgets.ENV_FILE: str(EXAMPLE_BUDGETS)})
        assert len(budgets) == 3 and {b.per for b in budgets} == {"day", "month"} and any(b.tag for b in budgets)
        expected = alerts.budget_rules_yaml(budgets, source="deploy/prometheus/budgets.toml")
        assert BUDGET_RULES.read_text(encoding="utf-8") == expected, (
            "regenerate: python -m tracer.alerts budgets deploy/prometheus/budgets.toml > " + alerts.BUDGET_RULES_FILE
        )

    def test_each_budget_is_a_parameter_with_its_amount(self) -> None:
        from tracer import _budgets

        rules = [r for g in yaml.safe_load(BUDGET_RULES.read_text())["groups"] for r in g["rules"]]
        params = {r["labels"]["budget"]: r["expr"] for r in rules if r.get("record") == "claude:budget_usd"}
        budgets = _budgets.load({_budgets.ENV_FILE: str(EXAMPLE_BUDGETS)})
        assert params == {alerts.budget_id(b): f"vector({b.usd:g})" for b in budgets}

    def test_rules_select_the_cost_counter_with_the_tag_label(self) -> None:
        series = set(promnames.tracer_series())
        rules = [r for g in yaml.safe_load(BUDGET_RULES.read_text())["groups"] for r in g["rules"]]
        selected = set().union(*(stack.promql_metrics(r["expr"]) for r in rules))
        (cost,) = promnames.series(semconv.METRIC_COST, *reversed(semconv.METRIC_INSTRUMENTS[semconv.METRIC_COST]))
        assert cost in series and selected - {r.get("record") for r in rules} == {cost}
        labels = set().union(*(stack.promql_labels(r["expr"]) for r in rules))
        # the example's tag budget: the label tracer._metrics gives the cost counter for the tag key "customer"
        assert labels <= {"period", "budget", promnames.label(semconv.TAG_PREFIX + "customer")}

    @pytest.mark.prometheus
    def test_check_rules(self) -> None:
        assert f"{_budget_rule_count()} rules found" in promtool("check", "rules", BUDGET_RULES)

    @pytest.mark.prometheus
    def test_unit_tests_pass(self) -> None:
        assert "SUCCESS" in promtool("test", "rules", BUDGET_RULE_TESTS.name, cwd=RULES_DIR)

    def test_every_budget_alert_has_a_unit_test_that_fires_it(self) -> None:
        tests = yaml.safe_load(BUDGET_RULE_TESTS.read_text())["tests"]
        fired = {t["alertname"] for group in tests for t in group.get("alert_rule_test", []) if t.get("exp_alerts")}
        assert fired == set(alerts.BUDGET_ALERTS)

    def test_no_budget_still_makes_a_valid_file(self, tmp_path: Path) -> None:
        (tmp_path / "none.rules.yml").write_text(alerts.budget_rules_yaml([]))
        if shutil.which("promtool"):
            promtool("check", "rules", tmp_path / "none.rules.yml")
        assert "no budget configured" in (tmp_path / "none.rules.yml").read_text()


class TestOverTheStore:
    """`alerts.evaluate` over a store filled by the real SDK through the fake API: a third of the attempts answered
    429, so the 429 condition fires; latency, 529s and headroom stay quiet."""

    @pytest.fixture(scope="class")
    @classmethod
    def store_path(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        import anthropic

        import tracer
        from tracer.fakeapi import FakeAPI

        path = tmp_path_factory.mktemp("alerts") / "store"
        tracer.instrument(store=path)
        try:
            with FakeAPI(seed=0, latency_scale=0.0) as api:
                client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=2)
                ask = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
                for i in range(6):
                    client.messages.create(**ask, **({"extra_headers": {"x-fake-script": "429:1,ok"}} if i % 2 else {}))
            tracer.flush()
        finally:
            tracer.uninstrument()
        return path

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, store_path: Path) -> Any:
        from tracer.read import Store

        return Store(store_path)

    def test_the_429_condition_fires_and_the_quiet_ones_do_not(self, store: Any) -> None:
        findings = {(f.alert, f.subject): f for f in alerts.evaluate(store)}
        share = findings[("ClaudeRateLimitedShareHigh", "claude-haiku-4-5")]
        assert share.firing and share.value == pytest.approx(3 / 9)
        assert not findings[("ClaudeOverloadedShareHigh", "claude-haiku-4-5")].firing
        assert not findings[("ClaudeLatencyP95High", "claude-haiku-4-5")].firing
        assert not any(f.firing for (name, _), f in findings.items() if name == "ClaudeRateLimitHeadroomLow")
        assert next(f.alert for f in alerts.evaluate(store)) == "ClaudeRateLimitedShareHigh"  # firing ones first

    def test_outside_the_window_nothing_is_evaluated(self, store: Any) -> None:
        later = dt.datetime.now(dt.UTC) + 2 * alerts.SPEND_WINDOW
        assert not [f for f in alerts.evaluate(store, now=later) if f.alert != "ClaudeCircuitBreakerOpen"]

    def test_tracer_report_prints_the_firing_alert(self, store: Any, capsys: pytest.CaptureFixture[str]) -> None:
        from rich.console import Console

        from tracer.cli import report
        from tracer.read import Filters

        report.render(Console(width=200), store, Filters())
        out = capsys.readouterr().out
        assert "ClaudeRateLimitedShareHigh" in out and "firing" in out


    def test_the_dashboard_overview_shows_the_firing_alert_in_a_strip(self, store_path: Path) -> None:
        pytest.importorskip("streamlit")
        from tests.dashboard.dashtest import run_page

        at = run_page(store_path, "overview")
        assert not at.exception
        (strip,) = [e.value for e in at.error if "Alerts" in e.value]
        assert "429" in strip and "claude-haiku-4-5" in strip


def test_the_breaker_gauge_label_is_the_event_name() -> None:
    """The breaker rule groups by `tracer_event_name`: the label tracer/resilience gives `tracer.breaker.state`."""
    assert "tracer_event_name" in alerts.ALERTS[5].expr and promnames.label(semconv.EVENT_NAME) == "tracer_event_name"
