"""Retry with exponential backoff and full jitter that honours the server's retry-after."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from tracer import semconv
from tracer.resilience import _clock, _telemetry
from tracer.resilience._classify import RETRYABLE, Failure, FailureKind, classify
from tracer.resilience._faces import decorate

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Decision:
    """What `Retry.decide` concluded about one failure: retry after `delay_s`, or give up and why."""

    retry: bool
    delay_s: float
    failure: Failure
    reason: str


@dataclass
class Retry:
    """A retry policy; use it as a decorator (sync or async) or a call wrapper. Build it with `retry(...)`.

    >>> policy = retry(max_attempts=5, max_total_s=60)
    >>> message = policy.call(client.messages.create, model=..., max_tokens=..., messages=...)
    >>> message = await policy.acall(async_client.messages.create, ...)

    Delays: the server's `retry-after-ms` / `retry-after` when it sends one (exactly, up to `max_retry_after_s`),
    otherwise full jitter, `uniform(0, min(max_delay_s, base_delay_s * 2**retry))`. A 429 without retry-after
    waits at least `rate_limit_min_delay_s`. Retried by default: 429, 529, other 5xx, 408/409, connection errors
    and timeouts (`retry_on`); never a 4xx such as 400/401/403/404, nor `x-should-retry: false`. It gives up after
    `max_attempts` attempts, or when the next wait would end past `max_total_s` since the first attempt, and
    re-raises the SDK's own last exception. Every retry is a `retry` event (reason, delay, attempt), every give-up
    a `retry_exhausted` event.

    Composing with the SDK's own retries (`max_retries`, default 2): each of our attempts is a whole SDK call, so
    the two multiply (5 x 3 = 15 HTTP requests). Either turn the SDK's off inside, which lets this policy see and
    record every failure: `policy.call(client.with_options(max_retries=0).messages.create, ...)` (GuardedClient
    does this for you), or keep the SDK's retries for transient errors and give this policy `max_attempts=2` for
    what the SDK does not retry (stream timeouts, an open breaker's short wait).
    """

    max_attempts: int = 4
    max_total_s: float | None = 120.0
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    rate_limit_min_delay_s: float = 1.0
    retry_on: Collection[FailureKind] = RETRYABLE
    name: str = "retry"
    clock: _clock.Clock = field(default=_clock.monotonic, repr=False)
    sleep: _clock.Sleep = field(default=_clock.sleep, repr=False)
    async_sleep: _clock.AsyncSleep = field(default=_clock.async_sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    # -- the pure core ---------------------------------------------------------------------------------------

    def backoff(self, retry_index: int) -> float:
        """Full jitter: a uniform draw in [0, min(max_delay_s, base_delay_s * 2**retry_index)]."""
        cap = min(self.max_delay_s, self.base_delay_s * (2.0 ** min(retry_index, 60)))
        return self.random() * cap

    def decide(self, exc: BaseException, attempt: int, elapsed_s: float) -> Decision:
        """Whether to retry after attempt number `attempt` (1-based) failed with `exc`, `elapsed_s` after the start."""
        failure = classify(exc)
        if failure.should_retry is False:
            return Decision(False, 0.0, failure, "server sent x-should-retry: false")
        if failure.kind not in self.retry_on and failure.should_retry is not True:
            return Decision(False, 0.0, failure, f"{failure.reason} is not retryable")
        if attempt >= self.max_attempts:
            return Decision(False, 0.0, failure, f"{attempt} attempts made (max_attempts={self.max_attempts})")
        if failure.retry_after_s is not None:
            if failure.retry_after_s > self.max_retry_after_s:
                return Decision(
                    False, 0.0, failure, f"server asked for {failure.retry_after_s:g}s (> {self.max_retry_after_s:g}s)"
                )
            delay = failure.retry_after_s
        else:
            delay = self.backoff(attempt - 1)
            if failure.kind is FailureKind.RATE_LIMITED:
                delay = max(delay, self.rate_limit_min_delay_s)
        if self.max_total_s is not None and elapsed_s + delay > self.max_total_s:
            return Decision(
                False, delay, failure, f"waiting {delay:.3g}s more would pass max_total_s={self.max_total_s:g}s"
            )
        return Decision(True, delay, failure, failure.reason)

    # -- the edges ------------------------------------------------------------------------------------------

    def _record(self, decision: Decision, attempt: int) -> None:
        attrs: dict[str, Any] = {
            "attempt": attempt,
            "delay_s": round(decision.delay_s, 6),
            "failure": decision.failure.kind.value,
            "http_status": decision.failure.status,
            "retry_after_s": decision.failure.retry_after_s,
        }
        if decision.retry:
            _telemetry.event(semconv.EVENT_KIND_RETRY, self.name, reason=decision.reason, attributes=attrs)
        elif decision.failure.kind in self.retry_on:  # a retryable failure we stopped retrying: worth an event
            _telemetry.event(semconv.EVENT_KIND_RETRY_EXHAUSTED, self.name, reason=decision.reason, attributes=attrs)

    def _delay_after(self, exc: BaseException, attempt: int, start: float) -> float | None:
        """The wait before the next attempt after attempt `attempt` failed with `exc` (recorded), or None: give up.
        What both faces ask after a failure, so a sync and an async call are retried alike."""
        decision = self.decide(exc, attempt, self.clock() - start)
        self._record(decision, attempt)
        return decision.delay_s if decision.retry else None

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call `fn(*args, **kwargs)`, retrying per this policy; returns its result or raises its last exception."""
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                delay = self._delay_after(exc, attempt, start)
                if delay is None:
                    raise
            self.sleep(delay)

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Await `fn(*args, **kwargs)`, retrying per this policy: `call`'s decisions, with the call and the wait awaited."""
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                delay = self._delay_after(exc, attempt, start)
                if delay is None:
                    raise
            await self.async_sleep(delay)

    def __call__(self, fn: F) -> F:
        """Decorate a sync or async function with this policy."""
        return decorate(fn, self.call, self.acall)


@overload
def retry(fn: F, /) -> F: ...
@overload
def retry(fn: None = None, /, **options: Any) -> Retry: ...
def retry(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Retry with exponential backoff + full jitter, honouring retry-after; a decorator or a call wrapper.

    >>> @retry                                       # defaults: 4 attempts, 120 s in total
    ... def ask(prompt): return client.messages.create(...)
    >>> @retry(max_attempts=6, max_total_s=30)       # sync or async functions alike
    ... async def ask_async(prompt): ...
    >>> retry(max_attempts=3).call(client.messages.create, model=..., max_tokens=..., messages=...)

    Options are the fields of `Retry` (max_attempts, max_total_s, base_delay_s, max_delay_s, max_retry_after_s,
    rate_limit_min_delay_s, retry_on, name, clock, sleep, async_sleep, random). See `Retry` for how it composes
    with the SDK's own `max_retries` without multiplying attempts.
    """
    policy = Retry(**options)
    if fn is not None:
        return policy(fn)
    return policy
