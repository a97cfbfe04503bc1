"""`tracer demo`: the store it fills (real SDK, real HTTP to the fake API, real store), what it prints, its plan."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tracer.demo import SERVICE_NAME, pick_models, plan
from tracer.demo import _scenarios as scenarios
from tracer.read import Store

TRACER = [sys.executable, "-c", "import sys; from tracer.cli import main; sys.exit(main())"]


def tracer_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([*TRACER, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def demo_output(demo_store: Path) -> str:
    """What `tracer demo` printed while filling `demo_store`."""
    return (demo_store.parent / "demo-store.out").read_text()


@pytest.fixture(scope="module")
def store(demo_store: Path) -> Store:
    return Store(demo_store)


class TestDemoStore:
    def test_calls_span_several_current_models_streamed_and_not(self, store: Store) -> None:
        """Every model the demo picks is called, both streamed and not; all calls come from the demo service."""
        rows = store.rows("SELECT model, streaming, count(*) FROM calls WHERE model IS NOT NULL GROUP BY ALL")
        models = {model for model, _, _ in rows}
        assert models == set(pick_models().all())
        assert len(models) >= 3
        for model in models:
            assert {streaming for m, streaming, _ in rows if m == model} == {True, False}, model
        assert store.rows("SELECT DISTINCT service_name FROM calls") == [(SERVICE_NAME,)]

    def test_every_model_call_is_priced(self, store: Store) -> None:
        """The demo's models all have prices: cost is never NULL for a call that used tokens."""
        unpriced = store.rows(
            "SELECT model, count(*) FROM calls WHERE model IS NOT NULL AND cost_usd IS NULL "
            "AND input_tokens + output_tokens > 0 GROUP BY model"
        )
        assert unpriced == []
        assert store.rows("SELECT sum(cost_usd) > 0 FROM calls") == [(True,)]

    def test_rate_limited_attempts_carry_retry_after_and_are_retried(self, store: Store) -> None:
        """429 attempts record the server's retry-after, and their calls succeed on a later attempt."""
        rows = store.rows(
            "SELECT a.retry_after_s, c.status, c.attempts FROM attempts a "
            "JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id WHERE a.http_status = 429"
        )
        assert len(rows) >= 3
        assert any(retry_after is not None and retry_after > 0 for retry_after, _, _ in rows)
        assert any(status == "ok" and attempts >= 2 for _, status, attempts in rows)

    def test_overload_opens_the_breaker_which_closes_again(self, store: Store) -> None:
        """529s trip a circuit breaker: closed -> open -> half_open -> closed, with fast failures while open."""
        transitions = store.rows(
            "SELECT name, from_state, to_state FROM events WHERE kind = 'breaker_transition' ORDER BY time"
        )
        names = {name for name, _, _ in transitions}
        assert len(names) == 1
        assert [(f, t) for _, f, t in transitions] == [
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "closed"),
        ]
        assert store.rows("SELECT count(*) FROM events WHERE kind = 'breaker_rejected'")[0][0] >= 1
        assert store.rows("SELECT count(*) FROM attempts WHERE http_status = 529")[0][0] >= 3

    def test_budget_trip_is_an_event_with_its_numbers(self, store: Store) -> None:
        """The nightly digest job stops at its cap: one budget_trip event naming the limit and the spend."""
        rows = store.rows("SELECT name, CAST(attributes AS VARCHAR) FROM events WHERE kind = 'budget_trip'")
        assert len(rows) == 1
        name, attributes = rows[0]
        assert name == "nightly-digest"
        assert "limit_usd" in attributes and "spent_usd" in attributes
        assert store.rows("SELECT count(*) FROM events WHERE kind = 'budget_warning'")[0][0] >= 0

    def test_stalled_stream_and_mid_stream_error_fail_streamed_calls(self, store: Store) -> None:
        """A stall cut by the StreamDeadline (a deadline event) and an error event mid-stream both end streamed
        calls in error after an HTTP 200."""
        assert store.rows("SELECT count(*) FROM events WHERE kind = 'deadline'")[0][0] >= 1
        failed = store.rows(
            "SELECT error_type FROM calls WHERE streaming AND status = 'error' AND http_status = 200 ORDER BY error_type"
        )
        assert len(failed) >= 2
        assert any("overloaded" in str(e) or "stream_error" in str(e) for (e,) in failed)

    def test_timeouts_and_dropped_connections_are_failed_attempts(self, store: Store) -> None:
        """A request left unanswered times out, a dropped connection fails; both retried by the SDK."""
        kinds = dict(store.rows("SELECT error_type, count(*) FROM attempts WHERE http_status IS NULL GROUP BY ALL"))
        assert kinds.get("timeout", 0) >= 1
        assert kinds.get("connection", 0) >= 1

    def test_toolkit_retries_are_events(self, store: Store) -> None:
        """The resilience `retry` records each retry, and the give-up."""
        kinds = dict(store.rows("SELECT kind, count(*) FROM events GROUP BY kind"))
        assert kinds.get("retry", 0) >= 3
        assert kinds.get("retry_exhausted", 0) >= 1

    def test_caching_thinking_and_tools_show_in_the_tokens(self, store: Store) -> None:
        """Prompt caching (5-minute and 1-hour writes, then reads) and extended thinking reach the token columns."""
        read, write, write_1h, thinking = store.rows(
            "SELECT sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(thinking_tokens) "
            "FROM calls"
        )[0]
        assert read > 0 and write > 0 and write_1h > 0 and thinking > 0

    def test_the_cached_handbook_is_read_back_on_every_model_family(self, store: Store) -> None:
        """The handbook is long enough for each family's minimum cacheable prefix (4,096 tokens on haiku and opus)."""
        models = pick_models()
        reads = dict(
            store.rows("SELECT model, sum(cache_read_tokens) FROM calls WHERE model IS NOT NULL GROUP BY model")
        )
        for model in (models.sonnet, models.haiku, models.opus):
            assert reads[model] > 0, model

    def test_count_tokens_and_the_batch_are_calls_too(self, store: Store) -> None:
        operations = {op for (op,) in store.rows("SELECT DISTINCT operation FROM calls")}
        assert "count_tokens" in operations
        assert any("batches.create" in op for op in operations)
        assert any("batches.results" in op for op in operations)

    def test_message_calls_are_tagged_with_feature_and_customer(self, store: Store) -> None:
        untagged = store.rows(
            "SELECT count(*) FROM calls WHERE operation = 'chat' AND (json_extract_string(CAST(tags AS JSON), 'feature') "
            "IS NULL OR json_extract_string(CAST(tags AS JSON), 'customer') IS NULL)"
        )
        assert untagged == [(0,)]
        features = {
            f for (f,) in store.rows("SELECT DISTINCT json_extract_string(CAST(tags AS JSON), 'feature') FROM calls")
        }
        assert {"chat", "search", "summarise", "extract", "agent", "nightly-digest"} <= features

    def test_attempts_carry_rate_limit_headroom_and_belong_to_calls(self, store: Store) -> None:
        orphans, with_headroom, answered = store.rows(
            "SELECT count(*) FILTER (WHERE c.span_id IS NULL), count(a.ratelimit_requests_remaining), "
            "count(a.http_status) FROM attempts a LEFT JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id"
        )[0]
        assert orphans == 0
        assert with_headroom >= answered * 0.9


class TestWhatItPrints:
    def test_the_demo_prints_a_summary_of_its_run(self, demo_output: str) -> None:
        """Notable moments as they happen, then the report's tables for this run and the resilience events."""
        for text in ("429 burst", "overload", "budget", "stalled stream", "This demo run", "Per model",
                     "Resilience events", "breaker_transition", "budget_trip"):  # fmt: skip
            assert text in demo_output, text
        for model in pick_models().all():
            assert model in demo_output

    def test_tracer_report_prints_the_headline_tables(self, demo_store: Path) -> None:
        done = tracer_cli("report", "--store", str(demo_store), "--since", "all")
        assert done.returncode == 0, done.stderr
        for text in ("cost", "calls", "error rate", "p95 ms", "Per model", "429 rate", "Cost by tag", "Prompt caching"):
            assert text in done.stdout, text
        for model in pick_models().all():
            assert model in done.stdout


class TestOneScreen:
    @pytest.mark.world  # a second whole demo run (make test-world; the 100-column run stays in make test)
    def test_a_run_that_repeats_its_incidents_lists_each_scenario_once_then_the_summary(self, tmp_path: Path) -> None:
        """250 calls run the frequent incidents twice: still one line per scenario, with its runs, before the tables."""
        done = tracer_cli("demo", "--no-dashboard", "--store", str(tmp_path / "s"), "--calls", "250",
                          "--latency-scale", "0", timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = done.stdout
        ran = Counter(task.name for task in plan(250))
        assert max(ran.values()) > 1 and ran["rate_limited"] == 2
        assert out.index("Scenarios (") < out.index("This demo run")
        table = out[out.index("Scenarios (") : out.index("This demo run")].splitlines()
        for name, runs in ran.items():
            rows = [line for line in table if re.match(rf"│ {name}\s+│", line)]
            assert len(rows) == 1, (name, rows)
            assert int(rows[0].split("│")[2]) == runs, rows[0]
        assert out.count("429 burst") == 1
        assert len(out[: out.index("This demo run")].splitlines()) < 40  # one screen before the summary tables

    def test_every_line_fits_100_columns_and_nothing_is_cut(self, tmp_path: Path) -> None:
        """Piped (not a terminal), the whole output is at most 100 columns wide; no value or scenario description
        ends in an ellipsis, and each everyday scenario's line is printed whole."""
        done = tracer_cli("demo", "--no-dashboard", "--store", str(tmp_path / "s"), "--calls", "120",
                          "--latency-scale", "0", timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        too_wide = [line for line in lines if len(line) > 100]
        assert not too_wide, too_wide
        assert not [line for line in lines if "\u2026" in line]  # rich's ellipsis: a cut cell
        for fn, _, _ in scenarios.EVERYDAY:
            line = (fn.__doc__ or "").strip().splitlines()[0]
            assert any(line in row for row in lines), line


class TestPlan:
    def test_every_scenario_runs_at_least_once_even_in_a_short_run(self) -> None:
        names = Counter(task.name for task in plan(1))
        everyday = {fn.__name__ for fn, _, _ in scenarios.EVERYDAY}
        incidents = {fn.__name__ for fn, _ in scenarios.INCIDENTS}
        assert set(names) == everyday | incidents

    def test_about_as_many_calls_as_asked(self) -> None:
        biggest = max(n for _, _, n in scenarios.EVERYDAY)
        for calls in (200, 500, 1000):
            planned = sum(task.calls for task in plan(calls))
            assert calls <= planned < calls + biggest

    def test_frequent_incidents_come_back_in_long_runs(self) -> None:
        names = Counter(task.name for task in plan(600))
        assert names["rate_limited"] >= 4
        assert names["overload"] == 1

    def test_the_seed_fixes_the_plan(self) -> None:
        assert [t.name for t in plan(300, seed=1)] == [t.name for t in plan(300, seed=1)]
        assert [t.name for t in plan(300, seed=1)] != [t.name for t in plan(300, seed=2)]


class TestModels:
    def test_current_aliases_of_each_family_from_the_sdk(self) -> None:
        from anthropic._data.deprecated_models import DEPRECATED_MODELS

        models = pick_models()
        assert models.sonnet.startswith("claude-sonnet-")
        assert models.haiku.startswith("claude-haiku-")
        assert models.opus.startswith("claude-opus-")
        for model in models.all():
            assert model not in DEPRECATED_MODELS
            assert not model[-8:].isdigit()  # an alias, not a dated snapshot

    def test_the_newest_version_wins_and_deprecated_ones_are_skipped(self) -> None:
        models = pick_models(["claude-sonnet-4-5", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7",
                              "claude-opus-4-8", "claude-opus-4-8-20260101", "claude-sonnet-5"])  # fmt: skip
        assert (models.sonnet, models.sonnet_previous, models.haiku, models.opus) == (
            "claude-sonnet-5", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-8",
        )  # fmt: skip


class TestCommandLine:
    def test_rejects_nonsense_options_in_one_line(self, tmp_path: Path) -> None:
        done = tracer_cli("demo", "--calls", "0", "--no-dashboard")
        assert done.returncode == 2 and "expected at least 1" in done.stderr
        done = tracer_cli("demo", "--latency-scale", "-1", "--no-dashboard")
        assert done.returncode == 2 and "expected a number >= 0" in done.stderr
        (tmp_path / "file").write_text("")
        done = tracer_cli("demo", "--store", str(tmp_path / "file"), "--no-dashboard")
        assert done.returncode == 2 and "is a file" in done.stderr
        assert "Traceback" not in done.stderr

    @pytest.mark.slow
    def test_serves_the_dashboard_after_the_run_until_interrupted(self, tmp_path: Path) -> None:
        """Without --no-dashboard the demo prints the dashboard's URL, serves it, and stops cleanly on Ctrl-C."""
        env = {**os.environ, "COLUMNS": "160"}
        command = [
            *TRACER,
            "demo",
            "--calls",
            "1",
            "--store",
            str(tmp_path / "s"),
            "--port",
            "0",
            "--latency-scale",
            "0",
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            url = None
            deadline = time.monotonic() + 90
            assert process.stdout is not None
            for line in process.stdout:
                if "claude-tracer dashboard: http" in line:
                    url = line.split("dashboard: ", 1)[1].split()[0]
                    break
                assert time.monotonic() < deadline
            assert url is not None, "the demo never printed the dashboard URL"
            with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as response:
                assert response.status == 200
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) in (0, 130)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
