"""Rate limits from token buckets: load above the configured limits gets 429s on its own, with coherent
`anthropic-ratelimit-*` and `retry-after` headers, and fewer 429s as the load drops.

The buckets refill with time, so the tests give the server a manual clock and move it: no test waits for a refill.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from tracer.fakeapi import FakeAPI

from ._sdk import ask, async_sdk, sdk


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(clock: Clock) -> Iterator[FakeAPI]:
    with FakeAPI(latency_scale=0.0, rate_limits={"requests": 60}, clock=clock) as api:  # 60 a minute: one a second
        yield api


def burst(api: FakeAPI, n: int) -> list[tuple[int, Any]]:
    """n calls at once from 16 threads, no SDK retries: (status, headers) of each."""
    client = sdk(api, max_retries=0)

    def one(_: int) -> tuple[int, Any]:
        try:
            raw = client.messages.with_raw_response.create(**ask(max_tokens=8))
            return raw.status_code, raw.headers
        except anthropic.RateLimitError as exc:
            return 429, exc.response.headers

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(n)))


class TestRequestLimit:
    def test_429s_arise_from_load_and_fall_as_it_drops(self, limited: FakeAPI, clock: Clock) -> None:
        heavy = burst(limited, 100)  # 100 at once against a full bucket of 60
        assert sum(s == 429 for s, _ in heavy) == 40
        clock.now += 10  # ten requests' worth refills
        medium = burst(limited, 20)
        assert sum(s == 429 for s, _ in medium) == 10
        clock.now += 30
        light = burst(limited, 20)
        assert sum(s == 429 for s, _ in light) == 0
        assert [r.outcome for r in limited.requests].count("rate_limited") == 50

    def test_the_headers_are_coherent(self, limited: FakeAPI) -> None:
        results = burst(limited, 70)
        ok = [h for s, h in results if s == 200]
        refused = [h for s, h in results if s == 429]
        assert all(h["anthropic-ratelimit-requests-limit"] == "60" for _, h in results)
        # every admitted request took one: together they saw each remaining count from 59 down to 0 exactly once
        assert sorted(int(h["anthropic-ratelimit-requests-remaining"]) for h in ok) == list(range(60))
        now = dt.datetime.now(dt.UTC)
        for h in refused:
            assert h["anthropic-ratelimit-requests-remaining"] == "0"
            assert h["retry-after"] == "1"  # one request refills in a second
            reset = dt.datetime.fromisoformat(h["anthropic-ratelimit-requests-reset"])
            assert 55 <= (reset - now).total_seconds() <= 61  # an empty bucket is full again in a minute

    def test_the_sdk_waits_retry_after_and_then_succeeds(
        self, limited: FakeAPI, clock: Clock, sdk_delays: list[float]
    ) -> None:
        burst(limited, 60)  # empty the bucket

        def advance_then(original: Any) -> Any:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                clock.now += 1  # the second the SDK was told to wait passes
                return original(*args, **kwargs)

            return wrapped

        client = sdk(limited, max_retries=2)
        client._calculate_retry_timeout = advance_then(client._calculate_retry_timeout)  # type: ignore[method-assign]
        assert client.messages.create(**ask(max_tokens=8)).content
        assert sdk_delays == [1.0]  # from retry-after: 1

    async def test_async_load(self, clock: Clock) -> None:
        with FakeAPI(latency_scale=0.0, rate_limits={"requests": 30}, clock=clock) as api:
            client = async_sdk(api, max_retries=0)

            async def one() -> int:
                try:
                    await client.messages.create(**ask(max_tokens=8))
                    return 200
                except anthropic.RateLimitError:
                    return 429

            statuses = await asyncio.gather(*(one() for _ in range(50)))
        assert statuses.count(429) == 20


class TestTokenLimits:
    def test_output_tokens_are_reserved_by_max_tokens_and_the_unused_part_returned(self, clock: Clock) -> None:
        with FakeAPI(latency_scale=0.0, rate_limits={"output_tokens": 1000}, clock=clock) as api:
            raw = sdk(api).messages.with_raw_response.create(**ask(max_tokens=900))
            used = raw.parse().usage.output_tokens
            # the headers are computed when the request is admitted: all of max_tokens was taken then
            assert raw.headers["anthropic-ratelimit-output-tokens-remaining"] == "100"
            after = sdk(api).messages.with_raw_response.create(**ask(max_tokens=10)).headers
            assert int(after["anthropic-ratelimit-output-tokens-remaining"]) == 1000 - used - 10
            with pytest.raises(anthropic.RateLimitError, match="1,000 output tokens per minute"):
                sdk(api, max_retries=0).messages.create(**ask(max_tokens=999))

    def test_input_tokens_count_the_prompt(self, clock: Clock) -> None:
        prompt = [{"role": "user", "content": "word " * 4000}]  # about 5,000 tokens
        with FakeAPI(latency_scale=0.0, rate_limits={"input_tokens": 8000}, clock=clock) as api:
            client = sdk(api, max_retries=0)
            client.messages.create(**ask(messages=prompt))
            with pytest.raises(anthropic.RateLimitError, match="input tokens per minute") as caught:
                client.messages.create(**ask(messages=prompt))
            assert int(caught.value.response.headers["retry-after"]) >= 10  # ~2,000 tokens short at 133 a second
            too_big = [{"role": "user", "content": "word " * 8000}]
            with pytest.raises(anthropic.RateLimitError) as caught:
                client.messages.create(**ask(messages=too_big))
            assert caught.value.response.headers["retry-after"] == "60"  # never fits: bigger than the limit

    def test_default_limits_never_limit_test_traffic(self, api: FakeAPI) -> None:
        assert all(s == 200 for s, _ in burst(api, 200))
