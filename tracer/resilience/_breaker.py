"""Circuit breaker: stop calling a service that keeps failing, try again after a pause, close when it recovers."""

from __future__ import annotations

import enum
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from tracer import semconv
from tracer.resilience import _clock, _telemetry
from tracer.resilience._classify import BREAKER_FAILURES, classify
from tracer.resilience._errors import CircuitOpenError
from tracer.resilience._faces import decorate

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class BreakerState(enum.Enum):
    """The three states of a `CircuitBreaker`; the value is what events and the store's `events` view show."""

    CLOSED = "closed"  # normal: calls flow; consecutive failures are counted, `failure_threshold` of them open it
    OPEN = "open"  # failing fast: every call raises CircuitOpenError until `recovery_timeout` has passed
    HALF_OPEN = "half_open"  # probing: up to `half_open_max_calls` trial calls at a time; `success_threshold`
    # successes in a row close it, any failure opens it again for another `recovery_timeout`


_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitBreaker:
    """Closed / open / half-open circuit breaker, safe across threads and asyncio tasks, reporting itself.

    >>> breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=30, success_threshold=2, name="opus")
    >>> message = breaker.call(client.messages.create, model=..., max_tokens=..., messages=...)
    >>> @breaker                                  # or as a decorator (sync or async)
    ... async def ask(prompt): ...

    `failure_threshold` consecutive failures (529, other 5xx, connection errors, timeouts: see `is_failure`) open
    it; while open every call raises `CircuitOpenError` (with `.retry_in_s`) without touching the API; after
    `recovery_timeout` seconds it lets trial calls through (half-open); `success_threshold` successes close it
    and one failure re-opens it. A 429 or another 4xx is neither a failure nor a success. Every transition is a
    `breaker_transition` event (from, to, reason) and the `tracer.breaker.state` gauge follows the state.
    One breaker per model or per key: `CircuitBreaker.for_key("claude-opus-4-5")` or a `BreakerRegistry`.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 1,
        *,
        name: str = "default",
        half_open_max_calls: int | None = None,
        is_failure: Callable[[BaseException], bool | None] | None = None,
        clock: _clock.Clock | None = None,
    ) -> None:
        if failure_threshold < 1 or success_threshold < 1 or recovery_timeout < 0:
            raise ValueError("failure_threshold and success_threshold must be >= 1, recovery_timeout >= 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(recovery_timeout)
        self.success_threshold = success_threshold
        self.half_open_max_calls = half_open_max_calls or success_threshold
        self._is_failure = is_failure or default_is_failure
        self._clock = clock or _clock.monotonic
        # One lock, never held across a call or an await: the critical sections are a few assignments, so a
        # threading.Lock serves threads and asyncio tasks alike (tasks never block on it for long).
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0  # consecutive, in CLOSED
        self._successes = 0  # consecutive, in HALF_OPEN
        self._trials = 0  # trial calls in flight, in HALF_OPEN
        self._opened_at = 0.0
        _telemetry.observe_state(self)

    # -- state -------------------------------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose timeout has passed reads, and becomes, HALF_OPEN)."""
        events: list[tuple[BreakerState, BreakerState, str]] = []
        with self._lock:
            self._maybe_half_open(events)
            state = self._state
        self._emit(events)
        return state

    @property
    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a trial call through; 0 when not open."""
        with self._lock:
            if self._state is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.recovery_timeout - self._clock())

    def _gauge_value(self) -> int:
        return _GAUGE[self._state]

    def _set(self, to: BreakerState, reason: str, events: list[tuple[BreakerState, BreakerState, str]]) -> None:
        if to is self._state:
            return
        events.append((self._state, to, reason))
        self._state = to
        self._successes = 0
        self._trials = 0
        if to is BreakerState.OPEN:
            self._opened_at = self._clock()
        if to is BreakerState.CLOSED:
            self._failures = 0

    def _maybe_half_open(self, events: list[tuple[BreakerState, BreakerState, str]]) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
            self._set(BreakerState.HALF_OPEN, f"recovery timeout of {self.recovery_timeout:g}s passed", events)

    def _emit(self, events: Iterable[tuple[BreakerState, BreakerState, str]]) -> None:
        for old, new, reason in events:  # outside the lock: telemetry must not hold up other callers
            _telemetry.event(
                semconv.EVENT_KIND_BREAKER_TRANSITION,
                self.name,
                from_state=old.value,
                to_state=new.value,
                reason=reason,
            )

    # -- the protocol: before_call, then exactly one of on_success / on_failure / on_neutral ---------------------

    def before_call(self) -> None:
        """Admit one call or raise `CircuitOpenError`. Pair it with one `on_success` / `on_failure` / `on_neutral`."""
        events: list[tuple[BreakerState, BreakerState, str]] = []
        rejected: CircuitOpenError | None = None
        with self._lock:
            self._maybe_half_open(events)
            if self._state is BreakerState.OPEN:
                rejected = CircuitOpenError(self.name, self._opened_at + self.recovery_timeout - self._clock())
            elif self._state is BreakerState.HALF_OPEN:
                if self._trials >= self.half_open_max_calls:
                    rejected = CircuitOpenError(self.name, 0.0, state=BreakerState.HALF_OPEN.value)
                else:
                    self._trials += 1
        self._emit(events)
        if rejected is not None:
            _telemetry.event(
                semconv.EVENT_KIND_BREAKER_REJECTED,
                self.name,
                reason=f"circuit {rejected.state}",
                attributes={"retry_in_s": round(rejected.retry_in_s, 3)},
            )
            raise rejected

    def on_success(self) -> None:
        """The admitted call succeeded."""
        events: list[tuple[BreakerState, BreakerState, str]] = []
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._trials = max(0, self._trials - 1)
                self._successes += 1
                if self._successes >= self.success_threshold:
                    self._set(BreakerState.CLOSED, f"{self._successes} successful trial calls", events)
            else:
                self._failures = 0
        self._emit(events)

    def on_failure(self, reason: str = "failure") -> None:
        """The admitted call failed in a way that counts (see `is_failure`)."""
        events: list[tuple[BreakerState, BreakerState, str]] = []
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._set(BreakerState.OPEN, f"trial call failed: {reason}", events)
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._set(BreakerState.OPEN, f"{self._failures} consecutive failures, last: {reason}", events)
        self._emit(events)

    def on_neutral(self) -> None:
        """The admitted call ended in a way that says nothing about the service's health (429, 4xx, cancelled)."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._trials = max(0, self._trials - 1)

    def on_exception(self, exc: BaseException) -> None:
        """Sort an exception into on_failure / on_neutral with `is_failure`."""
        try:
            verdict = self._is_failure(exc)
        except Exception:
            verdict = None
        if verdict:
            self.on_failure(classify(exc).reason)
        else:
            self.on_neutral()

    def reset(self) -> None:
        """Force the breaker closed (an operator's override); recorded as a transition like any other."""
        events: list[tuple[BreakerState, BreakerState, str]] = []
        with self._lock:
            self._set(BreakerState.CLOSED, "reset", events)
            self._failures = 0
        self._emit(events)

    # -- ways to use it ------------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` through the breaker."""
        with self:
            return fn(*args, **kwargs)

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Await `fn(*args, **kwargs)` through the breaker: the admission and verdict of `call`, awaited in between."""
        with self:
            return await fn(*args, **kwargs)

    def __call__(self, fn: F) -> F:
        """Use the breaker as a decorator on a sync or async function."""
        return decorate(fn, self.call, self.acall)

    def __enter__(self) -> CircuitBreaker:
        self.before_call()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.on_success()
        else:
            self.on_exception(exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.__exit__(exc_type, exc, tb)

    @classmethod
    def for_key(cls, key: str, **options: Any) -> CircuitBreaker:
        """The process-wide breaker for `key` (e.g. a model ID), created with `options` on first use.

        >>> CircuitBreaker.for_key("claude-opus-4-5", failure_threshold=3).call(...)
        """
        return default_registry.get(key, **options)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value})"


def default_is_failure(exc: BaseException) -> bool:
    """529, other 5xx, 408/409, connection errors and timeouts count; 429, other 4xx and the caller's own errors do not."""
    return classify(exc).kind in BREAKER_FAILURES


class BreakerRegistry:
    """One `CircuitBreaker` per key (a model ID, a tenant, a region), made on first use with shared options.

    >>> breakers = BreakerRegistry(failure_threshold=3, recovery_timeout=20)
    >>> breakers["claude-opus-4-5"].call(client.messages.create, model="claude-opus-4-5", ...)
    >>> GuardedClient(client, breaker=breakers)   # GuardedClient picks the breaker by the request's model
    """

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str, **options: Any) -> CircuitBreaker:
        """The breaker for `key`; `options` override the defaults when it is created (ignored afterwards)."""
        breaker = self._breakers.get(key)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.get(key)
                if breaker is None:
                    breaker = CircuitBreaker(**{**self.defaults, **options, "name": key})
                    self._breakers[key] = breaker
        return breaker

    __getitem__ = get

    def __iter__(self) -> Any:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)


default_registry = BreakerRegistry()
"""The registry behind `CircuitBreaker.for_key`."""
