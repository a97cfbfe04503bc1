"""Each scripted outcome (`x-fake-script`), seen through the real SDK's own retry behaviour, sync and async,
streaming and not.

The SDK retries 408, 409, 429, >= 500 and connection errors (max_retries=2 by default: three attempts), honours
`retry-after-ms`, raises typed errors, and does not retry a stream that fails after its headers arrived.
"""

from __future__ import annotations

import json
import time

import anthropic
import httpx2
import pytest

from tracer.fakeapi import FakeAPI

from ._sdk import SDK_WRAPS_STREAM_ERRORS, STREAM_BROKEN, STREAM_STALLED, ask, async_sdk, attempts, script, sdk

# The read timeout of the tests that wait for one (a silent socket is only noticed by waiting): short, yet long
# enough that a loaded machine still answers the attempts that should succeed within it.
TIMEOUT = 0.3


class TestRetriedStatuses:
    def test_two_429s_then_ok_succeeds_on_the_third_attempt(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        message = sdk(api).messages.create(**ask(), **script("429:10,429:10,ok"))
        assert message.content[0].type == "text"
        assert attempts(api) == [0, 1, 2]
        assert sdk_delays == [0.01, 0.01]  # the SDK waited what retry-after-ms said, not its own backoff
        assert [r.status for r in api.requests] == [429, 429, 200]

    def test_529_three_times_raises_overloaded_after_three_attempts(
        self, api: FakeAPI, sdk_delays: list[float]
    ) -> None:
        with pytest.raises(anthropic.OverloadedError) as caught:
            sdk(api).messages.create(**ask(), **script("529"))
        assert caught.value.status_code == 529
        assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert attempts(api) == [0, 1, 2]
        assert len(sdk_delays) == 2 and 0.3 < sdk_delays[0] < sdk_delays[1]  # no retry-after: exponential backoff

    def test_500_then_ok(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        sdk(api).messages.create(**ask(), **script("500,ok"))
        assert attempts(api) == [0, 1]

    def test_the_last_outcome_repeats(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        with pytest.raises(anthropic.RateLimitError) as caught:
            sdk(api, max_retries=3).messages.create(**ask(), **script("500:1,429:5"))
        assert attempts(api) == [0, 1, 2, 3]
        assert [r.status for r in api.requests] == [500, 429, 429, 429]
        assert caught.value.response.headers["retry-after-ms"] == "5"
        assert caught.value.response.headers["retry-after"] == "1"

    def test_429_carries_rate_limit_headers_and_request_id(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.RateLimitError) as caught:
            sdk(api, max_retries=0).messages.create(**ask(), **script("429:250"))
        headers = caught.value.response.headers
        assert headers["retry-after-ms"] == "250"
        assert headers["anthropic-ratelimit-requests-remaining"].isdigit()
        assert caught.value.request_id == headers["request-id"] == api.requests[0].request_id

    def test_400_is_not_retried(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.BadRequestError):
            sdk(api).messages.create(**ask(), **script("400,ok"))
        assert attempts(api) == [0]

    async def test_async_client_retries_the_same_way(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        message = await async_sdk(api).messages.create(**ask(), **script("429:10,529:10,ok"))
        assert message.content
        assert attempts(api) == [0, 1, 2]
        with pytest.raises(anthropic.OverloadedError):
            await async_sdk(api, max_retries=1).messages.create(**ask(), **script("529:1"))
        assert attempts(api)[3:] == [0, 1]

    def test_streams_are_retried_before_their_headers(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        with sdk(api).messages.stream(**ask(), **script("429:10,529:10,ok")) as stream:
            assert stream.get_final_text()
        assert attempts(api) == [0, 1, 2]


class TestSlowAndDropped:
    def test_slow_answers_after_the_delay(self, api: FakeAPI) -> None:
        started = time.perf_counter()
        sdk(api).messages.create(**ask(), **script("slow:60"))
        assert time.perf_counter() - started >= 0.06

    def test_slow_past_the_timeout_is_retried(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        message = sdk(api, max_retries=1, timeout=TIMEOUT).messages.create(**ask(), **script("slow:2000,ok"))
        assert message.content
        assert attempts(api) == [0, 1]

    def test_drop_is_a_connection_error_and_retried(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        with pytest.raises(anthropic.APIConnectionError) as caught:
            sdk(api, max_retries=0).messages.create(**ask(), **script("drop"))
        assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
        assert sdk(api).messages.create(**ask(), **script("drop,drop,ok")).content
        assert attempts(api) == [0, 0, 1, 2]
        assert [r.status for r in api.requests] == [None, None, None, 200]

    async def test_async_drop_then_ok(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        async with async_sdk(api).messages.stream(**ask(), **script("drop,ok")) as stream:
            assert await stream.get_final_text()
        assert attempts(api) == [0, 1]


class TestStalls:
    def test_a_stalled_stream_raises_the_read_timeout_and_keeps_what_arrived(self, api: FakeAPI) -> None:
        client = sdk(api, max_retries=2, timeout=TIMEOUT)
        stream = client.messages.create(**ask(), stream=True, **script("stall:3"))
        received = []
        with pytest.raises(STREAM_STALLED) as caught:
            for event in stream:
                received.append(event.type)
        assert not SDK_WRAPS_STREAM_ERRORS or isinstance(caught.value.__cause__, httpx2.ReadTimeout)
        assert received == ["message_start", "content_block_start"]  # the third event was a ping, which it skips
        assert attempts(api) == [0]  # headers had arrived: no retry

    def test_stall_4_delivers_the_first_text_delta(self, api: FakeAPI) -> None:
        with sdk(api).messages.stream(**ask()) as stream:
            full = stream.get_final_text()
        texts: list[str] = []
        with (
            pytest.raises(STREAM_STALLED),
            sdk(api, timeout=TIMEOUT).messages.stream(**ask(), **script("stall:4")) as s,
        ):
            texts.extend(s.text_stream)
        assert len(texts) == 1 and full.startswith(texts[0]) and texts[0] != full

    def test_a_stalled_plain_call_is_an_api_timeout(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.APITimeoutError):
            sdk(api, max_retries=0, timeout=TIMEOUT).messages.create(**ask(), **script("stall:0"))
        assert attempts(api) == [0] and api.requests[0].status is None

    async def test_async_stalled_stream(self, api: FakeAPI) -> None:
        client = async_sdk(api, timeout=TIMEOUT)
        stream = await client.messages.create(**ask(), stream=True, **script("stall:4"))
        with pytest.raises(STREAM_STALLED):
            async for _ in stream:
                pass


class TestMidStreamFailures:
    def test_error_event_raises_mid_stream(self, api: FakeAPI) -> None:
        stream = sdk(api).messages.create(**ask(), stream=True, **script("error:2"))
        received = []
        with pytest.raises(anthropic.APIStatusError) as caught:
            for event in stream:
                received.append(event.type)
        assert received == ["message_start", "content_block_start"]
        assert caught.value.status_code == 200  # the HTTP status was 200: the error came as an SSE event
        assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        assert attempts(api) == [0]

    async def test_async_error_event_with_the_stream_helper(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.APIStatusError):
            async with async_sdk(api).messages.stream(**ask(), **script("error:5")) as stream:
                await stream.get_final_message()

    def test_error_without_streaming_is_a_529(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        assert sdk(api).messages.create(**ask(), **script("error:2,ok")).content
        assert [r.status for r in api.requests] == [529, 200]

    def test_cut_ends_the_body_before_message_delta(self, api: FakeAPI) -> None:
        events = [e.type for e in sdk(api).messages.create(**ask(), stream=True, **script("cut:4"))]
        assert events == ["message_start", "content_block_start", "content_block_delta"]  # the ping is skipped

    def test_drop_after_n_events_breaks_the_chunked_body(self, api: FakeAPI) -> None:
        stream = sdk(api).messages.create(**ask(), stream=True, **script("drop:4"))
        with pytest.raises(STREAM_BROKEN) as caught:
            list(stream)
        assert not SDK_WRAPS_STREAM_ERRORS or isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)


class TestMalformed:
    def test_malformed_json_body(self, api: FakeAPI) -> None:
        with pytest.raises(json.JSONDecodeError):  # the SDK lets the decoder's error through
            sdk(api).messages.create(**ask(), **script("malformed"))

    def test_malformed_sse_data(self, api: FakeAPI) -> None:
        received = []
        with pytest.raises(json.JSONDecodeError):
            for event in sdk(api).messages.create(**ask(), stream=True, **script("malformed")):
                received.append(event.type)
        assert received == ["message_start", "content_block_start"]


class TestScriptsElsewhere:
    def test_count_tokens_follows_the_script_too(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        result = sdk(api).messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}],
                                                **script("529:1,ok"))  # fmt: skip
        assert result.input_tokens > 0
        assert attempts(api, "/v1/messages/count_tokens") == [0, 1]

    def test_a_bad_script_is_a_400_saying_why(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.BadRequestError, match=r"x-fake-script.*unknown outcome"):
            sdk(api).messages.create(**ask(), **script("429,explode"))

    def test_stream_outcomes_on_a_json_endpoint(self, api: FakeAPI, sdk_delays: list[float]) -> None:
        client = sdk(api)
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": ask()}])  # type: ignore[typeddict-item]
        assert client.messages.batches.retrieve(batch.id, **script("error:1,drop:2,ok")).id == batch.id
        path = f"/v1/messages/batches/{batch.id}"
        assert [(r.attempt, r.status) for r in api.requests if r.path == path] == [(0, 529), (1, None), (2, 200)]
