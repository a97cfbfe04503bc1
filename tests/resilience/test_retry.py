"""retry(): exponential backoff with full jitter, the server's retry-after honoured exactly, 4xx never retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from tests.resilience._errors import connection_error, status_error, timeout_error
from tracer import semconv
from tracer.resilience import ManualClock, Retry, retry


def failing(*outcomes: BaseException | str) -> Callable[..., str]:
    """A function that raises the given exceptions in turn, then returns the first string outcome."""
    queue = list(outcomes)
    calls: list[int] = []

    def fn(*_args: Any, **_kwargs: Any) -> str:
        calls.append(1)
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def policy(clock: ManualClock, **options: Any) -> Retry:
    return retry(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep, **options)


class TestDelays:
    def test_full_jitter_draws_between_zero_and_the_exponential_cap(self, clock: ManualClock) -> None:
        draws = iter([1.0, 1.0, 1.0, 1.0, 0.5, 0.0])
        p = policy(clock, base_delay_s=0.5, max_delay_s=3.0, random=lambda: next(draws))
        assert [p.backoff(i) for i in range(4)] == [0.5, 1.0, 2.0, 3.0]  # capped at max_delay_s
        assert p.backoff(3) == 1.5  # 0.5 of the cap
        assert p.backoff(3) == 0.0  # full jitter reaches zero

    def test_the_servers_retry_after_is_the_delay_exactly(self, clock: ManualClock) -> None:
        p = policy(clock, random=lambda: 0.999)
        decision = p.decide(status_error(429, {"retry-after-ms": "1234"}), attempt=1, elapsed_s=0.0)
        assert decision.retry and decision.delay_s == 1.234

    def test_a_429_without_retry_after_waits_at_least_the_rate_limit_floor(self, clock: ManualClock) -> None:
        p = policy(clock, random=lambda: 0.0, rate_limit_min_delay_s=1.0)
        assert p.decide(status_error(429), attempt=1, elapsed_s=0.0).delay_s == 1.0
        assert p.decide(status_error(529), attempt=1, elapsed_s=0.0).delay_s == 0.0

    def test_a_retry_after_longer_than_allowed_gives_up(self, clock: ManualClock) -> None:
        p = policy(clock, max_retry_after_s=10)
        assert not p.decide(status_error(429, {"retry-after": "30"}), attempt=1, elapsed_s=0.0).retry


class TestWhatIsRetried:
    @pytest.mark.parametrize(
        "exc",
        [
            status_error(429),
            status_error(529),
            status_error(500),
            status_error(503),
            connection_error(),
            timeout_error(),
        ],
        ids=["429", "529", "500", "503", "connection", "timeout"],
    )
    def test_transient_failures_are_retried(self, clock: ManualClock, exc: BaseException) -> None:
        fn = failing(exc, "ok")
        assert policy(clock).call(fn) == "ok"
        assert len(fn.calls) == 2  # type: ignore[attr-defined]

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
    def test_client_errors_are_raised_at_once(self, clock: ManualClock, status: int) -> None:
        err = status_error(status)
        fn = failing(err, "ok")
        with pytest.raises(anthropic.APIStatusError) as caught:
            policy(clock).call(fn)
        assert caught.value is err
        assert clock.sleeps == []

    def test_x_should_retry_false_is_obeyed(self, clock: ManualClock) -> None:
        fn = failing(status_error(529, {"x-should-retry": "false"}), "ok")
        with pytest.raises(anthropic.OverloadedError):
            policy(clock).call(fn)

    def test_the_callers_own_exceptions_are_not_retried(self, clock: ManualClock) -> None:
        fn = failing(KeyError("bug"), "ok")
        with pytest.raises(KeyError):
            policy(clock).call(fn)
        assert len(fn.calls) == 1  # type: ignore[attr-defined]


class TestLimits:
    def test_after_max_attempts_the_sdks_last_exception_is_raised_unchanged(
        self, clock: ManualClock, recorded: Any
    ) -> None:
        last = status_error(529)
        fn = failing(status_error(529), status_error(529), last)
        with pytest.raises(anthropic.OverloadedError) as caught:
            policy(clock, max_attempts=3, random=lambda: 0.5).call(fn)
        assert caught.value is last
        assert len(fn.calls) == 3  # type: ignore[attr-defined]
        assert len(clock.sleeps) == 2
        exhausted = recorded.events(semconv.EVENT_KIND_RETRY_EXHAUSTED)
        assert len(exhausted) == 1 and "3 attempts" in exhausted[0][semconv.EVENT_REASON]

    def test_a_wait_that_would_pass_max_total_s_is_not_taken(self, clock: ManualClock) -> None:
        fn = failing(status_error(429, {"retry-after": "4"}), "ok")
        with pytest.raises(anthropic.RateLimitError):
            policy(clock, max_total_s=3.0).call(fn)
        assert clock.sleeps == []

    def test_time_spent_in_attempts_counts_towards_max_total_s(self, clock: ManualClock) -> None:
        def slow_failure() -> str:
            clock.advance(5.0)  # each attempt takes 5 s
            raise status_error(529)

        with pytest.raises(anthropic.OverloadedError):
            policy(clock, max_total_s=12.0, max_attempts=10, random=lambda: 1.0, base_delay_s=1.0).call(slow_failure)
        # 5 s, wait 1 s, 5 s (11 s), a 2 s wait would end at 13 s > 12 s: two attempts, one sleep
        assert clock.sleeps == [1.0]


class TestRecording:
    def test_each_retry_is_an_event_with_reason_delay_and_attempt(self, clock: ManualClock, recorded: Any) -> None:
        fn = failing(status_error(429, {"retry-after-ms": "1500"}), status_error(529), "ok")
        policy(clock, name="summarise", random=lambda: 0.5, base_delay_s=1.0).call(fn)
        events = recorded.events(semconv.EVENT_KIND_RETRY, "summarise")
        attr = semconv.EVENT_ATTRIBUTE_PREFIX
        assert [(e[semconv.EVENT_REASON], e[attr + "delay_s"], e[attr + "attempt"]) for e in events] == [
            ("429 rate_limited", 1.5, 1),
            ("529 overloaded", 1.0, 2),  # 0.5 * min(8, 1.0 * 2**1)
        ]
        assert clock.sleeps == [1.5, 1.0]


class TestForms:
    def test_bare_decorator_uses_the_defaults(self) -> None:
        @retry
        def ask() -> str:
            return "ok"

        assert ask() == "ok"
        assert ask.__wrapped__.__name__ == "ask"  # type: ignore[attr-defined]

    def test_decorator_with_options_keeps_the_functions_name(self, clock: ManualClock) -> None:
        @policy(clock)
        def ask(prompt: str) -> str:
            """Docstring."""
            return prompt.upper()

        assert ask("hi") == "HI"
        assert ask.__name__ == "ask" and ask.__doc__ == "Docstring."

    async def test_async_decorator_and_acall(self, clock: ManualClock) -> None:
        outcomes = [status_error(529, {"retry-after": "2"}), "ok"]

        @policy(clock)
        async def ask() -> str:
            outcome = outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        assert await ask() == "ok"
        assert clock.sleeps == [2.0]

        async def fine(x: int) -> int:
            return x * 2

        assert await policy(clock).acall(fine, 21) == 42
