"""CircuitBreaker: closed -> open after N failures, rejects while open, half-open after the timeout, closed after
the successes; every transition an event, the state a gauge; one breaker per key; safe under threads and tasks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.resilience._errors import connection_error, status_error
from tracer import semconv
from tracer.resilience import BreakerRegistry, BreakerState, CircuitBreaker, CircuitOpenError, ManualClock


def make(clock: ManualClock, **options: Any) -> CircuitBreaker:
    options = {"failure_threshold": 3, "recovery_timeout": 30.0, "success_threshold": 2, **options}
    return CircuitBreaker(clock=clock, **options)


def fail(breaker: CircuitBreaker, exc: BaseException | None = None) -> None:
    def boom() -> None:
        raise exc or status_error(529)

    with pytest.raises(type(exc or status_error(529))):
        breaker.call(boom)


class TestLifecycle:
    def test_opens_after_failure_threshold_consecutive_failures(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="opus")
        fail(breaker)
        fail(breaker)
        assert breaker.state is BreakerState.CLOSED
        fail(breaker)
        assert breaker.state is BreakerState.OPEN
        assert recorded.transitions("opus") == [("closed", "open")]
        reason = recorded.events(semconv.EVENT_KIND_BREAKER_TRANSITION, "opus")[0][semconv.EVENT_REASON]
        assert "3 consecutive failures" in reason and "529" in reason

    def test_a_success_resets_the_consecutive_count(self, clock: ManualClock) -> None:
        breaker = make(clock)
        fail(breaker)
        fail(breaker)
        breaker.call(lambda: "ok")
        fail(breaker)
        fail(breaker)
        assert breaker.state is BreakerState.CLOSED

    def test_while_open_calls_are_rejected_without_running(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="opus")
        for _ in range(3):
            fail(breaker)
        clock.advance(12.5)
        ran: list[int] = []
        with pytest.raises(CircuitOpenError) as caught:
            breaker.call(lambda: ran.append(1))
        assert ran == []
        assert caught.value.retry_in_s == pytest.approx(17.5)
        assert breaker.retry_in_s == pytest.approx(17.5)
        assert len(recorded.events(semconv.EVENT_KIND_BREAKER_REJECTED, "opus")) == 1

    def test_half_opens_after_the_recovery_timeout_and_closes_after_the_successes(
        self, clock: ManualClock, recorded: Any
    ) -> None:
        breaker = make(clock, name="opus")
        for _ in range(3):
            fail(breaker)
        clock.advance(30.0)
        assert breaker.state is BreakerState.HALF_OPEN
        breaker.call(lambda: "ok")
        assert breaker.state is BreakerState.HALF_OPEN  # success_threshold=2
        breaker.call(lambda: "ok")
        assert breaker.state is BreakerState.CLOSED
        assert recorded.transitions("opus") == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]

    def test_a_failed_trial_reopens_for_another_full_timeout(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="opus")
        for _ in range(3):
            fail(breaker)
        clock.advance(31.0)
        fail(breaker, connection_error())
        assert breaker.state is BreakerState.OPEN
        assert breaker.retry_in_s == pytest.approx(30.0)
        assert recorded.transitions("opus")[-1] == ("half_open", "open")

    def test_half_open_admits_only_as_many_trials_as_configured(self, clock: ManualClock) -> None:
        breaker = make(clock, success_threshold=1)
        for _ in range(3):
            fail(breaker)
        clock.advance(30.0)
        breaker.before_call()  # one trial in flight
        with pytest.raises(CircuitOpenError) as caught:
            breaker.before_call()
        assert caught.value.state == "half_open"
        breaker.on_success()
        assert breaker.state is BreakerState.CLOSED

    @pytest.mark.parametrize("status", [429, 400, 404])
    def test_429_and_client_errors_neither_open_nor_reset_it(self, clock: ManualClock, status: int) -> None:
        breaker = make(clock)
        fail(breaker)
        fail(breaker)
        for _ in range(5):
            fail(breaker, status_error(status))
        assert breaker.state is BreakerState.CLOSED
        fail(breaker)  # the third 529 still counts as the third in a row
        assert breaker.state is BreakerState.OPEN

    def test_reset_is_a_recorded_transition(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="ops")
        for _ in range(3):
            fail(breaker)
        breaker.reset()
        assert breaker.state is BreakerState.CLOSED
        assert recorded.transitions("ops")[-1] == ("open", "closed")


class TestForms:
    def test_decorator_and_context_manager(self, clock: ManualClock) -> None:
        breaker = make(clock, failure_threshold=1)

        @breaker
        def ask(x: int) -> int:
            return x + 1

        assert ask(1) == 2
        with pytest.raises(ValueError), breaker:
            raise ValueError("not the service's fault")
        assert breaker.state is BreakerState.CLOSED
        with pytest.raises(type(status_error(503))), breaker:
            raise status_error(503)
        assert breaker.state is BreakerState.OPEN

    async def test_async_decorator_acall_and_async_with(self, clock: ManualClock) -> None:
        breaker = make(clock, failure_threshold=2)

        @breaker
        async def overloaded() -> None:
            raise status_error(529)

        with pytest.raises(type(status_error(529))):
            await overloaded()
        with pytest.raises(type(status_error(529))):
            async with breaker:
                raise status_error(529)
        with pytest.raises(CircuitOpenError):
            await breaker.acall(asyncio.sleep, 0)


class TestPerKey:
    def test_registry_gives_one_breaker_per_key_with_shared_defaults(self, clock: ManualClock) -> None:
        registry = BreakerRegistry(failure_threshold=1, clock=clock)
        assert registry["claude-opus-4-5"] is registry.get("claude-opus-4-5")
        fail(registry["claude-opus-4-5"])
        assert registry["claude-opus-4-5"].state is BreakerState.OPEN
        assert registry["claude-haiku-4-5"].state is BreakerState.CLOSED
        assert registry["claude-haiku-4-5"].name == "claude-haiku-4-5"
        assert len(registry) == 2

    def test_for_key_is_process_wide(self) -> None:
        assert CircuitBreaker.for_key("test-for-key") is CircuitBreaker.for_key("test-for-key")


class TestGauge:
    def test_the_state_gauge_follows_the_breaker(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="gauge-test", failure_threshold=1)

        def value() -> Any:
            points = [
                p
                for attrs, p in recorded.metric_points(semconv.METRIC_BREAKER_STATE)
                if attrs.get(semconv.EVENT_NAME) == "gauge-test"
            ]
            assert len(points) == 1
            return points[0].value

        assert value() == 0
        fail(breaker)
        assert value() == 2
        clock.advance(30.0)
        assert breaker.state is BreakerState.HALF_OPEN
        assert value() == 1


class TestConcurrency:
    def test_threads_see_exactly_one_transition_per_change(self, clock: ManualClock, recorded: Any) -> None:
        breaker = make(clock, name="threads", failure_threshold=50)
        barrier = threading.Barrier(8)

        def worker() -> None:
            barrier.wait()
            for _ in range(25):
                try:
                    breaker.before_call()
                except CircuitOpenError:
                    continue
                breaker.on_failure("529 overloaded")

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert breaker.state is BreakerState.OPEN
        assert recorded.transitions("threads") == [("closed", "open")]

    async def test_tasks_in_half_open_get_exactly_the_trial_slots(self, clock: ManualClock) -> None:
        breaker = make(clock, failure_threshold=1, success_threshold=3)
        fail(breaker)
        clock.advance(30.0)
        admitted: list[int] = []
        rejected: list[int] = []

        async def trial(i: int) -> None:
            try:
                async with breaker:
                    admitted.append(i)
                    await asyncio.sleep(0)
            except CircuitOpenError:
                rejected.append(i)

        await asyncio.gather(*(trial(i) for i in range(20)))
        assert len(admitted) == 3 and len(rejected) == 17
        assert breaker.state is BreakerState.CLOSED
