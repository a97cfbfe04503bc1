"""Agent runs and conversations in the store (issue 15): whole traces of the runs that call Claude, as one tree,
whatever thread, task or process each step ran in; nothing of traces without a call; conversations per turn.

Everything runs for real: the SDK's tool runner against the fake API over HTTP, the application's own spans from
the OpenTelemetry SDK, the store written by the exporter and read back with DuckDB.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import inject

import tracer
from tests._telemetry import Telemetry
from tracer import semconv
from tracer.read import Filters, Store
from tracer.read.runs import conversation_turns, conversations, tool_executions, trace_summary, trace_tree, traces

from .conftest import API_KEY, MODEL

app = trace.get_tracer("claude-tracer-tests.agent")

SYSTEM = "You are a terse weather assistant. " * 1000  # long enough to be cached (the fake API counts as the API)


@anthropic.beta_tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name
    """
    return f"Sunny in {city}"


def _first_request_scripted(outcomes: str) -> Any:
    """An HTTP client whose first request only carries `x-fake-script`: one 429 in the whole run, on its first call."""
    seen = itertools.count()

    def hook(request: Any) -> None:
        if next(seen) == 0:
            request.headers["x-fake-script"] = outcomes

    return anthropic.DefaultHttpxClient(event_hooks={"request": [hook]})


def _run_agent(api: Any) -> str:
    """`agent.run` around the SDK's tool runner: two calls (the first answered 429, then retried) with one tool
    execution between them. The trace id, in hex."""
    client = anthropic.Anthropic(
        api_key=API_KEY, base_url=api.base_url, http_client=_first_request_scripted("429:0,ok")
    )
    with app.start_as_current_span("agent.run") as root:
        runner = client.beta.messages.tool_runner(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[get_weather], tool_choice={"type": "any"}, max_iterations=2,
        )  # fmt: skip
        assert len(list(runner)) == 2
    return format(root.get_span_context().trace_id, "032x")


def _unrelated_trace() -> str:
    """A request of the application's with no Claude call in it, as a web app makes thousands of."""
    with app.start_as_current_span("GET /health") as root, app.start_as_current_span("db.query"):
        pass
    return format(root.get_span_context().trace_id, "032x")


def _read(telemetry: Telemetry) -> Store:
    assert tracer.flush(timeout_s=10)
    return Store(telemetry.store)


def _ids_in_store(store: Store) -> set[str]:
    return {
        row[0]
        for row in store.rows(
            "SELECT DISTINCT trace_id FROM trace_spans UNION SELECT DISTINCT trace_id FROM events WHERE trace_id IS NOT NULL"
        )
    }


class TestWholeTraces:
    def test_an_agent_run_is_one_tree_and_a_trace_without_a_call_is_not_kept(
        self, fake_api: Any, telemetry: Telemetry
    ) -> None:
        before = _unrelated_trace()
        trace_id = _run_agent(fake_api)
        after = _unrelated_trace()
        with _read(telemetry) as store:
            assert _ids_in_store(store) == {trace_id}
            assert before != after and not store.rows("SELECT * FROM spans WHERE trace_id IN (?, ?)", [before, after])
            tree = trace_tree(store, trace_id)
            shape = [(d, t, n) for d, t, n in zip(tree["depth"], tree["type"], tree["name"], strict=True)]
            # The SDK's runner may run the tool once more after its last call (anthropic 1.14 does): any such
            # tool span hangs under the tool runner too.
            assert shape[:8] == [
                (0, "span", "agent.run"),
                (1, "agent", "anthropic.messages.tool_runner"),
                (2, "call", "anthropic.messages.create"),
                (3, "attempt", "attempt 0"),
                (3, "attempt", "attempt 1"),
                (2, "tool", "anthropic.custom_tool_use get_weather"),
                (2, "call", "anthropic.messages.create"),
                (3, "attempt", "attempt 0"),
            ]
            assert all(row == (2, "tool", "anthropic.custom_tool_use get_weather") for row in shape[8:])
            tool_runs = sum(1 for row in shape if row[1] == "tool")
            by_name = dict(zip(tree["name"], tree["span_id"], strict=False))
            parents = dict(zip(tree["span_id"], tree["parent_span_id"], strict=True))
            assert parents[by_name["anthropic.messages.tool_runner"]] == by_name["agent.run"]
            assert (
                parents[by_name["anthropic.custom_tool_use get_weather"]] == by_name["anthropic.messages.tool_runner"]
            )
            assert list(tree["http_status"].iloc[[3, 4]]) == [429, 200]
            first_call = tree.iloc[2]
            assert first_call["tool_names"] == "get_weather" and first_call["tool_use_count"] == 1
            tool = tree.iloc[5]
            assert tool["tool_name"] == "get_weather" and tool["status"] == "ok" and tool["duration_ms"] >= 0

            summary = trace_summary(store, trace_id).iloc[0]
            calls = store.rows("SELECT cost_usd, input_tokens, output_tokens FROM calls WHERE trace_id = ?", [trace_id])
            assert summary["root_name"] == "agent.run"
            counts = (summary["calls"], summary["attempts"], summary["tool_executions"], summary["errors"])
            assert counts == (2, 3, tool_runs, 0)
            ((exact,),) = store.rows("SELECT cost_usd FROM traces WHERE trace_id = ?", [trace_id])
            assert exact == sum(c[0] for c in calls) and isinstance(exact, Decimal) and exact > 0
            assert summary["cost_usd"] == pytest.approx(float(exact))
            assert summary["input_tokens"] == sum(c[1] for c in calls) and summary["output_tokens"] == sum(
                c[2] for c in calls
            )
            listed = traces(store, Filters(), "costliest")
            assert list(listed["trace_id"]) == [trace_id]
            assert traces(store, Filters(), root="agent.run")["trace_id"].tolist() == [trace_id]
            assert traces(store, Filters(), root="nothing").empty
            tools = tool_executions(store, Filters())
            assert tools[["tool_name", "executions", "error_share"]].values.tolist() == [["get_weather", tool_runs, 0.0]]

    def test_the_call_span_lists_the_tools_the_model_asked_for(self, fake_api: Any, telemetry: Telemetry) -> None:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
        tools = [
            {
                "name": "get_weather",
                "description": "d",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": "?"}],
            tools=tools,
            tool_choice={"type": "any"},
        )
        with client.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": "?"}],
            tools=tools,
            tool_choice={"type": "any"},
        ) as stream:
            stream.until_done()
        client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "?"}])
        spans = telemetry.calls()
        assert [(s.attributes or {}).get(semconv.TOOL_USE_NAMES) for s in spans] == [
            ("get_weather",),
            ("get_weather",),
            None,
        ]
        assert [(s.attributes or {}).get(semconv.TOOL_USE_COUNT) for s in spans] == [1, 1, None]

    def test_steps_in_threads_make_one_tree(self, fake_api: Any, telemetry: Telemetry) -> None:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)

        def step(i: int, parent: Any) -> None:
            token = otel_context.attach(parent)
            try:
                with app.start_as_current_span(f"step {i}"):
                    client.messages.create(
                        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": f"step {i}"}]
                    )
            finally:
                otel_context.detach(token)

        with app.start_as_current_span("agent.run") as root:
            parent = otel_context.get_current()
            threads = [threading.Thread(target=step, args=(i, parent)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            with app.start_as_current_span("summarise"):  # a step without a call of its own, in the same run
                pass
        _unrelated_trace()
        self._assert_steps(telemetry, format(root.get_span_context().trace_id, "032x"), 3)

    def test_steps_in_asyncio_tasks_make_one_tree(self, fake_api: Any, telemetry: Telemetry) -> None:
        async def run() -> str:
            client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=fake_api.base_url)

            async def step(i: int) -> None:
                with app.start_as_current_span(f"step {i}"):
                    await client.messages.create(
                        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": f"step {i}"}]
                    )

            with app.start_as_current_span("agent.run") as root:
                await asyncio.gather(*(asyncio.create_task(step(i)) for i in range(3)))
                with app.start_as_current_span("summarise"):
                    pass
            _unrelated_trace()
            await client.close()
            return format(root.get_span_context().trace_id, "032x")

        self._assert_steps(telemetry, asyncio.run(run()), 3)

    def test_steps_in_two_processes_make_one_tree(self, fake_api: Any, telemetry: Telemetry, tmp_path: Path) -> None:
        """The second process gets the trace context the way services pass it (W3C `traceparent`), and writes the
        same store."""
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
        with app.start_as_current_span("agent.run") as root:
            with app.start_as_current_span("step 0"):
                client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "step 0"}])
            carrier: dict[str, str] = {}
            inject(carrier)
            child = subprocess.run(
                [sys.executable, "-c", _OTHER_PROCESS, str(telemetry.store), fake_api.base_url, json.dumps(carrier)],
                capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()},
            )  # fmt: skip
            assert child.returncode == 0, child.stderr
            with app.start_as_current_span("summarise"):
                pass
        self._assert_steps(telemetry, format(root.get_span_context().trace_id, "032x"), 2)

    def _assert_steps(self, telemetry: Telemetry, trace_id: str, steps: int) -> None:
        with _read(telemetry) as store:
            assert _ids_in_store(store) == {trace_id}
            tree = trace_tree(store, trace_id)
            assert tree["depth"].tolist()[0] == 0 and tree["name"].iloc[0] == "agent.run"
            assert (tree["depth"] == 0).sum() == 1  # one root: every step hangs under it
            rows = list(zip(tree["depth"], tree["type"], tree["name"], strict=True))
            assert sorted(r for r in rows if r[0] == 1) == sorted(
                [(1, "span", f"step {i}") for i in range(steps)] + [(1, "span", "summarise")]
            )
            assert sum(1 for r in rows if r[1] == "call" and r[0] == 2) == steps  # each call under its step
            assert sum(1 for r in rows if r[1] == "attempt" and r[0] == 3) == steps
            summary = trace_summary(store, trace_id).iloc[0]
            assert (summary["calls"], summary["root_name"]) == (steps, "agent.run")


_OTHER_PROCESS = """
import json, sys
import anthropic, tracer
from opentelemetry import context, trace
from opentelemetry.propagate import extract
store, base_url, carrier = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tracer.instrument(store=store)
token = context.attach(extract(carrier))
with trace.get_tracer("other-process").start_as_current_span("step 1"):
    anthropic.Anthropic(api_key="sk-ant-test", base_url=base_url).messages.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "step 1"}])
context.detach(token)
with trace.get_tracer("other-process").start_as_current_span("GET /health"):
    pass
assert tracer.flush(timeout_s=10)
"""


def _keeper() -> Any:
    from tracer.capture import _instrumentor

    state = _instrumentor._state
    assert state is not None
    (exporter,) = [p.inner.span_exporter for p in state.processors if hasattr(getattr(p.inner, "span_exporter", None), "keeper")]
    return exporter.keeper


class TestApplicationAttributes:
    def test_credentials_on_the_applications_spans_never_reach_the_store(self, fake_api: Any, telemetry: Telemetry) -> None:
        secret = "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
        attributes = {"http.request.header.authorization": "Basic dXNlcjpwYXNz", "url.full": f"https://x.test/?key={secret}",
                      "app.note": "Bearer abcdefgh12345678", "app.user": "ada", **{f"app.extra.{i}": "x" * 1000 for i in range(40)}}  # fmt: skip
        with app.start_as_current_span("handler", attributes=attributes) as root:
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        with _read(telemetry) as store:
            ((kept,),) = store.rows("SELECT attributes FROM spans WHERE span_id = ?", [format(root.get_span_context().span_id, "016x")])
        assert kept["http.request.header.authorization"] == "[REDACTED]" and kept["app.user"] == "ada"
        assert kept["url.full"] == "https://x.test/?key=[REDACTED]" and kept["app.note"] == "Bearer [REDACTED]"
        assert len(kept) == 32 and all(len(v) <= 256 for v in kept.values())
        stored = b"".join(p.read_bytes() for p in telemetry.store.rglob("*") if p.is_file())
        assert secret.encode() not in stored and b"dXNlcjpwYXNz" not in stored


class TestBoundedMemory:
    def test_finished_runs_and_plain_calls_leave_nothing_behind(self, fake_api: Any, telemetry: Telemetry) -> None:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
        for _ in range(5):
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        _run_agent(fake_api)
        _unrelated_trace()
        assert tracer.flush(timeout_s=10)
        keeper = _keeper()
        assert keeper._kept == {} and keeper.held == 0

    def test_a_busy_app_without_calls_holds_a_bounded_number_of_spans(self, telemetry: Telemetry) -> None:
        """Thousands of unrelated traces whose spans end before their roots (and roots that never end) do not grow
        what the exporter holds past its bound; a later call's trace is still kept whole."""
        keeper = _keeper()
        keeper_bound = keeper.max_held
        for i in range(keeper_bound // 2 + 200):
            root = app.start_span(f"request {i}")  # never ended: its children are held until pushed out
            with trace.use_span(root):
                for j in range(3):
                    with app.start_as_current_span(f"work {j}"):
                        pass
        tracer.flush(timeout_s=10)
        assert 0 < keeper.held <= keeper_bound
        assert keeper.let_go > 0
        assert not Store(telemetry.store).rows("SELECT * FROM spans")


class TestConversations:
    def _turn(self, client: Any, history: list[dict[str, Any]], system: str, text: str) -> None:
        history.append({"role": "user", "content": text})
        message = client.messages.create(
            model=MODEL, max_tokens=32, messages=history,
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        )  # fmt: skip
        history.append({"role": "assistant", "content": message.content})

    def test_three_turns_with_their_costs_cache_reads_and_a_prefix_written_again(
        self, fake_api: Any, telemetry: Telemetry
    ) -> None:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
        history: list[dict[str, Any]] = []
        with tracer.conversation("support-4711"):
            self._turn(client, history, SYSTEM, "Weather in Paris?")  # writes the cached prefix
            self._turn(client, history, SYSTEM, "And tomorrow?")  # reads it
            self._turn(client, history, SYSTEM + " Answer in French.", "Merci?")  # a changed prefix: written again
        client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "no conversation"}])
        spans = telemetry.calls()
        assert [(s.attributes or {}).get(semconv.GEN_AI_CONVERSATION_ID) for s in spans] == ["support-4711"] * 3 + [
            None
        ]
        with _read(telemetry) as store:
            turns = conversation_turns(store, "support-4711")
            assert turns["turn"].tolist() == [1, 2, 3]
            expected_costs = [Decimal((s.attributes or {})[semconv.COST_USD_EXACT]) for s in spans[:3]]
            exact = store.rows(
                "SELECT cost_usd FROM conversations WHERE conversation_id = ? ORDER BY turn", ["support-4711"]
            )
            assert [c for (c,) in exact] == expected_costs
            reads = [(s.attributes or {}).get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) for s in spans[:3]]
            writes = [(s.attributes or {}).get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS) for s in spans[:3]]
            assert turns["cache_read_tokens"].tolist() == reads and turns["cache_write_tokens"].tolist() == writes
            assert (
                reads[0] == 0 and writes[0] > 0 and reads[1] > 0 and writes[2] > 0
            )  # the fake API cached as the API does
            assert turns["cache_rewrite"].tolist() == [False, False, True]
            listed = conversations(store, Filters())
            assert listed[["conversation_id", "turns", "cache_rewrites"]].values.tolist() == [["support-4711", 3, 1]]
            assert listed["cost_usd"].iloc[0] == pytest.approx(float(sum(expected_costs)))

    def test_the_clients_own_conversation_id_wins_and_reaches_the_tool_spans(
        self, fake_api: Any, telemetry: Telemetry
    ) -> None:
        try:
            client = anthropic.Anthropic(
                api_key=API_KEY, base_url=fake_api.base_url, open_telemetry={"conversation_id": "client-1"}
            )  # type: ignore[call-arg]
        except TypeError:
            pytest.skip(f"anthropic {anthropic.__version__} has no open_telemetry client option")
        with tracer.conversation("shared-9"):
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
            other = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url)
            runner = other.beta.messages.tool_runner(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "?"}],
                                                     tools=[get_weather], tool_choice={"type": "any"}, max_iterations=2)  # fmt: skip
            list(runner)
        ids = [((s.attributes or {}).get(semconv.GEN_AI_CONVERSATION_ID), s.name) for s in telemetry.spans()
               if s.instrumentation_scope is not None and s.instrumentation_scope.name.startswith(semconv.ANTHROPIC_SCOPE)]  # fmt: skip
        assert ids[0] == ("client-1", "anthropic.messages.create")
        assert ids[1:] and all(conversation == "shared-9" for conversation, _ in ids[1:])
        with _read(telemetry) as store:
            assert store.rows("SELECT DISTINCT conversation_id FROM spans") == [("shared-9",)]
            assert sorted(conversation_turns(store, "shared-9")["turn"]) == [1, 2]

    def test_a_conversation_block_works_as_a_decorator_and_across_tasks(self) -> None:
        @tracer.conversation("c-1")
        def inner() -> str | None:
            return tracer.current_conversation()

        async def main() -> list[str | None]:
            with tracer.conversation("c-2"):
                task = asyncio.create_task(asyncio.sleep(0, tracer.current_conversation()))
            return [inner(), await task, tracer.current_conversation()]

        assert asyncio.run(main()) == ["c-1", "c-2", None]
        assert contextvars.copy_context().run(tracer.current_conversation) is None
        with tracer.conversation(12345):
            assert tracer.current_conversation() == "12345"


class TestOverOtlp:
    def test_the_collector_gets_the_same_tree_and_every_other_trace_as_before(self, fake_api: Any, tmp_path: Path) -> None:
        from opentelemetry.sdk.metrics import MeterProvider

        from tests._telemetry import join_provider
        from tests.export.receivers import HttpReceiver

        join_provider()
        with HttpReceiver() as receiver:
            tracer.instrument(store=tmp_path / "store", otlp_endpoint=receiver.endpoint, otlp_protocol="http/protobuf",
                              meter_provider=MeterProvider())  # fmt: skip
            try:
                trace_id = _run_agent(fake_api)
                unrelated = _unrelated_trace()
                assert tracer.flush(timeout_s=10)
                receiver.wait_for(lambda: {"agent.run", "GET /health"} <= {s.name for s in receiver.spans()})
            finally:
                tracer.uninstrument()
            received = [s for s in receiver.spans() if s.trace_id in (trace_id, unrelated)]
        with Store(tmp_path / "store") as store:
            stored = trace_tree(store, trace_id)
        mine = [s for s in received if s.trace_id == trace_id]
        assert sorted((s.span_id, s.parent_span_id or None) for s in mine) == sorted(
            (i, p if isinstance(p, str) else None) for i, p in zip(stored["span_id"], stored["parent_span_id"], strict=True)
        )
        assert {s.name for s in received if s.trace_id == unrelated} == {"GET /health", "db.query"}  # OTLP keeps all
        first_call = min((s for s in mine if s.name == "anthropic.messages.create"), key=lambda s: s.start_ns)
        assert list(first_call.attributes[semconv.TOOL_USE_NAMES]) == ["get_weather"]
