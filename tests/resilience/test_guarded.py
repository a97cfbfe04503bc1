"""GuardedClient over the real SDK and real HTTP against the fake API's scripted faults (`x-fake-script`).

Clocks and sleeps are injected (ManualClock): retry waits are recorded, never slept; the breaker's recovery
timeout passes when the test says so. Only the stalled-stream tests wait for real, for the idle timeout itself
(0.3 s), since a silent socket can only be noticed by waiting on it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming import MessageStream

from tracer import semconv
from tracer.resilience import (
    AsyncGuardedClient,
    BreakerRegistry,
    BreakerState,
    BudgetExceededError,
    BudgetGuard,
    CircuitBreaker,
    CircuitOpenError,
    ConcurrencyLimiter,
    GuardedClient,
    ManualClock,
    StreamDeadline,
    StreamTimeoutError,
    retry,
)

MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]


def script(s: str) -> dict[str, Any]:
    return {"extra_headers": {"x-fake-script": s}}


def sdk(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=api.base_url, **options)


def async_sdk(api: Any, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test-key", base_url=api.base_url, **options)


def attempts_seen(api: Any) -> list[int]:
    """The x-stainless-retry-count of every /v1/messages request the server received, in order."""
    return [
        int(r.headers.get("x-stainless-retry-count", "0"))
        for r in list(api.requests)
        if r.path.startswith("/v1/messages") and "count_tokens" not in r.path
    ]


def policy(clock: ManualClock, **options: Any) -> Any:
    return retry(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep, **options)


class TestDropIn:
    def test_create_and_stream_keep_the_sdks_signatures_and_return_types(self, fake_api: Any) -> None:
        client = sdk(fake_api)
        guarded = GuardedClient(client, retry=True, breaker=BreakerRegistry(), deadline=StreamDeadline(idle_s=30))
        assert inspect.signature(guarded.messages.create) == inspect.signature(client.messages.create)
        assert inspect.signature(guarded.messages.stream) == inspect.signature(client.messages.stream)
        message = guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert isinstance(message, anthropic.types.Message) and message.content[0].text
        with guarded.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
            assert isinstance(stream, MessageStream)
            assert stream.get_final_text() == "".join(
                b.text for b in stream.get_final_message().content if b.type == "text"
            )
        raw = guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, stream=True)
        assert isinstance(raw, anthropic.Stream)
        assert [e.type for e in raw][-1] == "message_stop"

    def test_everything_else_goes_to_the_sdk(self, fake_api: Any) -> None:
        guarded = GuardedClient(sdk(fake_api))
        assert guarded.base_url == sdk(fake_api).base_url
        assert guarded.messages.with_raw_response is not None

    async def test_async_client(self, fake_api: Any) -> None:
        clock = ManualClock()
        guarded = AsyncGuardedClient(async_sdk(fake_api), retry=policy(clock))
        message = await guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("529,ok"))
        assert isinstance(message, anthropic.types.Message)
        assert len(clock.sleeps) == 1
        async with guarded.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
            assert await stream.get_final_text()


class TestRetry:
    def test_retries_wait_exactly_the_servers_retry_after(self, fake_api: Any, recorded: Any) -> None:
        clock = ManualClock()
        guarded = GuardedClient(sdk(fake_api), retry=policy(clock, name="retry-after"))
        message = guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("429:1500,429:250,ok"))
        assert message.content
        assert clock.sleeps == [1.5, 0.25]
        assert attempts_seen(fake_api) == [0, 1, 2]  # the SDK's own retries are off: no multiplication
        delays = [
            e[semconv.EVENT_ATTRIBUTE_PREFIX + "delay_s"]
            for e in recorded.events(semconv.EVENT_KIND_RETRY, "retry-after")
        ]
        assert delays == [1.5, 0.25]

    def test_overloaded_then_ok_backs_off_with_jitter(self, fake_api: Any) -> None:
        clock = ManualClock()
        guarded = GuardedClient(sdk(fake_api), retry=policy(clock, base_delay_s=2.0, random=lambda: 0.25))
        guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("529,500,ok"))
        assert clock.sleeps == [0.5, 1.0]  # 0.25 x 2 s, 0.25 x 4 s

    def test_a_400_is_not_retried(self, fake_api: Any) -> None:
        clock = ManualClock()
        guarded = GuardedClient(sdk(fake_api), retry=policy(clock))
        with pytest.raises(anthropic.BadRequestError):
            guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("400,ok"))
        assert attempts_seen(fake_api) == [0] and clock.sleeps == []

    def test_the_sdks_own_retries_can_be_kept_instead(self, fake_api: Any) -> None:
        """sdk_max_retries=2 with max_attempts=1: the SDK retries (its own delays), ours does not multiply them."""
        guarded = GuardedClient(sdk(fake_api), retry=retry(max_attempts=1), sdk_max_retries=2)
        guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("429:1,ok"))
        assert attempts_seen(fake_api) == [0, 1]


class TestBreaker:
    def test_opens_after_n_529s_rejects_half_opens_and_closes(self, fake_api: Any, recorded: Any) -> None:
        clock = ManualClock()
        breakers = BreakerRegistry(failure_threshold=3, recovery_timeout=30, success_threshold=2, clock=clock)
        guarded = GuardedClient(sdk(fake_api, max_retries=0), breaker=breakers)
        for _ in range(3):
            with pytest.raises(anthropic.OverloadedError):
                guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("529"))
        assert breakers[MODEL].state is BreakerState.OPEN
        clock.advance(10)
        with pytest.raises(CircuitOpenError) as caught:
            guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert caught.value.retry_in_s == pytest.approx(20)
        assert len(attempts_seen(fake_api)) == 3  # the rejected call never reached the server
        other = guarded.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HELLO)
        assert other.content  # one breaker per model: another model is unaffected
        clock.advance(20)
        guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert breakers[MODEL].state is BreakerState.HALF_OPEN
        guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert breakers[MODEL].state is BreakerState.CLOSED
        assert recorded.transitions(MODEL) == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
        assert len(recorded.events(semconv.EVENT_KIND_BREAKER_REJECTED, MODEL)) == 1

    def test_retry_around_the_breaker_stops_at_an_open_circuit(self, fake_api: Any) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60, clock=clock, name="retry-breaker")
        guarded = GuardedClient(sdk(fake_api), retry=policy(clock, max_attempts=10), breaker=breaker)
        with pytest.raises(CircuitOpenError):
            guarded.messages.create(model=MODEL, max_tokens=64, messages=HELLO, **script("529"))
        assert attempts_seen(fake_api) == [0, 1]  # two 529s opened it; the third attempt failed fast

    async def test_async_tasks_share_the_breaker(self, fake_api: Any) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60, clock=clock, name="async-breaker")
        guarded = AsyncGuardedClient(async_sdk(fake_api, max_retries=0), breaker=breaker)

        async def call() -> str:
            try:
                await guarded.messages.create(model=MODEL, max_tokens=16, messages=HELLO, **script("529"))
            except anthropic.OverloadedError:
                return "529"
            except CircuitOpenError:
                return "open"
            return "ok"

        first = await asyncio.gather(*(call() for _ in range(5)))
        assert first == ["529"] * 5
        assert await asyncio.gather(*(call() for _ in range(20))) == ["open"] * 20


class TestStreamDeadline:
    def test_a_stalled_stream_hits_the_idle_timeout_with_its_partial_text(self, fake_api: Any, recorded: Any) -> None:
        guarded = GuardedClient(sdk(fake_api, max_retries=0), deadline=StreamDeadline(idle_s=0.3, name="stall"))
        with guarded.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
            full = stream.get_final_text()
        received: list[str] = []
        stalled = guarded.messages.stream(model=MODEL, max_tokens=64, messages=HELLO, **script("stall:4"))
        with pytest.raises(StreamTimeoutError) as caught, stalled as stream:
            received.extend(stream.text_stream)
        exc = caught.value
        assert exc.kind == "idle"
        assert exc.partial_text == "".join(received) != ""
        assert full.startswith(exc.partial_text) and exc.partial_text != full
        (event,) = recorded.events(semconv.EVENT_KIND_DEADLINE, "stall")
        assert event[semconv.EVENT_ATTRIBUTE_PREFIX + "kind"] == "idle"
        assert event[semconv.EVENT_ATTRIBUTE_PREFIX + "partial_chars"] == len(exc.partial_text)

    async def test_async_stalled_stream(self, fake_api: Any) -> None:
        guarded = AsyncGuardedClient(async_sdk(fake_api, max_retries=0), deadline=StreamDeadline(idle_s=0.3))
        received: list[str] = []
        with pytest.raises(StreamTimeoutError) as caught:
            async with guarded.messages.stream(model=MODEL, max_tokens=64, messages=HELLO, **script("stall:4")) as s:
                async for text in s.text_stream:
                    received.append(text)
        assert caught.value.kind == "idle" and caught.value.partial_text == "".join(received) != ""

    def test_the_total_deadline_counts_from_the_request(self, fake_api: Any) -> None:
        clock = ManualClock()
        deadline = StreamDeadline(total_s=5, clock=clock, name="total")
        stream = GuardedClient(sdk(fake_api), deadline=deadline).messages.create(
            model=MODEL, max_tokens=64, messages=HELLO, stream=True
        )
        events = iter(stream)
        next(events)
        clock.advance(6)  # the next event arrives after the deadline
        with pytest.raises(StreamTimeoutError) as caught:
            next(events)
        assert caught.value.kind == "total" and caught.value.elapsed_s == pytest.approx(6)

    def test_a_plain_sdk_stream_can_be_guarded_in_place(self, fake_api: Any) -> None:
        client = sdk(fake_api, max_retries=0)
        deadline = StreamDeadline(idle_s=0.3)
        # a blocking read cannot be interrupted: the socket's read timeout is what notices a sync stall
        timeout = deadline.request_timeout(client.timeout)
        with client.messages.stream(
            model=MODEL, max_tokens=64, messages=HELLO, timeout=timeout, **script("stall:4")
        ) as stream:
            assert deadline.guard(stream) is stream
            with pytest.raises(StreamTimeoutError):
                stream.get_final_text()


class TestLimiter:
    async def test_200_concurrent_guarded_calls_never_exceed_the_bound(self, fake_api: Any) -> None:
        limiter = ConcurrencyLimiter(4, name="guarded")
        guarded = AsyncGuardedClient(async_sdk(fake_api), limiter=limiter)
        results = await asyncio.gather(
            *(guarded.messages.create(model=MODEL, max_tokens=16, messages=HELLO) for _ in range(200))
        )
        assert len(results) == 200 and all(r.content for r in results)
        assert limiter.peak == 4 and limiter.active == 0


class TestBudget:
    def test_block_mode_stops_the_call_that_would_cross_the_cap(self, fake_api: Any, recorded: Any) -> None:
        import tracer

        budget = BudgetGuard("0.001", window_s=3600, match={"feature": "search"}, name="search-budget")
        guarded = GuardedClient(sdk(fake_api), budget=budget)
        with tracer.tags(feature="search"):
            first = guarded.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
            spent = budget.spent()
            assert spent > 0  # the actual cost of the first call, from its usage
            calls_so_far = len(attempts_seen(fake_api))
            with pytest.raises(BudgetExceededError) as caught:
                # its estimate (max_tokens of output) would take the window past $0.001
                guarded.messages.create(model=MODEL, max_tokens=4000, messages=HELLO)
        assert first.content
        assert len(attempts_seen(fake_api)) == calls_so_far  # stopped BEFORE reaching the server
        assert caught.value.spent_usd == spent
        assert len(recorded.events(semconv.EVENT_KIND_BUDGET_TRIP, "search-budget")) == 1
        guarded.messages.create(model=MODEL, max_tokens=4000, messages=HELLO)  # untagged: not this budget's
