"""A concurrency limiter shared by threads and asyncio tasks, and a batching queue built on it."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from tracer import semconv
from tracer.resilience import _clock, _telemetry
from tracer.resilience._faces import decorate

T = TypeVar("T")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class _Waiter:
    """One blocked acquirer: a thread (an Event) or a task (a future on its loop). `granted` is set under the lock."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.event: threading.Event | None = None if loop else threading.Event()
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.granted = False

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ConcurrencyLimiter:
    """At most `max_concurrent` calls at once, across threads and asyncio tasks alike; FIFO for the rest.

    >>> limiter = ConcurrencyLimiter(8, name="claude")
    >>> with limiter:                                   # in a thread
    ...     client.messages.create(...)
    >>> async with limiter:                             # in a task
    ...     await async_client.messages.create(...)
    >>> ask = limiter(ask)                              # or as a decorator, sync or async

    Callers waiting are the `tracer.queue.depth` gauge; each wait goes to the `tracer.queue.wait` histogram, and
    a wait of `wait_event_s` or more is also a `limiter_wait` event. `peak` is the most ever admitted at once.
    """

    def __init__(
        self,
        max_concurrent: int,
        *,
        name: str = "limiter",
        wait_event_s: float = 1.0,
        clock: _clock.Clock | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.max_concurrent = max_concurrent
        self.name = name
        self.wait_event_s = wait_event_s
        self.clock = clock or _clock.monotonic
        self._lock = threading.Lock()
        self._active = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self.peak = 0
        _telemetry.observe_depth(self)

    @property
    def active(self) -> int:
        """Calls admitted and not yet released."""
        return self._active

    @property
    def depth(self) -> int:
        """Callers waiting to be admitted."""
        return len(self._waiters)

    def _try_acquire(self, waiter_factory: Callable[[], _Waiter]) -> _Waiter | None:
        with self._lock:
            if self._active < self.max_concurrent and not self._waiters:
                self._active += 1
                self.peak = max(self.peak, self._active)
                return None
            waiter = waiter_factory()
            self._waiters.append(waiter)
            return waiter

    def release(self) -> None:
        """Give a slot back; the longest-waiting caller gets it directly (no barging)."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True  # the slot passes to it: _active stays the same
                waiter.wake()
                return
            self._active -= 1

    def _waited(self, started: float) -> None:
        waited = self.clock() - started
        _telemetry.record_wait(self.name, waited)
        if waited >= self.wait_event_s:
            _telemetry.event(
                semconv.EVENT_KIND_LIMITER_WAIT,
                self.name,
                reason=f"waited {waited:.3g}s for one of {self.max_concurrent} slots",
                attributes={"wait_s": round(waited, 6), "max_concurrent": self.max_concurrent, "depth": self.depth},
            )

    def acquire(self) -> None:
        """Block the thread until a slot is free."""
        started = self.clock()
        waiter = self._try_acquire(_Waiter)
        if waiter is not None:
            assert waiter.event is not None
            waiter.event.wait()
        self._waited(started)

    async def aacquire(self) -> None:
        """Wait (without blocking the loop) until a slot is free."""
        started = self.clock()
        loop = asyncio.get_running_loop()
        waiter = self._try_acquire(lambda: _Waiter(loop))
        if waiter is not None:
            assert waiter.future is not None
            try:
                await waiter.future
            except BaseException:  # cancelled while waiting: leave the queue, or pass on a slot already handed over
                with self._lock:
                    granted = waiter.granted
                    if not granted:
                        self._waiters.remove(waiter)
                if granted:
                    self.release()
                raise
        self._waited(started)

    def __enter__(self) -> ConcurrencyLimiter:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> ConcurrencyLimiter:
        await self.aacquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        with self:
            return fn(*args, **kwargs)

    async def _acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        async with self:
            return await fn(*args, **kwargs)

    def __call__(self, fn: F) -> F:
        """Limit a sync or async function."""
        return decorate(fn, self._call, self._acall)

    def __repr__(self) -> str:
        return (
            f"ConcurrencyLimiter(name={self.name!r}, active={self._active}/{self.max_concurrent}, waiting={self.depth})"
        )


class BatchQueue(Generic[T, R]):
    """Collects items into batches for one async handler: a batch goes when `max_batch` items are waiting or
    `flush_interval_s` after its first item, with at most `max_concurrency` batches in flight.

    >>> async def classify(prompts: list[str]) -> list[str]: ...   # one result per item, in order
    >>> async with BatchQueue(classify, max_batch=20, flush_interval_s=0.05, max_concurrency=4) as queue:
    ...     labels = await asyncio.gather(*(queue.submit(p) for p in prompts))

    `submit` returns an awaitable future; a handler exception fails every future of its batch. Items waiting are
    the `tracer.queue.depth` gauge, each item's wait until its batch starts goes to `tracer.queue.wait`, and each
    batch is a `queue_flush` event (size and why: "full", "interval" or "close").
    """

    def __init__(
        self,
        handler: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 16,
        flush_interval_s: float = 0.05,
        max_concurrency: int = 4,
        name: str = "batch",
        clock: _clock.Clock | None = None,
        async_sleep: _clock.AsyncSleep | None = None,
    ) -> None:
        if max_batch < 1 or max_concurrency < 1 or flush_interval_s < 0:
            raise ValueError("max_batch and max_concurrency must be >= 1, flush_interval_s >= 0")
        self.handler = handler
        self.max_batch = max_batch
        self.flush_interval_s = flush_interval_s
        self.name = name
        self.clock = clock or _clock.monotonic
        self.async_sleep = async_sleep or _clock.async_sleep
        self.limiter = ConcurrencyLimiter(max_concurrency, name=f"{name}.handler", clock=self.clock)
        self._pending: list[tuple[T, asyncio.Future[R], float]] = []
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0
        _telemetry.observe_depth(self)

    @property
    def depth(self) -> int:
        """Items submitted and not yet handed to the handler."""
        return len(self._pending)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue one item; await the returned future for its result."""
        if self._closed:
            raise RuntimeError(f"BatchQueue {self.name!r} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future, self.clock()))
        if len(self._pending) >= self.max_batch:
            self._flush("full")
        elif self._timer is None:
            self._timer = loop.create_task(self._flush_later())
        return future

    async def _flush_later(self) -> None:
        await self.async_sleep(self.flush_interval_s)
        self._timer = None
        if self._pending:
            self._flush("interval")

    def _flush(self, why: str) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            task = asyncio.get_running_loop().create_task(self._run(batch, why))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._timer is not None and not self._pending:
            self._timer.cancel()
            self._timer = None

    async def _run(self, batch: list[tuple[T, asyncio.Future[R], float]], why: str) -> None:
        async with self.limiter:
            now = self.clock()
            for _, _, queued_at in batch:
                _telemetry.record_wait(self.name, now - queued_at)
            self.batches += 1
            _telemetry.event(
                semconv.EVENT_KIND_QUEUE_FLUSH,
                self.name,
                reason=why,
                attributes={"size": len(batch), "max_batch": self.max_batch},
            )
            futures = [f for _, f, _ in batch]
            try:
                results = await self.handler([item for item, _, _ in batch])
                if len(results) != len(batch):
                    raise ValueError(f"handler returned {len(results)} results for {len(batch)} items")
            except BaseException as exc:
                for f in futures:
                    if not f.done():
                        f.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for f, result in zip(futures, results, strict=True):
                if not f.done():
                    f.set_result(result)

    async def aclose(self) -> None:
        """Flush what is queued and wait for every batch in flight."""
        self._closed = True
        if self._pending:
            self._flush("close")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def __aenter__(self) -> BatchQueue[T, R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
