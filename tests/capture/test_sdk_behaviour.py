"""The SDK behaves exactly as without claude-tracer: same results, exceptions, retries and requests sent.

Each scenario runs twice in this process against the fake API (or a small redirecting server), once with only a
plain OpenTelemetry SDK provider registered (the SDK's native spans on, as in an application) and once with
`tracer.instrument()`, and what the application sees is compared: the value or exception, the HTTP status, how
many requests reached the server and which headers they carried.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import pytest

import tracer
from tests._telemetry import EXPORTER, join_provider
from tracer import semconv

from .conftest import API_KEY, HELLO, MODEL, script

BODY = {"model": MODEL, "max_tokens": 16, "messages": HELLO}
# Errors carry `retry-after-ms: 1` (`500:1`): the SDK then waits 1 ms before a retry instead of its 0.5-8 s backoff;
# whether it raises, retries and with which headers is the same either way, and is what these tests compare.
# Header values that differ between any two calls (ids, timing, the trace context's own ids) are compared by name.
_HEADER_NAMES_ONLY = True


def _seen(api: Any, since: int) -> list[tuple[str, ...]]:
    """The requests the fake API received since `since`: their sorted header names."""
    return [tuple(sorted(h.lower() for h in r.headers)) for r in api.requests[since:]]


def _outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        value = fn()
    except anthropic.APIStatusError as exc:
        return ("raised", type(exc).__name__, exc.status_code)
    except Exception as exc:
        return ("raised", type(exc).__name__)
    if isinstance(value, httpx2.Response):
        return ("returned", "Response", value.status_code)
    if isinstance(value, anthropic.Stream):
        events = [e.type for e in value]
        return ("returned", "Stream", type(value.response.stream).__name__, tuple(events))
    return ("returned", type(value).__name__, getattr(value, "status_code", None))


def _both(api: Any, fn: Callable[[], Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], list[Any], list[Any]]:
    """(outcome, requests seen) without claude-tracer, then with it."""
    tracer.uninstrument()
    since = len(api.requests)
    bare = _outcome(fn)
    bare_seen = _seen(api, since)
    tracer.instrument(store=False)
    try:
        since = len(api.requests)
        ours = _outcome(fn)
        ours_seen = _seen(api, since)
    finally:
        tracer.uninstrument()
    return bare, ours, bare_seen, ours_seen


@pytest.fixture
def plain(fake_api: Any) -> Iterator[Any]:
    """A plain SDK provider registered (the SDK's own spans on); claude-tracer off between the two runs."""
    join_provider()
    EXPORTER.clear()
    yield fake_api
    tracer.uninstrument()
    EXPORTER.clear()


def _client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, max_retries=2, **options)


def _fast(client: Any) -> Any:
    return client.with_options(max_retries=2, timeout=10)


class TestGenericRequests:
    """`client.post(...)` / `client.get(...)` with any `cast_to`: the SDK's documented way to reach any endpoint."""

    @pytest.mark.parametrize("outcomes", ["500:1,500:1,500:1", "400", "500:1,ok", "429:10,ok", "529:1,529:1,ok", "ok"])
    @pytest.mark.parametrize("cast_to", [httpx2.Response, object], ids=["httpx-Response", "object"])
    def test_post_raises_and_retries_as_without_us(self, plain: Any, outcomes: str, cast_to: Any) -> None:
        client = _client(plain)

        def call() -> Any:
            return client.post("/v1/messages", body=BODY, cast_to=cast_to, options={"headers": {"x-fake-script": outcomes}})

        bare, ours, bare_seen, ours_seen = _both(plain, call)
        assert ours == bare
        assert ours_seen == bare_seen  # as many attempts, with the same headers
        if outcomes.startswith("500:1,500") or outcomes == "400":
            assert bare[0] == "raised"

    def test_async_post_the_same(self, plain: Any) -> None:
        client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=plain.base_url, max_retries=2)

        for outcomes in ("500:1,500:1,500:1", "400", "500:1,ok"):

            def call(outcomes: str = outcomes) -> Any:
                return asyncio.run(client.post("/v1/messages", body=BODY, cast_to=httpx2.Response,
                                               options={"headers": {"x-fake-script": outcomes}}))  # fmt: skip

            bare, ours, bare_seen, ours_seen = _both(plain, call)
            assert ours == bare and ours_seen == bare_seen

    def test_typed_raw_and_streaming_response_modes_the_same(self, plain: Any) -> None:
        client = _client(plain)
        calls: list[Callable[[], Any]] = [
            lambda: client.messages.with_raw_response.create(**BODY, **script("500:1,ok")),
            lambda: client.messages.with_raw_response.create(**BODY, **script("400")),
            lambda: client.messages.create(**BODY, stream=True, **script("529:1,ok")),
            lambda: client.messages.create(**BODY, **script("500:1,500:1,500:1")),
        ]
        for call in calls:
            bare, ours, bare_seen, ours_seen = _both(plain, call)
            assert ours == bare and ours_seen == bare_seen

    def test_a_redirect_not_followed_raises_as_without_us(self, plain: Any) -> None:
        """A 3xx with `follow_redirects=False` is an error status for the SDK: it raises, with and without us."""

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(302)
                self.send_header("location", "/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=f"http://127.0.0.1:{server.server_port}", max_retries=0)

            def call() -> Any:
                return client.post("/v1/messages", body=BODY, cast_to=httpx2.Response, options={"follow_redirects": False})

            bare, ours, _, _ = _both(plain, call)
            assert ours == bare == ("raised", "APIStatusError", 302)
        finally:
            server.shutdown()
            server.server_close()


class TestTheSdksSwitches:
    def test_propagation_off_sends_no_trace_headers(self, plain: Any) -> None:
        client = _client(plain, open_telemetry={"propagation": False})
        bare, ours, bare_seen, ours_seen = _both(plain, lambda: client.messages.create(**BODY))
        assert ours == bare and ours_seen == bare_seen
        assert not any("traceparent" in names for names in ours_seen)

    def test_propagation_off_from_the_environment(self, plain: Any, monkeypatch: Any) -> None:
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY_PROPAGATION", "false")
        client = _client(plain)  # the SDK reads the environment when the client is made
        _, ours, _, ours_seen = _both(plain, lambda: client.messages.create(**BODY))
        assert ours[0] == "returned" and not any("traceparent" in names for names in ours_seen)

    def test_propagation_on_carries_the_call_spans_context(self, plain: Any) -> None:
        tracer.instrument(store=False)
        client = _client(plain)
        client.messages.create(**BODY)
        (header,) = [v for k, v in plain.requests[-1].headers.items() if k.lower() == "traceparent"]
        (call,) = [s for s in EXPORTER.get_finished_spans() if (s.attributes or {}).get(semconv.SPAN_TYPE) == "call"]
        assert header.split("-")[1] == format(call.context.trace_id, "032x")

    @pytest.mark.parametrize(
        "opt_out",
        [{"open_telemetry": False}, {"open_telemetry": {"traces": {"enabled": False}}}, "env"],
        ids=["option-False", "traces-disabled", "ANTHROPIC_OPEN_TELEMETRY=false"],
    )
    def test_a_client_that_opted_out_of_traces_is_not_traced(self, plain: Any, opt_out: Any, monkeypatch: Any) -> None:
        """The SDK's opt-out holds for claude-tracer too: no span, no attempt, no metric, its stream unwrapped."""
        if opt_out == "env":
            monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
            opt_out = {}
        client = _client(plain, **opt_out)
        calls: list[Callable[[], Any]] = [
            lambda: client.messages.create(**BODY, **script("429:10,ok")),
            lambda: client.messages.create(**BODY, stream=True),
            lambda: client.post("/v1/messages", body=BODY, cast_to=httpx2.Response, options={"headers": {"x-fake-script": "500:1,ok"}}),
        ]
        for call in calls:
            EXPORTER.clear()
            bare, ours, bare_seen, ours_seen = _both(plain, call)
            assert ours == bare and ours_seen == bare_seen  # a stream's body type included: nothing wrapped it
            from tracer.capture import _worker

            _worker.drain()
            assert EXPORTER.get_finished_spans() == ()


class TestOtherWaysOfCalling:
    def test_the_tool_runner(self, plain: Any) -> None:
        @anthropic.beta_tool
        def get_weather(city: str) -> str:
            """The weather in a city.

            Args:
                city: the city's name
            """
            return f"Sunny in {city}"

        client = _client(plain)

        def run() -> Any:
            runner = client.beta.messages.tool_runner(model=MODEL, max_tokens=64, messages=HELLO, tools=[get_weather],
                                                      tool_choice={"type": "any"}, max_iterations=2)  # fmt: skip
            messages = list(runner)
            return ("ran", tuple(m.stop_reason for m in messages), tuple(b.type for m in messages for b in m.content))

        bare, ours, bare_seen, ours_seen = _both(plain, run)
        assert ours[0] == "returned" and ours == bare and ours_seen == bare_seen
        assert len(bare_seen) == 2  # two calls, a tool execution between them

    def test_batches_and_their_results(self, plain: Any) -> None:
        client = _client(plain)

        def run() -> Any:
            batch = client.messages.batches.create(requests=[{"custom_id": f"r{i}", "params": BODY} for i in range(3)])
            results = list(client.messages.batches.results(batch.id))
            return ("ran", batch.processing_status, tuple(sorted(r.result.type for r in results)))

        bare, ours, bare_seen, ours_seen = _both(plain, run)
        assert ours == bare and ours_seen == bare_seen

    def test_bedrock_and_vertex_clients(self, plain: Any) -> None:
        """They subclass the same base client; the fake API does not speak their URL schemes and answers 404."""
        from anthropic import AnthropicBedrock, AnthropicVertex

        clients = [
            AnthropicVertex(region="us-east5", project_id="p", access_token="tok", base_url=plain.base_url, max_retries=1),
            AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b", base_url=plain.base_url,
                             max_retries=1),
        ]
        for client in clients:
            bare, ours, bare_seen, ours_seen = _both(plain, lambda client=client: client.messages.create(**BODY))
            assert ours == bare and ours_seen == bare_seen
            # Vertex always reaches the server (404, retried once); Bedrock only where botocore can sign.
            assert bare_seen or isinstance(client, AnthropicBedrock)
