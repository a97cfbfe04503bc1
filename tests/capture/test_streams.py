"""Streams: time to first token, and a call span that ends exactly once however the stream ends."""

from __future__ import annotations

import gc
import inspect
from typing import Any, ClassVar

import anthropic
import httpx2
import pytest
from opentelemetry.trace import StatusCode

from tracer import semconv

from .conftest import HELLO, MODEL, async_client, script, sync_client

ASK = {"model": MODEL, "max_tokens": 256, "messages": HELLO}
# The `speed` parameter is there from anthropic 1.15.0 on; before, the same field goes in the body as an extra.
SPEED_FAST: dict[str, Any] = (
    {"speed": "fast"}
    if "speed" in inspect.signature(anthropic.resources.Messages.create).parameters
    else {"extra_body": {"speed": "fast"}}
)


class TestStreamsEnd:
    def test_create_stream_true_read_to_the_end(self, fake_api: Any, telemetry: Any) -> None:
        events = list(sync_client(fake_api).messages.create(**ASK, stream=True))
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        attrs = telemetry.call().attributes
        assert attrs[semconv.CALL_STREAMING] is True
        assert attrs[semconv.CALL_STREAM_END] == "completed"
        assert 0 < attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 5
        final = next(e for e in events if e.type == "message_delta")
        assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
        # With the fake API at latency 0 the whole answer can arrive with its first token: no rate to compute.
        assert attrs.get(semconv.CALL_OUTPUT_TOKENS_PER_S, 1) > 0

    async def test_async_create_stream_true(self, fake_api: Any, telemetry: Any) -> None:
        stream = await async_client(fake_api).messages.create(**ASK, stream=True)
        events = [event async for event in stream]
        attrs = telemetry.call().attributes
        final = next(e for e in events if e.type == "message_delta")
        assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
        assert attrs[semconv.GEN_AI_RESPONSE_ID] == events[0].message.id
        assert attrs[semconv.ANTHROPIC_STOP_REASON] == final.delta.stop_reason
        assert attrs[semconv.CALL_STREAM_END] == "completed"
        assert events[0].message.usage.output_tokens == 1 and events[0].message.stop_reason is None  # as it arrived

    def test_output_tokens_per_second_after_the_first_token(self, telemetry: Any) -> None:
        from tracer.fakeapi import FakeAPI

        # Long enough a body (about 35 ms after the first token, 5 ms at scale 0.02) that a millisecond of jitter on a busy
        # machine stays well inside the tolerance.
        with FakeAPI(seed=1, latency_scale=0.1) as api:
            for _ in sync_client(api).messages.create(**ASK, stream=True):
                pass
        attrs = telemetry.call().attributes
        duration_s = (telemetry.call().end_time - telemetry.call().start_time) / 1e9
        ttft = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
        expected = attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] / (duration_s - ttft)
        assert attrs[semconv.CALL_OUTPUT_TOKENS_PER_S] == pytest.approx(expected, rel=0.2)  # the SDK times the first token from just before the span starts

    def test_stream_helper_text_stream_and_final_message(self, fake_api: Any, telemetry: Any) -> None:
        with sync_client(fake_api).messages.stream(**ASK) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        assert text and message.content[0].text == text
        attrs = telemetry.call().attributes
        assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
        assert attrs[semconv.CALL_STREAM_END] == "completed"

    async def test_async_stream_helper(self, fake_api: Any, telemetry: Any) -> None:
        async with async_client(fake_api).messages.stream(**ASK) as stream:
            message = await stream.get_final_message()
        attrs = telemetry.call().attributes
        assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
        assert attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0

    def test_early_break_ends_the_span_with_the_tokens_seen(self, fake_api: Any, telemetry: Any) -> None:
        with sync_client(fake_api).messages.stream(**ASK) as stream:
            for _ in stream.text_stream:
                break
        call = telemetry.call()
        assert call.attributes[semconv.CALL_STREAM_END] == "closed_early"
        assert call.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0  # from message_start
        assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in call.attributes  # never the message_start placeholder

    def test_exception_inside_the_with_block_ends_the_span(self, fake_api: Any, telemetry: Any) -> None:
        with pytest.raises(KeyError), sync_client(fake_api).messages.stream(**ASK) as stream:
            next(iter(stream))
            raise KeyError("the application's own bug")
        assert telemetry.call().end_time is not None

    def test_a_dropped_stream_ends_its_span_when_collected(self, fake_api: Any, telemetry: Any) -> None:
        stream = sync_client(fake_api).messages.create(**ASK, stream=True)
        next(iter(stream))
        del stream
        gc.collect()
        assert telemetry.call().attributes[semconv.CALL_STREAM_END] == "closed_early"

    def test_mid_stream_error_event(self, fake_api: Any, telemetry: Any) -> None:
        with pytest.raises(anthropic.APIStatusError):
            for _ in sync_client(fake_api).messages.create(**ASK, stream=True, **script("error:2")):
                pass
        call = telemetry.call()
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes[semconv.ERROR_TYPE]
        assert call.attributes[semconv.CALL_STREAM_END] == "error"

    def test_a_stalled_stream_under_a_timeout_ends_with_error_type(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api, timeout=0.3, max_retries=0)
        received = []
        with pytest.raises((httpx2.ReadTimeout, anthropic.APITimeoutError)):
            for event in client.messages.create(**ASK, stream=True, **script("stall:3")):
                received.append(event)
        assert received
        call = telemetry.call()
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes[semconv.ERROR_TYPE]
        assert call.attributes[semconv.CALL_STREAM_END] == "error"
        (attempt,) = telemetry.attempts(call)
        assert attempt.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
        assert attempt.attributes[semconv.ERROR_TYPE] == semconv.ERROR_TYPE_STREAM_TIMEOUT

    def test_a_connection_broken_mid_stream_is_on_its_attempt(self, fake_api: Any, telemetry: Any) -> None:
        with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for it is the user's to see, unchanged
            for _ in sync_client(fake_api, max_retries=0).messages.create(**ASK, stream=True, **script("drop:3")):
                pass
        (attempt,) = telemetry.attempts(telemetry.call())
        assert attempt.attributes[semconv.ERROR_TYPE] == semconv.ERROR_TYPE_CONNECTION

    def test_a_streamed_attempt_lasts_as_long_as_its_body(self, fake_api: Any, telemetry: Any) -> None:
        for _ in sync_client(fake_api).messages.create(**ASK, stream=True, **script("slow:0")):
            pass
        call = telemetry.call()
        (attempt,) = telemetry.attempts(call)
        assert attempt.end_time is not None and semconv.ERROR_TYPE not in attempt.attributes
        # ended with the body: after the first event was read, so well after the response headers
        assert call.attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] * 1e9 <= attempt.end_time - call.start_time

    def test_the_users_iteration_is_unchanged(self, fake_api: Any) -> None:
        """The same events, in the same order, of the same types, with and without instrumentation."""
        import tracer

        def events() -> list[tuple[str, str]]:
            stream = sync_client(fake_api).messages.create(**ASK, stream=True)  # the same request, the same answer
            return [(type(e).__name__, e.model_dump_json(exclude={"message": {"id"}})) for e in stream]

        bare = events()
        tracer.instrument(store=False)
        try:
            instrumented = events()
        finally:
            tracer.uninstrument()
        assert [t for t, _ in bare] == [t for t, _ in instrumented]


class TestStreamedUsage:
    """A streamed call records the usage fields that the SDK's span leaves out, as a non-streamed one does."""

    # Opus 4.6 has a fast-mode price, and web search is priced per request: each field moves the cost.
    SEARCHING: ClassVar[dict[str, Any]] = {**ASK, "model": "claude-opus-4-6", "inference_geo": "us", **SPEED_FAST,
                 "tools": [{"type": "web_search_20250305", "name": "web_search"}, {"type": "web_fetch_20250910", "name": "web_fetch"}]}  # fmt: skip
    FIELDS = (semconv.USAGE_WEB_SEARCH_REQUESTS, semconv.USAGE_WEB_FETCH_REQUESTS, semconv.USAGE_INFERENCE_GEO,
              semconv.USAGE_SPEED, semconv.COST_USD_EXACT)  # fmt: skip

    def _plain(self, client: Any, telemetry: Any) -> dict[str, Any]:
        client.messages.create(**self.SEARCHING)
        attrs = dict(telemetry.call().attributes)
        telemetry.clear()
        assert attrs[semconv.USAGE_WEB_SEARCH_REQUESTS] > 0 and attrs[semconv.USAGE_WEB_FETCH_REQUESTS] > 0
        return attrs

    def test_create_stream_true(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        plain = self._plain(client, telemetry)
        for _ in client.messages.create(**self.SEARCHING, stream=True):
            pass
        streamed = telemetry.call().attributes
        assert {k: streamed.get(k) for k in self.FIELDS} == {k: plain[k] for k in self.FIELDS}

    def test_stream_helper(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        plain = self._plain(client, telemetry)
        with client.messages.stream(**self.SEARCHING) as stream:
            stream.get_final_message()
        streamed = telemetry.call().attributes
        assert {k: streamed.get(k) for k in self.FIELDS} == {k: plain[k] for k in self.FIELDS}

    async def test_async_stream_helper(self, fake_api: Any, telemetry: Any) -> None:
        client = async_client(fake_api)
        client_sync = sync_client(fake_api)
        plain = self._plain(client_sync, telemetry)
        async with client.messages.stream(**self.SEARCHING) as stream:
            await stream.get_final_message()
        streamed = telemetry.call().attributes
        assert {k: streamed.get(k) for k in self.FIELDS} == {k: plain[k] for k in self.FIELDS}

    def test_counts_need_the_final_usage(self, fake_api: Any, telemetry: Any) -> None:
        """Cut before `message_delta`: geography and speed are known from `message_start`, the counts are not."""
        for _ in sync_client(fake_api).messages.create(**self.SEARCHING, stream=True, **script("cut:4")):
            pass
        attrs = telemetry.call().attributes
        assert attrs[semconv.USAGE_INFERENCE_GEO] == "us" and attrs[semconv.USAGE_SPEED] == "fast"
        assert semconv.USAGE_WEB_SEARCH_REQUESTS not in attrs and semconv.USAGE_WEB_FETCH_REQUESTS not in attrs
