"""The Traces and Conversations pages over the demo store (whose agent runs and support conversations the demo
makes): what they show agrees with SQL written here over the stored calls, attempts and spans, and a URL opens the
run or conversation it names.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from dashtest import (  # noqa: F401  (the *_fixture names are fixtures)
    demo_pages_fixture,
    figures,
    frame,
    metrics,
    parse_count,
    parse_ms,
    parse_usd,
    run_page,
    trace_values,
)
from streamlit.testing.v1 import AppTest

from tracer.read import Store


@pytest.fixture(scope="module")
def store(demo_store: Path) -> Store:
    return Store(demo_store)


@pytest.fixture(scope="module")
def agent_run(store: Store) -> str:
    """The trace id of one of the demo's agent runs (the newest)."""
    rows = store.rows("SELECT trace_id FROM spans WHERE name = 'agent.run' ORDER BY start_time DESC LIMIT 1")
    assert rows, "the demo made no agent run"
    return str(rows[0][0])


@pytest.fixture(scope="module")
def opened_run(demo_store: Path, agent_run: str) -> AppTest:
    return run_page(demo_store, "traces", {"trace": agent_run})


def linked(url: str, param: str) -> str:
    """The value of `param` in a row's link."""
    return parse_qs(urlsplit(url).query)[param][0]


class TestTraces:
    def test_a_url_with_a_trace_id_opens_that_run(self, opened_run: AppTest, agent_run: str) -> None:
        assert not opened_run.exception
        assert opened_run.selectbox(key="trace_choice").value == agent_run
        assert opened_run.query_params["trace"] == [agent_run] or opened_run.query_params["trace"] == agent_run

    def test_a_url_naming_no_stored_run_says_so(self, demo_store: Path) -> None:
        at = run_page(demo_store, "traces", {"trace": "0" * 32})
        assert not at.exception
        assert any("No run with trace id" in warning.value for warning in at.warning)

    def test_the_runs_tree_is_every_stored_span_of_it(self, opened_run: AppTest, store: Store, agent_run: str) -> None:
        """One row per stored call, attempt and other span of the trace, with their durations; parents first."""
        stored = store.rows(
            """SELECT 'call', duration_ms FROM calls WHERE trace_id = ?
               UNION ALL SELECT 'attempt', duration_ms FROM attempts WHERE trace_id = ?
               UNION ALL SELECT CASE operation WHEN 'execute_tool' THEN 'tool' WHEN 'invoke_agent' THEN 'agent'
                                ELSE 'span' END, duration_ms FROM spans WHERE trace_id = ?""",
            [agent_run] * 3,
        )
        table = frame(opened_run, "spans_table")
        shown = sorted(zip(table["type"], table["duration_ms"].round(6), strict=True))
        assert shown == sorted((kind, round(duration, 6)) for kind, duration in stored)
        # The demo's run: agent.run > tool runner > call, tool, call (each call with its attempts).
        assert list(table["type"][:3]) == ["span", "agent", "call"]
        assert table["span"].iloc[0].strip() == "agent.run"
        assert "tool" in set(table["type"])

    def test_the_runs_numbers_match_its_calls(self, opened_run: AppTest, store: Store, agent_run: str) -> None:
        calls, cost, tokens = store.rows(
            "SELECT count(*), sum(cost_usd)::DOUBLE, sum(input_tokens + cache_read_tokens + cache_write_tokens "
            "+ output_tokens) FROM calls WHERE trace_id = ?",
            [agent_run],
        )[0]
        tools = store.rows("SELECT count(*) FROM spans WHERE trace_id = ? AND operation = 'execute_tool'", [agent_run])[0][0]
        shown = metrics(opened_run)
        assert parse_count(shown["Calls"]) == calls == 2
        assert parse_count(shown["Tool executions"]) == tools == 1
        assert parse_count(shown["Tokens"]) == tokens
        assert parse_usd(shown["Cost"]) == pytest.approx(cost, abs=0.0000005)
        table = frame(opened_run, "spans_table")
        assert table["cost_usd"].sum() == pytest.approx(cost, rel=1e-9)

    def test_the_waterfall_draws_a_bar_for_every_span_calls_in_their_models_colour(
        self, opened_run: AppTest, store: Store, agent_run: str
    ) -> None:
        from claude_tracer_dashboard.charts import SPAN_COLOURS, STATUS_COLOURS, model_colours

        figure = figures(opened_run)["run_waterfall"]
        bars = [trace for trace in figure["data"] if trace["type"] == "bar" and trace["name"] != "wait before attempt"]
        rows = len(frame(opened_run, "spans_table"))
        assert sum(len(trace_values(trace, "x")) for trace in bars) == rows
        everything = model_colours(m for (m,) in store.rows("SELECT DISTINCT model FROM calls"))
        (model,) = store.rows("SELECT DISTINCT model FROM calls WHERE trace_id = ?", [agent_run])[0]
        by_name = {trace["name"]: trace["marker"]["color"] for trace in bars}
        assert by_name[model] == everything[model]
        assert by_name["ok"] == STATUS_COLOURS["ok"]
        assert by_name["tool execution"] == SPAN_COLOURS["tool execution"]
        # Each name on the left, indented by depth: the tool runner one step in from agent.run.
        (names,) = [trace for trace in figure["data"] if trace["type"] == "scatter"]
        assert trace_values(names, "x")[:2] == [0, 1]

    def test_a_retried_call_in_a_run_shows_its_429_and_the_wait_before_the_retry(self, demo_store: Path, store: Store) -> None:
        """The demo's busy agent run: each call answered 429 first; the waterfall draws the 429 attempt in its status
        colour and the wait until the next attempt, from the first attempt's end to the second's start."""
        rows = store.rows(
            "SELECT a.trace_id FROM attempts a JOIN spans s ON s.trace_id = a.trace_id AND s.name = 'agent.run' "
            "WHERE a.http_status = 429 LIMIT 1"
        )
        assert rows, "the demo made no agent run with a 429"
        trace_id = rows[0][0]
        waits = store.rows(
            """SELECT epoch_us(b.start_time) / 1000.0 - (epoch_us(a.start_time) / 1000.0 + a.duration_ms)
                 FROM attempts a JOIN attempts b ON a.call_span_id = b.call_span_id AND b.attempt = a.attempt + 1
                WHERE a.trace_id = ? ORDER BY a.start_time""",
            [trace_id],
        )
        at = run_page(demo_store, "traces", {"trace": trace_id})
        figure = figures(at)["run_waterfall"]
        by_name = {trace["name"]: trace for trace in figure["data"] if trace["type"] == "bar"}
        assert "429" in by_name
        assert trace_values(by_name["wait before attempt"], "x") == pytest.approx([w for (w,) in waits], abs=0.01)

    def test_tool_executions_by_name_match_the_stored_tool_spans(self, opened_run: AppTest, store: Store) -> None:
        table = frame(opened_run, "tools_table").set_index("tool_name")
        for name, executions, errors, p95 in store.rows(
            "SELECT tool_name, count(*), count(*) FILTER (WHERE status = 'error'), quantile_cont(duration_ms, 0.95) "
            "FROM spans WHERE operation = 'execute_tool' GROUP BY 1"
        ):
            assert table.loc[name, "executions"] == executions
            assert table.loc[name, "error_share"] == pytest.approx(errors / executions)
            assert table.loc[name, "p95_ms"] == pytest.approx(p95, rel=1e-9)

    def test_costliest_lists_the_dearest_run_first_and_links_every_row(
        self, demo_store: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACER_STORE", str(demo_store))  # for the runs after the first (run_page sets it for one)
        at = run_page(demo_store, "traces")
        at.segmented_control(key="run_order").set_value("costliest").run()
        assert not at.exception
        table = frame(at, "runs_table")
        dearest = store.rows(
            "SELECT trace_id, sum(cost_usd)::DOUBLE FROM calls GROUP BY 1 ORDER BY 2 DESC NULLS LAST LIMIT 1"
        )[0]
        assert linked(table["run"].iloc[0], "trace") == dearest[0]
        assert table["cost_usd"].iloc[0] == pytest.approx(dearest[1], rel=1e-9)
        assert all(urlsplit(url).path == "traces" for url in table["run"])

    def test_errors_only_keeps_the_runs_with_an_error(
        self, demo_store: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACER_STORE", str(demo_store))  # for the runs after the first (run_page sets it for one)
        at = run_page(demo_store, "traces")
        at.toggle(key="run_errors").set_value(True).run()
        table = frame(at, "runs_table")
        failed = {t for (t,) in store.rows(
            "SELECT trace_id FROM calls WHERE status = 'error' UNION SELECT trace_id FROM spans WHERE status = 'error'"
        )}  # fmt: skip
        assert len(table) == min(50, len(failed)) > 0
        assert {linked(url, "trace") for url in table["run"]} <= failed

    def test_a_root_span_name_narrows_the_list_to_those_runs(
        self, demo_store: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRACER_STORE", str(demo_store))  # for the runs after the first (run_page sets it for one)
        at = run_page(demo_store, "traces")
        at.selectbox(key="run_root").set_value("agent.run").run()
        table = frame(at, "runs_table")
        runs = {t for (t,) in store.rows("SELECT trace_id FROM spans WHERE name = 'agent.run' AND parent_span_id IS NULL")}
        assert {linked(url, "trace") for url in table["run"]} == runs
        assert set(table["root_name"]) == {"agent.run"}


    def test_the_sidebar_filters_narrow_the_runs(self, demo_store: Path, store: Store) -> None:
        """?model=M&tag=feature=agent: only runs with a call on that model and that tag, every one of them."""
        model = store.rows(
            "SELECT c.model FROM calls c JOIN spans s ON s.trace_id = c.trace_id AND s.name = 'agent.run' LIMIT 1"
        )[0][0]
        at = run_page(demo_store, "traces", {"model": model, "tag": "feature=agent"})
        expected = {t for (t,) in store.rows(
            "SELECT DISTINCT trace_id FROM calls WHERE model = ? AND tags['feature'] = 'agent'", [model]
        )}  # fmt: skip
        table = frame(at, "runs_table")
        assert 0 < len(expected) < 50  # all of them fit in the list
        assert {linked(url, "trace") for url in table["run"]} == expected
        assert all(model in models.split(",") for models in table["models"])


class TestConversations:
    def test_the_list_matches_the_calls_by_conversation(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        table = frame(demo_pages["conversations"], "conversations_table")
        shown = {linked(url, "conversation"): (turns, cost) for url, turns, cost in
                 zip(table["conversation"], table["turns"], table["cost_usd"], strict=True)}  # fmt: skip
        expected = store.rows(
            "SELECT conversation_id, count(*), sum(cost_usd)::DOUBLE FROM calls WHERE conversation_id IS NOT NULL "
            "AND operation = 'chat' GROUP BY 1"
        )
        assert expected, "the demo made no conversation"
        assert shown.keys() == {c for c, _, _ in expected}
        for conversation, turns, cost in expected:
            assert shown[conversation][0] == turns
            assert shown[conversation][1] == pytest.approx(cost, rel=1e-9)

    def test_a_url_opens_a_conversation_whose_turns_match_its_calls(self, demo_store: Path, store: Store) -> None:
        """?conversation=ID opens it: one row per call in time order, with its cost, latency and cache tokens; a
        turn that wrote the cache again after the turn before had cached more is flagged as a miss."""
        conversation = store.rows(
            "SELECT conversation_id FROM calls WHERE conversation_id IS NOT NULL GROUP BY 1 "
            "ORDER BY sum(cache_write_tokens) DESC, 1 LIMIT 1"
        )[0][0]
        calls = store.rows(
            "SELECT span_id, trace_id, cost_usd::DOUBLE, duration_ms, cache_read_tokens, cache_write_tokens FROM calls "
            "WHERE conversation_id = ? ORDER BY start_time, span_id",
            [conversation],
        )
        at = run_page(demo_store, "conversations", {"conversation": conversation})
        assert not at.exception
        assert at.selectbox(key="conversation_choice").value == conversation
        table = frame(at, "turns_table")
        assert list(table["turn"]) == list(range(1, len(calls) + 1))
        assert [linked(url, "trace") for url in table["run"]] == [c[1] for c in calls]
        assert list(table["cost_usd"]) == pytest.approx([c[2] for c in calls], rel=1e-9)
        assert list(table["duration_ms"]) == pytest.approx([c[3] for c in calls], rel=1e-9)
        assert list(table["cache_read_tokens"]) == [c[4] for c in calls]
        assert list(table["cache_write_tokens"]) == [c[5] for c in calls]
        misses = [
            i > 0 and write > 0 and read < calls[i - 1][4] + calls[i - 1][5]
            for i, (_, _, _, _, read, write) in enumerate(calls)
        ]
        assert [cache.startswith("⚠ miss") for cache in table["cache"]] == misses
        shown = metrics(at)
        assert parse_count(shown["Turns"]) == len(calls)
        assert parse_count(shown["Cache misses"]) == sum(misses)
        median = statistics.median(c[3] for c in calls)
        assert parse_ms(shown["Latency per turn (median)"]) == pytest.approx(median, abs=0.51 if median < 10_000 else 5.1)
        figure = figures(at)["conversation_turns"]
        flagged = [trace for trace in figure["data"] if trace.get("name", "").startswith("cache miss")]
        if any(misses):
            assert at.warning and "Cache miss on turn" in at.warning[0].value
            assert trace_values(flagged[0], "x") == [i + 1 for i, miss in enumerate(misses) if miss]
        else:
            assert not flagged

    def test_the_demo_has_a_cache_miss_to_show(self, store: Store) -> None:
        """One demo conversation in three edits its system prompt mid-way: the page has a miss to flag."""
        assert store.rows("SELECT count(*) FROM conversations WHERE cache_rewrite")[0][0] > 0


class TestLinks:
    def test_every_call_links_to_its_run(self, demo_pages: dict[str, AppTest]) -> None:
        table = frame(demo_pages["calls"], "calls_table")
        assert [linked(url, "trace") for url in table["run"]] == list(table["trace_id"])
        assert [linked(url, "call") for url in table["call"]] == list(table["span_id"])
        assert all(urlsplit(url).path == "traces" for url in table["run"])

    def test_links_keep_the_filters_in_force(self, demo_store: Path, store: Store) -> None:
        model = store.rows("SELECT model FROM calls WHERE conversation_id IS NOT NULL LIMIT 1")[0][0]
        at = run_page(demo_store, "conversations", {"model": model})
        url = frame(at, "conversations_table")["conversation"].iloc[0]
        assert parse_qs(urlsplit(url).query)["model"] == [model]


class TestContent:
    def test_the_content_of_a_run_is_shown_when_it_was_captured(
        self, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A demo store recorded with content capture on (the GenAI convention's environment variable): the run's
        page shows each span's content as JSON under the waterfall."""
        from tracer.demo import fill_store

        path = tmp_path_factory.mktemp("content") / "store"
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        fill_store(path, calls=40, seed=3, latency_scale=0)
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        store = Store(path)
        (trace_id,) = store.rows("SELECT trace_id FROM spans WHERE name = 'agent.run' LIMIT 1")[0]
        captured = store.rows(
            "SELECT count(*) FROM trace_spans WHERE trace_id = ? AND content IS NOT NULL", [trace_id]
        )[0][0]
        assert captured > 0, "the demo's agent run has no content although capture was on"
        at = run_page(path, "traces", {"trace": trace_id})
        assert not at.exception
        assert len([e for e in at.expander if e.label.startswith("Content of")]) == captured
        assert len(at.json) == captured


class TestRunListQuery:
    @pytest.mark.parametrize("order", ["recent", "slowest", "costliest"])
    @pytest.mark.parametrize(
        "narrowing",
        [{"root": "agent.run"}, {"root": "anthropic.messages.create"}, {"errors_only": True},
         {"root": "anthropic.messages.create", "errors_only": True}, {}],
    )  # fmt: skip
    def test_the_pages_run_list_is_the_full_roll_ups(self, store: Store, order: str, narrowing: dict[str, object]) -> None:
        """`runs.traces` finds the runs with a root name or an error before rolling any up: the same runs, in the
        same order, as the whole `traces` view filtered and ordered in SQL."""
        from tracer.read import Filters
        from tracer.read.runs import ORDERS, traces

        conditions = ["true"]
        params: list[object] = []
        if "root" in narrowing:
            conditions.append("root_name = ?")
            params.append(narrowing["root"])
        if narrowing.get("errors_only"):
            conditions.append("errors > 0")
        expected = store.sql(
            f"SELECT trace_id FROM traces WHERE {' AND '.join(conditions)} ORDER BY {ORDERS[order]}, trace_id LIMIT 20", params
        )
        shown = traces(store, Filters(), order, 20, **narrowing)  # type: ignore[arg-type]
        assert len(expected) > 0
        assert list(shown["trace_id"]) == list(expected["trace_id"])
