"""GuardedClient: the SDK client with budget, breaker, limiter, retry and stream deadlines around every call.

Per call, outermost first: the budget is checked once (before anything), then the retry policy runs attempts;
each attempt takes a limiter slot, passes the breaker, and makes one SDK call with the SDK's own retries off.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from tracer.resilience._breaker import BreakerRegistry, CircuitBreaker
from tracer.resilience._budget import BudgetGuard, Reservation
from tracer.resilience._classify import classify
from tracer.resilience._deadline import StreamDeadline, StreamProgress
from tracer.resilience._errors import StreamTimeoutError
from tracer.resilience._limiter import ConcurrencyLimiter
from tracer.resilience._retry import Retry

if TYPE_CHECKING:
    from anthropic.resources.messages import AsyncMessages, Messages

log = logging.getLogger("tracer.resilience")

try:  # the SDK's stream managers, subclassed so that `.stream()` keeps its return type
    from anthropic.lib.streaming import AsyncMessageStreamManager, MessageStreamManager
except ImportError:  # pragma: no cover - every supported SDK has them
    MessageStreamManager = AsyncMessageStreamManager = object  # type: ignore[assignment,misc]


class _Guards:
    """The guards of one GuardedClient and what they do around an attempt. Shared by the sync and async edges."""

    def __init__(
        self,
        retry: Retry | bool | None,
        breaker: CircuitBreaker | BreakerRegistry | None,
        deadline: StreamDeadline | None,
        limiter: ConcurrencyLimiter | None,
        budget: BudgetGuard | None,
    ) -> None:
        self.retry: Retry | None = Retry() if retry is True else (retry or None)
        self.breaker = breaker
        self.deadline = deadline
        self.limiter = limiter
        self.budget = budget

    def breaker_for(self, model: Any) -> CircuitBreaker | None:
        if isinstance(self.breaker, BreakerRegistry):
            return self.breaker.get(str(model))
        return self.breaker

    def reserve(self, kwargs: dict[str, Any]) -> Reservation | None:
        if self.budget is None:
            return None
        return self.budget.reserve(
            str(kwargs.get("model")),
            messages=kwargs.get("messages", ()),
            max_tokens=int(kwargs.get("max_tokens") or 0),
            system=kwargs.get("system"),
            tools=kwargs.get("tools"),
        )

    def attempt_kwargs(
        self, kwargs: dict[str, Any], attempt: int, count_attempts: bool, timeout: Any, stream: bool
    ) -> dict[str, Any]:
        kw = dict(kwargs)
        if count_attempts and attempt > 0:
            # The SDK's own retries are off, so it would send `x-stainless-retry-count: 0` on every one of ours;
            # tell the server the truth (the fake API scripts faults by it, and the real API may use it).
            kw["extra_headers"] = {**(kw.get("extra_headers") or {}), "x-stainless-retry-count": str(attempt)}
        if stream and self.deadline is not None:
            kw["timeout"] = self.deadline.request_timeout(kw.get("timeout", timeout))
        return kw

    def stream_end_hook(
        self, breaker: CircuitBreaker | None, reservation: Reservation | None
    ) -> Callable[[StreamProgress, BaseException | None], None]:
        def on_end(progress: StreamProgress, exc: BaseException | None) -> None:
            if breaker is not None and exc is not None:
                if isinstance(exc, StreamTimeoutError):
                    if exc.kind == "idle":  # a stall is the service's fault; a long answer past a deadline is not
                        breaker.on_failure("stream idle timeout")
                elif breaker._is_failure(exc):
                    breaker.on_failure(classify(exc).reason)
            if reservation is not None:
                if progress.usage and progress.model:
                    reservation.settle(progress.usage, model=progress.model)
                else:
                    reservation.settle(cost_usd=reservation.estimate_usd)

        return on_end

    def watch(
        self, result: Any, breaker: CircuitBreaker | None, reservation: Reservation | None, started: float | None
    ) -> Any:
        """Install the deadline (if any) and the end-of-stream accounting on a stream the SDK returned."""
        hook = self.stream_end_hook(breaker, reservation)
        deadline = self.deadline or StreamDeadline(total_s=float("inf"))  # no limits: only the accounting
        if reservation is not None:  # a stream dropped unread still counts, at its estimate
            weakref.finalize(result, _settle_at_estimate, reservation)
        return deadline.guard(result, started_at=started, on_end=hook)


def _settle_at_estimate(reservation: Reservation) -> None:
    try:
        reservation.settle(cost_usd=reservation.estimate_usd)
    except Exception:
        log.debug("could not settle a dropped stream's budget", exc_info=True)


def _settle(reservation: Reservation | None, result: Any) -> None:
    if reservation is None:
        return
    try:
        usage = getattr(result, "usage", None)
        if usage is not None:
            reservation.settle(usage, model=getattr(result, "model", None) or reservation.model)
        else:
            reservation.settle(cost_usd=reservation.estimate_usd)
    except Exception:
        log.debug("could not record a call's cost in its budget", exc_info=True)


def _unwrap(client: Any, sdk_max_retries: int | None, retry: Retry | None) -> tuple[Any, bool]:
    """The client to call through: the SDK's retries off when we retry (unless told otherwise)."""
    if sdk_max_retries is None:
        sdk_max_retries = 0 if retry is not None else None
    if sdk_max_retries is None:
        return client, False
    return client.with_options(max_retries=sdk_max_retries), sdk_max_retries == 0


class _Call:
    """One guarded call: its breaker, budget reservation and attempt count, and what happens around each attempt.

    The sync and async faces (`_GuardedMessages._call`, `_AsyncGuardedMessages._acall`) make their decisions here
    and differ only in what they await: the limiter's slot, the SDK call and the retry policy's waits.
    """

    def __init__(self, owner: GuardedClient, kwargs: dict[str, Any], stream: bool) -> None:
        guards = owner._guards
        self.guards = guards
        self.retry = guards.retry
        self.kwargs = kwargs
        self.stream = stream
        self.breaker = guards.breaker_for(kwargs.get("model"))
        self.reservation = guards.reserve(kwargs)
        self.attempts = 0
        self.counts_attempts = owner._counts_attempts
        self.timeout = getattr(owner._inner, "timeout", None)
        self.clock = guards.deadline.clock if guards.deadline is not None else None

    def next_attempt(self) -> tuple[dict[str, Any], float | None]:
        """The SDK call's arguments for the next attempt, and when it started (for a stream's total deadline)."""
        kw = self.guards.attempt_kwargs(self.kwargs, self.attempts, self.counts_attempts, self.timeout, self.stream)
        self.attempts += 1
        return kw, self.clock() if self.clock is not None else None

    def slot(self) -> ConcurrencyLimiter | contextlib.nullcontext[None]:
        """The limiter's slot (`with` or `async with`), held for the attempt until the response starts."""
        return self.guards.limiter if self.guards.limiter is not None else contextlib.nullcontext()

    def admission(self) -> CircuitBreaker | contextlib.nullcontext[None]:
        """The breaker around one attempt: admits it or raises, then counts how it ended."""
        return self.breaker if self.breaker is not None else contextlib.nullcontext()

    def answered(self, result: Any, started: float | None) -> Any:
        if self.stream:
            return self.guards.watch(result, self.breaker, self.reservation, started)
        return result

    @contextlib.contextmanager
    def settling(self) -> Iterator[None]:
        """A call that fails in the end gives its budget reservation back."""
        try:
            yield
        except BaseException:
            if self.reservation is not None:
                self.reservation.release()
            raise

    def settle(self, result: Any) -> Any:
        """The call's result, its cost settled in the budget (a stream settles when it ends)."""
        if not self.stream:
            _settle(self.reservation, result)
        return result


class _GuardedMessages:
    def __init__(self, owner: GuardedClient) -> None:
        self._owner = owner
        sdk = owner._inner.messages
        # Plain functions carrying the SDK's own signature and docstring (inspect.signature follows __wrapped__).
        do_create, do_stream = self._create, self._stream
        create: Callable[..., Any]
        if inspect.iscoroutinefunction(do_create):

            async def acreate(*args: Any, **kwargs: Any) -> Any:
                return await do_create(*args, **kwargs)

            create = acreate
        else:

            def screate(*args: Any, **kwargs: Any) -> Any:
                return do_create(*args, **kwargs)

            create = screate

        def stream(*args: Any, **kwargs: Any) -> Any:
            return do_stream(*args, **kwargs)

        self.create = functools.wraps(sdk.create)(create)
        self.stream = functools.wraps(sdk.stream)(stream)

    def __getattr__(self, name: str) -> Any:  # count_tokens, batches, parse, ...: unguarded, straight to the SDK
        return getattr(self._owner._inner.messages, name)

    def _call(self, kwargs: dict[str, Any], do: Callable[[dict[str, Any]], Any], stream: bool) -> Any:
        call = _Call(self._owner, kwargs, stream)

        def attempt() -> Any:
            kw, started = call.next_attempt()
            with call.slot(), call.admission():
                result = do(kw)
            return call.answered(result, started)

        with call.settling():
            result = call.retry.call(attempt) if call.retry is not None else attempt()
        return call.settle(result)

    def _create(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._owner._inner.messages
        return self._call(kwargs, lambda kw: inner.create(*args, **kw), bool(kwargs.get("stream")))

    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._owner._inner.messages
        return _GuardedStreamManager(lambda: self._call(kwargs, lambda kw: inner.stream(*args, **kw).__enter__(), True))


class _GuardedStreamManager(MessageStreamManager):
    """A `MessageStreamManager` whose request runs through the guards (retry, breaker, ...) when entered."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:  # no super().__init__: we make our own request
        self._open_stream = open_stream
        self._guarded_stream: Any = None

    def __enter__(self) -> Any:
        self._guarded_stream = self._open_stream()
        return self._guarded_stream

    def __exit__(self, *exc: object) -> None:
        if self._guarded_stream is not None:
            self._guarded_stream.close()


class GuardedClient:
    """An `anthropic.Anthropic` with resilience around `messages.create` and `messages.stream`: a drop-in.

    >>> client = GuardedClient(anthropic.Anthropic(), retry=retry(max_attempts=5),
    ...                        breaker=BreakerRegistry(failure_threshold=5), deadline=StreamDeadline(idle_s=30))
    >>> message = client.messages.create(model=..., max_tokens=..., messages=...)    # same arguments, same Message
    >>> with client.messages.stream(model=..., max_tokens=..., messages=...) as s:    # same MessageStream
    ...     print(s.get_final_text())

    Guards (all optional): `retry` (a `Retry`, or True for the defaults), `breaker` (one `CircuitBreaker`, or a
    `BreakerRegistry` for one per model), `deadline` (a `StreamDeadline` for streams), `limiter` (a
    `ConcurrencyLimiter` held for each attempt until the response starts), `budget` (a `BudgetGuard`, checked once
    before the call, settled with the actual cost). With a retry policy the SDK's own retries are turned off
    (`client.with_options(max_retries=0)`) so attempts do not multiply; pass `sdk_max_retries=` to choose.
    Everything else (`client.models`, `messages.count_tokens`, `messages.batches`, ...) goes to the SDK unguarded.
    """

    messages: Messages

    def __init__(
        self,
        client: Any,
        *,
        retry: Retry | bool | None = None,
        breaker: CircuitBreaker | BreakerRegistry | None = None,
        deadline: StreamDeadline | None = None,
        limiter: ConcurrencyLimiter | None = None,
        budget: BudgetGuard | None = None,
        sdk_max_retries: int | None = None,
    ) -> None:
        self._client = client
        self._guards = _Guards(retry, breaker, deadline, limiter, budget)
        self._sdk_max_retries = sdk_max_retries
        self._inner, self._counts_attempts = _unwrap(client, sdk_max_retries, self._guards.retry)
        self.messages = cast("Messages", self._make_messages())

    def _make_messages(self) -> Any:
        return _GuardedMessages(self)

    def with_options(self, **options: Any) -> GuardedClient:
        """The SDK's `with_options`, keeping the same guards (and the same breaker, limiter and budget state)."""
        clone = object.__new__(type(self))
        clone._client = self._client.with_options(**options)
        clone._guards = self._guards
        clone._sdk_max_retries = self._sdk_max_retries
        clone._inner, clone._counts_attempts = _unwrap(clone._client, self._sdk_max_retries, self._guards.retry)
        clone.messages = cast("Messages", clone._make_messages())
        return clone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _AsyncGuardedMessages(_GuardedMessages):
    async def _acall(self, kwargs: dict[str, Any], do: Callable[[dict[str, Any]], Any], stream: bool) -> Any:
        call = _Call(self._owner, kwargs, stream)

        async def attempt() -> Any:
            kw, started = call.next_attempt()
            async with call.slot():  # the limiter waits without blocking the loop
                with call.admission():
                    result = await do(kw)
            return call.answered(result, started)

        with call.settling():
            result = await (call.retry.acall(attempt) if call.retry is not None else attempt())
        return call.settle(result)

    async def _create(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._owner._inner.messages
        return await self._acall(kwargs, lambda kw: inner.create(*args, **kw), bool(kwargs.get("stream")))

    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._owner._inner.messages

        async def open_one(kw: dict[str, Any]) -> Any:
            return await inner.stream(*args, **kw).__aenter__()

        return _AsyncGuardedStreamManager(lambda: self._acall(kwargs, open_one, True))


class _AsyncGuardedStreamManager(AsyncMessageStreamManager):
    """An `AsyncMessageStreamManager` whose request runs through the guards when entered."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        self._open_stream = open_stream
        self._guarded_stream: Any = None

    async def __aenter__(self) -> Any:
        self._guarded_stream = await self._open_stream()
        return self._guarded_stream

    async def __aexit__(self, *exc: object) -> None:
        if self._guarded_stream is not None:
            await self._guarded_stream.close()


class AsyncGuardedClient(GuardedClient):
    """`GuardedClient` for `anthropic.AsyncAnthropic`: the same guards, awaited.

    >>> client = AsyncGuardedClient(anthropic.AsyncAnthropic(), retry=True, breaker=BreakerRegistry())
    >>> message = await client.messages.create(model=..., max_tokens=..., messages=...)
    >>> async with client.messages.stream(model=..., max_tokens=..., messages=...) as s:
    ...     async for text in s.text_stream: ...
    """

    messages: AsyncMessages  # type: ignore[assignment]

    def _make_messages(self) -> Any:
        return _AsyncGuardedMessages(self)
