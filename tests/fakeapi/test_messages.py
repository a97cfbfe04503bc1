"""What the fake API answers to good requests: message shape, the SSE event sequence (text, thinking, tool use),
usage derived from the request (prompt caching, thinking, service tier), count_tokens, models, and determinism."""

from __future__ import annotations

import json
import warnings
from typing import Any

import anthropic
import httpx2
import pytest

from tracer.fakeapi import FakeAPI, known_models, retired_models, roles, served_models

from ._sdk import HELLO, MODEL, ask, async_sdk, sdk

LONG = "The quick brown fox jumps over the lazy dog. " * 800  # about 9,000 tokens: above every model's cache minimum
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    },
}


def raw_events(api: FakeAPI, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every SSE event on the wire, pings included, read with plain httpx2."""
    payload = {"model": MODEL, "max_tokens": 64, "messages": HELLO, "stream": True, **body}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "test-key"}
    with httpx2.stream("POST", f"{api.base_url}/v1/messages", json=payload, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    out = []
    for chunk in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


class TestMessage:
    def test_a_plain_call_returns_a_message_with_headers(self, api: FakeAPI) -> None:
        raw = sdk(api).messages.with_raw_response.create(**ask())
        message = raw.parse()
        assert message.type == "message" and message.role == "assistant" and message.model == MODEL
        assert message.id.startswith("msg_01") and message.content[0].type == "text" and message.content[0].text
        assert message.stop_reason in ("end_turn", "max_tokens")
        assert raw.headers["request-id"].startswith("req_") and raw.headers["request-id"] == api.requests[0].request_id
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
            for part in ("limit", "remaining", "reset"):
                assert raw.headers[f"anthropic-ratelimit-{kind}-{part}"]

    def test_max_tokens_caps_the_output(self, api: FakeAPI) -> None:
        message = sdk(api).messages.create(**ask(max_tokens=5))
        assert message.usage.output_tokens == 5 and message.stop_reason == "max_tokens"

    def test_the_request_is_recorded(self, api: FakeAPI) -> None:
        sdk(api).messages.create(**ask(), extra_headers={"x-custom": "1"})
        (request,) = api.requests
        assert (request.method, request.path, request.attempt, request.status, request.outcome) == (
            "POST", "/v1/messages", 0, 200, "ok",
        )  # fmt: skip
        assert request.headers["x-custom"] == "1" and request.body["model"] == MODEL and request.model == MODEL

    def test_every_model_the_sdk_names_is_served_unless_the_api_retired_it(self, api: FakeAPI) -> None:
        client = sdk(api)
        gone = retired_models()
        for model in served_models():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the SDK warns about its deprecated models
                assert client.messages.create(**ask(model=model, max_tokens=8)).model == model
        assert {m for m in known_models() if m not in gone} <= set(served_models())
        assert {m.id for m in client.models.list()} == set(served_models())
        assert client.models.retrieve(roles().deprecated).lifecycle == "deprecated"

    def test_a_retired_model_gets_the_apis_404_not_found_error(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.NotFoundError) as caught:
            sdk(api).messages.create(**ask(model=roles().retired))
        assert caught.value.status_code == 404
        body: Any = caught.value.body
        assert body["type"] == "error" and body["request_id"] == caught.value.request_id
        assert body["error"] == {"type": "not_found_error", "message": f"model: {roles().retired}"}
        with pytest.raises(anthropic.NotFoundError):
            sdk(api).models.retrieve(roles().retired)

    def test_the_roles_name_models_of_their_kind(self) -> None:
        the = roles()
        assert {the.cheap, the.workhorse, the.large, the.deprecated} <= set(served_models())
        assert the.retired in retired_models() and the.as_of >= "2026-12-07"


class TestStreamSequence:
    def test_text_stream_has_the_real_event_sequence(self, api: FakeAPI) -> None:
        events = raw_events(api)
        names = [name for name, _ in events]
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        assert set(names[3:-3]) == {"content_block_delta"} and len(names) > 7
        start, delta = events[0][1]["message"], events[-2][1]
        assert start["content"] == [] and start["stop_reason"] is None
        assert start["usage"]["output_tokens"] == 1  # a placeholder until message_delta
        assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
        text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        assert delta["usage"]["output_tokens"] == 64 if delta["delta"]["stop_reason"] == "max_tokens" else text

    def test_the_sdks_stream_helper_accumulates_the_same_message_as_a_plain_call(self, api: FakeAPI) -> None:
        client = sdk(api)
        plain = client.messages.create(**ask())
        with client.messages.stream(**ask()) as stream:
            streamed = stream.get_final_message()
        # the answer depends on the prompt, not on streaming
        assert [b.model_dump(include={"type", "text"}) for b in streamed.content] == [
            b.model_dump(include={"type", "text"}) for b in plain.content
        ]
        assert streamed.usage.output_tokens == plain.usage.output_tokens
        assert streamed.usage.input_tokens == plain.usage.input_tokens

    def test_thinking_streams_thinking_and_signature_deltas_first(self, api: FakeAPI) -> None:
        thinking = {"type": "enabled", "budget_tokens": 2000}
        events = raw_events(api, max_tokens=4000, thinking=thinking)
        assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
        kinds = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
        first_text = kinds.index("text_delta")
        assert set(kinds[: first_text - 1]) == {"thinking_delta"} and kinds[first_text - 1] == "signature_delta"
        with sdk(api).messages.stream(**ask(max_tokens=4000, thinking=thinking)) as stream:
            message = stream.get_final_message()
        assert [b.type for b in message.content] == ["thinking", "text"]
        thought = message.content[0]
        assert isinstance(thought, anthropic.types.ThinkingBlock) and thought.thinking and thought.signature
        details = message.usage.output_tokens_details
        assert details is not None and 0 < details.thinking_tokens < message.usage.output_tokens

    def test_tool_use_streams_input_json_deltas(self, api: FakeAPI) -> None:
        forced = {"type": "tool", "name": "get_weather"}
        events = raw_events(api, tools=[WEATHER], tool_choice=forced)
        starts = [d["content_block"] for n, d in events if n == "content_block_start"]
        assert starts[-1]["type"] == "tool_use" and starts[-1]["name"] == "get_weather" and starts[-1]["input"] == {}
        partial = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"
                   and d["delta"]["type"] == "input_json_delta"]  # fmt: skip
        assert partial[0] == "" and len(partial) > 2  # the API's first input_json delta is empty
        tool_input = json.loads("".join(partial))
        assert set(tool_input) == {"city", "unit"} and tool_input["unit"] in ("celsius", "fahrenheit")
        assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
        with sdk(api).messages.stream(**ask(tools=[WEATHER], tool_choice=forced)) as stream:
            message = stream.get_final_message()
        block = message.content[-1]
        assert isinstance(block, anthropic.types.ToolUseBlock) and block.input == tool_input
        assert block.id.startswith("toolu_01") and message.stop_reason == "tool_use"

    def test_after_a_tool_result_the_model_answers_in_text(self, api: FakeAPI) -> None:
        first = sdk(api).messages.create(**ask(tools=[WEATHER], tool_choice={"type": "any"}))
        tool = first.content[-1]
        assert isinstance(tool, anthropic.types.ToolUseBlock)
        history = [
            *HELLO,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "12 C"}]},
        ]
        second = sdk(api).messages.create(**ask(tools=[WEATHER], messages=history))
        assert [b.type for b in second.content] == ["text"] and second.stop_reason != "tool_use"

    async def test_async_stream(self, api: FakeAPI) -> None:
        async with async_sdk(api).messages.stream(**ask()) as stream:
            texts = [t async for t in stream.text_stream]
            message = await stream.get_final_message()
        assert "".join(texts) == message.content[0].text  # type: ignore[union-attr]


def cached_system(ttl: str | None = None) -> Any:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return [{"type": "text", "text": LONG, "cache_control": control}]


class TestUsage:
    def test_a_cache_control_prefix_is_written_then_read(self, api: FakeAPI) -> None:
        client = sdk(api)
        first = client.messages.create(**ask(system=cached_system())).usage
        second = client.messages.create(**ask(system=cached_system())).usage
        assert first.cache_creation_input_tokens > 8000 and first.cache_read_input_tokens == 0
        assert first.cache_creation is not None
        assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
        assert second.cache_read_input_tokens == first.cache_creation_input_tokens
        assert second.cache_creation_input_tokens == 0
        assert first.input_tokens == second.input_tokens < 20  # input_tokens excludes cached tokens
        total = client.messages.count_tokens(model=MODEL, messages=HELLO, system=cached_system()).input_tokens
        assert total == first.input_tokens + first.cache_creation_input_tokens

    def test_a_longer_conversation_reads_the_old_prefix_and_writes_the_new_part(self, api: FakeAPI) -> None:
        client = sdk(api)
        client.messages.create(**ask(system=cached_system()))
        turn = [{"type": "text", "text": LONG[:2000], "cache_control": {"type": "ephemeral"}}]
        usage = client.messages.create(
            **ask(system=cached_system(), messages=[{"role": "user", "content": turn}])
        ).usage
        assert usage.cache_read_input_tokens > 8000 and 400 < usage.cache_creation_input_tokens < 600

    def test_a_1h_ttl_writes_1h_tokens(self, api: FakeAPI) -> None:
        usage = sdk(api).messages.create(**ask(system=cached_system("1h"))).usage
        assert usage.cache_creation is not None
        assert usage.cache_creation.ephemeral_1h_input_tokens == usage.cache_creation_input_tokens > 0
        assert usage.cache_creation.ephemeral_5m_input_tokens == 0

    def test_the_cache_is_per_model_and_needs_the_minimum_length(self, api: FakeAPI) -> None:
        client = sdk(api)
        client.messages.create(**ask(system=cached_system()))
        other = client.messages.create(**ask(system=cached_system(), model="claude-sonnet-4-6")).usage
        assert other.cache_read_input_tokens == 0 and other.cache_creation_input_tokens > 0
        short = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
        tiny = client.messages.create(**ask(system=short)).usage
        assert tiny.cache_creation_input_tokens == tiny.cache_read_input_tokens == 0

    def test_input_grows_with_the_prompt_and_service_tier_is_reported(self, api: FakeAPI) -> None:
        client = sdk(api)
        small = client.messages.create(**ask()).usage
        big = client.messages.create(**ask(messages=[{"role": "user", "content": LONG}])).usage
        assert big.input_tokens > 100 * small.input_tokens
        assert small.service_tier == "standard"
        assert client.messages.create(**ask(inference_geo="us")).usage.inference_geo == "us"

    def test_count_tokens_matches_the_calls_input(self, api: FakeAPI) -> None:
        client = sdk(api)
        for kwargs in ({}, {"tools": [WEATHER]}, {"system": "You are terse."}):
            counted = client.messages.count_tokens(model=MODEL, messages=HELLO, **kwargs).input_tokens
            assert counted == client.messages.create(**ask(**kwargs)).usage.input_tokens
        assert client.messages.count_tokens(model=MODEL, messages=HELLO, tools=[WEATHER]).input_tokens > 300


class TestDeterminism:
    def run(self, seed: int) -> list[Any]:
        out: list[Any] = []
        with FakeAPI(seed=seed, latency_scale=0.0, faults="429=0.3,529=0.2") as api:
            client = sdk(api, max_retries=0)
            for i in range(20):
                try:
                    message = client.messages.create(**ask(messages=[{"role": "user", "content": f"question {i}"}]))
                    out.append((message.id, message.content[0].text))
                except anthropic.APIStatusError as exc:
                    out.append(exc.status_code)
            out.append([r.request_id for r in api.requests])
        return out

    def test_the_same_seed_gives_the_same_faults_answers_and_ids(self) -> None:
        first, again, other = self.run(7), self.run(7), self.run(8)
        assert first == again
        assert first != other
        statuses = [x for x in first[:-1] if isinstance(x, int)]
        assert 429 in statuses and 529 in statuses and len(statuses) < 20

    def test_the_same_prompt_gets_the_same_answer(self, api: FakeAPI) -> None:
        client = sdk(api)
        a, b = client.messages.create(**ask()), client.messages.create(**ask())
        assert a.content == b.content and a.id != b.id
        c = client.messages.create(**ask(messages=[{"role": "user", "content": "Say goodbye."}]))
        assert c.content != a.content


class TestLatency:
    def test_the_model_is_per_family_with_a_heavy_tail(self) -> None:
        """The latency model itself (pure): opus slower than haiku, and a tail far beyond the median."""
        import random
        import statistics

        from tracer.fakeapi import profile_for
        from tracer.fakeapi._generate import timing

        def totals(model: str) -> list[float]:
            return sorted(timing(profile_for(model), 500, random.Random(i), 1.0).total(100) for i in range(2000))

        haiku, opus = totals("claude-haiku-4-5"), totals("claude-opus-4-8")
        assert 0.6 < statistics.median(haiku) < 1.2 and 2.5 < statistics.median(opus) < 4.0
        assert opus[1980] / statistics.median(opus) > 2.5  # p99 well beyond a log-normal's: the heavy tail
        assert timing(profile_for("claude-opus-4-8"), 500, random.Random(0), 0.0).total(100) == 0.0

    def test_calls_and_streams_take_at_least_their_simulated_time(self) -> None:
        """Wall-clock lower bounds only (a loaded machine can only make calls slower): at scale 0.04 an opus call
        takes tens of milliseconds, and a stream's tokens keep coming well after its first one."""
        import time

        with FakeAPI(seed=1, latency_scale=0.04) as api:
            client = sdk(api)
            started = time.perf_counter()
            client.messages.create(**ask(model="claude-opus-4-8"))
            assert time.perf_counter() - started > 0.01
            started = time.perf_counter()
            with client.messages.stream(**ask(model="claude-opus-4-8", max_tokens=200)) as stream:
                first = next(iter(stream.text_stream))
                ttft = time.perf_counter() - started
                message = stream.get_final_message()
            total = time.perf_counter() - started
        # 22 ms a token at scale 1, less the log-normal's spread
        assert first and ttft > 0.005 and total - ttft > message.usage.output_tokens * 0.022 * 0.04 * 0.5
