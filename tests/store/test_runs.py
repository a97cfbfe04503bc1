"""Agent runs in the store: which spans the exporter keeps (`TraceKeeper`), and the run and conversation queries
(`tracer.read.runs`) checked against independent computations over a synthetic store's own tables."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tracer.read import Filters, Store
from tracer.read.runs import conversation_turns, conversations, tool_executions, trace_summary, trace_tree, traces
from tracer.read.synthetic import generate, write_synthetic
from tracer.store._rows import TraceKeeper

END = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


class TestTraceKeeper:
    def test_spans_before_the_first_call_are_held_then_kept(self) -> None:
        keeper = TraceKeeper()
        assert not keeper.wants(1, local_root=False)
        keeper.hold(1, "retrieve")
        keeper.call(1)
        assert keeper.take_released() == ["retrieve"] and keeper.held == 0
        assert keeper.wants(1, local_root=False) and keeper.wants(1, local_root=True)
        assert not keeper._kept  # the root ended: the trace is forgotten, memory stays flat

    def test_a_trace_whose_root_ends_without_a_call_is_let_go(self) -> None:
        keeper = TraceKeeper()
        keeper.hold(7, "db.query")
        keeper.hold(7, "cache.get")
        assert not keeper.wants(7, local_root=True)
        assert keeper.held == 0 and keeper.let_go == 3 and keeper.take_released() == []

    def test_what_it_holds_and_remembers_is_bounded(self) -> None:
        keeper = TraceKeeper(max_held=100, max_traces=10)
        for trace in range(1_000):
            keeper.hold(trace, "span")  # roots that never end
        assert keeper.held == 100 and keeper.let_go == 900
        for trace in range(1_000, 1_050):
            keeper.call(trace)
        assert (
            len(keeper._kept) == 10
            and keeper.wants(1_049, local_root=False)
            and not keeper.wants(1_000, local_root=False)
        )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("runs")
    write_synthetic(root, 3_000, seed=3, end=END, days=2.0, chunk_calls=1_000)
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i in range(3):  # the same chunks write_synthetic wrote
        size = 1_000
        chunk_end = END - dt.timedelta(days=(2.0 / 3) * (2 - i))
        for name, data in generate(size, seed=3 * 1000 + i, end=chunk_end, days=2.0 / 3).items():
            tables[name].extend(data.to_pylist())
    return root, tables


class TestQueries:
    def test_a_runs_roll_up_and_tree_match_its_rows(self, synthetic: tuple[Path, dict[str, Any]]) -> None:
        root, tables = synthetic
        runs = [s for s in tables["spans"] if s["name"] == "agent.run"]
        assert len(runs) > 100
        with Store(root) as store:
            for run in runs[:: max(len(runs) // 20, 1)]:
                trace_id = run["trace_id"]
                calls = [c for c in tables["calls"] if c["trace_id"] == trace_id]
                spans = [s for s in tables["spans"] if s["trace_id"] == trace_id]
                attempts = [a for a in tables["attempts"] if a["trace_id"] == trace_id]
                ((exact,),) = store.rows("SELECT cost_usd FROM traces WHERE trace_id = ?", [trace_id])
                priced = [c["cost_usd"] for c in calls if c["cost_usd"] is not None]
                assert exact == (sum(priced, Decimal(0)) if priced else None)
                row = trace_summary(store, trace_id).iloc[0]
                assert row["root_name"] == "agent.run" and row["calls"] == len(calls) == 3
                assert row["attempts"] == sum(c["attempts"] for c in calls) == len(attempts)
                assert row["tool_executions"] == sum(1 for s in spans if s["operation"] == "execute_tool")
                assert row["errors"] == sum(c["status"] == "error" for c in calls) + sum(
                    s["status"] == "error" for s in spans
                )
                assert row["output_tokens"] == sum(c["output_tokens"] or 0 for c in calls)
                tree = trace_tree(store, trace_id)
                assert len(tree) == len(calls) + len(spans) + len(attempts)
                depth = dict(zip(tree["span_id"], tree["depth"], strict=True))
                seen: set[str] = set()
                for span_id, parent in zip(tree["span_id"], tree["parent_span_id"], strict=True):
                    if isinstance(parent, str):
                        assert parent in seen and depth[span_id] == depth[parent] + 1  # parents come first
                    seen.add(span_id)
                assert tree["name"].iloc[0] == "agent.run" and (tree["depth"] == 0).sum() == 1

    def test_run_lists_are_ordered_and_filtered(self, synthetic: tuple[Path, dict[str, Any]]) -> None:
        root, _ = synthetic
        with Store(root) as store:
            recent = traces(store, Filters(), "recent", limit=20)
            assert recent["start_time"].is_monotonic_decreasing and len(recent) == 20
            slowest = traces(store, Filters(), "slowest", limit=10)
            everything = store.sql("SELECT duration_ms FROM traces ORDER BY duration_ms DESC LIMIT 10")
            assert slowest["duration_ms"].tolist() == everything["duration_ms"].tolist()
            exact = store.rows("SELECT trace_id FROM traces ORDER BY cost_usd DESC NULLS LAST, trace_id LIMIT 30")
            assert traces(store, Filters(), "costliest", limit=30)["trace_id"].tolist() == [t for (t,) in exact]
            costliest = traces(store, Filters(models=("claude-opus-4-5",)), "costliest", limit=5)
            assert all("claude-opus-4-5" in models for models in costliest["models"])
            assert costliest["cost_usd"].is_monotonic_decreasing
            assert set(traces(store, Filters(), root="agent.run", limit=500)["root_name"]) == {"agent.run"}
            assert (traces(store, Filters(), errors_only=True, limit=500)["errors"] > 0).all()
            with pytest.raises(ValueError, match="order must be one of"):
                traces(store, Filters(), "cheapest")

    def test_conversations_and_tools_match_their_rows(self, synthetic: tuple[Path, dict[str, Any]]) -> None:
        root, tables = synthetic
        by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in tables["calls"]:
            if c["conversation_id"] is not None:
                by_conversation[c["conversation_id"]].append(c)
        assert len(by_conversation) > 20
        with Store(root) as store:
            for conversation_id, calls in list(by_conversation.items())[:10]:
                calls.sort(key=lambda c: (c["start_time"], c["span_id"]))
                turns = conversation_turns(store, conversation_id)
                assert turns["turn"].tolist() == list(range(1, len(calls) + 1))
                assert turns["span_id"].tolist() == [c["span_id"] for c in calls]
                exact = [
                    c
                    for (c,) in store.rows(
                        "SELECT cost_usd FROM conversations WHERE conversation_id = ? ORDER BY turn", [conversation_id]
                    )
                ]
                assert exact == [c["cost_usd"] for c in calls]
                rewrites = [i > 0 and (c["cache_write_tokens"] or 0) > 0
                            and (c["cache_read_tokens"] or 0) < (calls[i - 1]["cache_read_tokens"] or 0) + (calls[i - 1]["cache_write_tokens"] or 0)
                            for i, c in enumerate(calls)]  # fmt: skip
                assert turns["cache_rewrite"].tolist() == rewrites
            listed = conversations(store, Filters(), limit=1_000)
            assert set(listed["conversation_id"]) == set(by_conversation)
            assert dict(zip(listed["conversation_id"], listed["turns"], strict=True)) == {
                k: len(v) for k, v in by_conversation.items()
            }

            tools = tool_executions(store, Filters())
            runs = [s for s in tables["spans"] if s["operation"] == "execute_tool"]
            counts: dict[str, int] = defaultdict(int)
            errors: dict[str, int] = defaultdict(int)
            for s in runs:
                counts[s["tool_name"]] += 1
                errors[s["tool_name"]] += s["status"] == "error"
            assert dict(zip(tools["tool_name"], tools["executions"], strict=True)) == counts
            for name, share in zip(tools["tool_name"], tools["error_share"], strict=True):
                assert share == pytest.approx(errors[name] / counts[name])
            assert (tools["p95_ms"] >= tools["p50_ms"]).all()

    def test_a_store_without_runs_answers_empty(self, tmp_path: Path) -> None:
        with Store(tmp_path) as store:
            assert traces(store, Filters()).empty and conversations(store, Filters()).empty
            assert tool_executions(store, Filters()).empty and trace_tree(store, "0" * 32).empty
            assert trace_summary(store, "0" * 32).empty and conversation_turns(store, "nope").empty
