"""ConcurrencyLimiter and BatchQueue: bounds that hold under load, FIFO hand-over, depth and wait reported."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tracer import semconv
from tracer.resilience import BatchQueue, ConcurrencyLimiter, ManualClock


class TestConcurrencyLimiter:
    async def test_never_exceeds_its_bound_under_200_concurrent_tasks(self) -> None:
        limiter = ConcurrencyLimiter(7, name="tasks")
        inside = 0
        seen: list[int] = []

        async def call(i: int) -> int:
            nonlocal inside
            async with limiter:
                inside += 1
                seen.append(inside)
                for _ in range(i % 4):  # interleave: hold the slot across a few loop turns
                    await asyncio.sleep(0)
                inside -= 1
            return i

        results = await asyncio.gather(*(call(i) for i in range(200)))
        assert results == list(range(200))
        assert max(seen) == 7 == limiter.peak
        assert limiter.active == 0 and limiter.depth == 0

    def test_never_exceeds_its_bound_under_200_threads(self) -> None:
        limiter = ConcurrencyLimiter(5, name="threads")
        lock = threading.Lock()
        inside = 0
        seen: list[int] = []
        release = threading.Event()

        @limiter
        def call() -> None:
            nonlocal inside
            with lock:
                inside += 1
                seen.append(inside)
            release.wait(timeout=30)
            with lock:
                inside -= 1

        threads = [threading.Thread(target=call) for _ in range(200)]
        for t in threads:
            t.start()
        for _ in range(1000):  # wait until every thread is either inside or queued (no timing assumption)
            if limiter.active + limiter.depth == 200 and limiter.active == 5:
                break
            threading.Event().wait(0.01)
        assert limiter.active == 5 and limiter.depth == 195
        release.set()
        for t in threads:
            t.join()
        assert max(seen) == 5 == limiter.peak
        assert limiter.active == 0 and limiter.depth == 0

    async def test_threads_and_tasks_share_one_bound(self) -> None:
        limiter = ConcurrencyLimiter(1)
        limiter.acquire()  # held by "a thread"
        entered = asyncio.Event()

        async def task() -> None:
            async with limiter:
                entered.set()

        t = asyncio.create_task(task())
        await asyncio.sleep(0)
        assert limiter.depth == 1 and not entered.is_set()
        await asyncio.to_thread(limiter.release)  # released from another thread: the task is woken on its loop
        await asyncio.wait_for(entered.wait(), timeout=10)
        await t
        assert limiter.active == 0

    async def test_a_waiter_cancelled_in_the_queue_leaves_no_slot_behind(self) -> None:
        limiter = ConcurrencyLimiter(1)
        await limiter.aacquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0)
        assert limiter.depth == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.depth == 0
        limiter.release()
        assert limiter.active == 0

    def test_slots_are_handed_over_in_arrival_order(self) -> None:
        limiter = ConcurrencyLimiter(1)
        order: list[int] = []
        limiter.acquire()
        threads = []
        for i in range(5):
            t = threading.Thread(target=lambda i=i: (limiter.acquire(), order.append(i), limiter.release()))
            t.start()
            while limiter.depth < i + 1:  # each thread queued before the next starts
                threading.Event().wait(0.001)
            threads.append(t)
        limiter.release()
        for t in threads:
            t.join()
        assert order == [0, 1, 2, 3, 4]

    async def test_depth_is_a_gauge_and_waits_are_a_histogram_and_long_waits_events(
        self, clock: ManualClock, recorded: Any
    ) -> None:
        limiter = ConcurrencyLimiter(1, name="gauge-limiter", clock=clock, wait_event_s=2.0)
        await limiter.aacquire()
        waiters = [asyncio.create_task(limiter.aacquire()) for _ in range(3)]
        await asyncio.sleep(0)
        depth = [
            p.value
            for a, p in recorded.metric_points(semconv.METRIC_QUEUE_DEPTH)
            if a.get(semconv.EVENT_NAME) == "gauge-limiter"
        ]
        assert depth == [3]
        clock.advance(2.5)
        for _ in range(3):
            limiter.release()
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)
        waits = [
            p
            for a, p in recorded.metric_points(semconv.METRIC_QUEUE_WAIT)
            if a.get(semconv.EVENT_NAME) == "gauge-limiter"
        ]
        assert waits[0].count == 4 and waits[0].sum == pytest.approx(7.5)  # 0 + 3 x 2.5 s
        events = recorded.events(semconv.EVENT_KIND_LIMITER_WAIT, "gauge-limiter")
        assert len(events) == 3


class TestBatchQueue:
    async def test_full_batches_go_at_once_and_results_map_back_in_order(
        self, clock: ManualClock, recorded: Any
    ) -> None:
        batches: list[list[int]] = []

        async def handler(items: list[int]) -> list[int]:
            batches.append(items)
            return [x * 10 for x in items]

        async with BatchQueue(
            handler, max_batch=4, flush_interval_s=60, name="full", clock=clock, async_sleep=clock.async_sleep
        ) as q:
            futures = [q.submit(i) for i in range(8)]
            results = await asyncio.gather(*futures)
        assert results == [i * 10 for i in range(8)]
        assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
        flushes = recorded.events(semconv.EVENT_KIND_QUEUE_FLUSH, "full")
        assert [e[semconv.EVENT_REASON] for e in flushes] == ["full", "full"]

    async def test_a_partial_batch_goes_after_the_flush_interval(self, recorded: Any) -> None:
        clock = ManualClock()
        slept: list[float] = []

        async def fake_sleep(s: float) -> None:  # the flush timer's sleep, recorded instead of waited
            slept.append(s)
            clock.advance(s)

        async def handler(items: list[str]) -> list[str]:
            return [s.upper() for s in items]

        q = BatchQueue(
            handler, max_batch=10, flush_interval_s=0.25, name="interval", clock=clock, async_sleep=fake_sleep
        )
        a, b = q.submit("a"), q.submit("b")
        assert await a == "A" and await b == "B"
        assert slept == [0.25]
        assert [e[semconv.EVENT_REASON] for e in recorded.events(semconv.EVENT_KIND_QUEUE_FLUSH, "interval")] == [
            "interval"
        ]
        waits = [
            p
            for attrs, p in recorded.metric_points(semconv.METRIC_QUEUE_WAIT)
            if attrs.get(semconv.EVENT_NAME) == "interval"
        ]
        assert waits[0].count == 2 and waits[0].sum == pytest.approx(0.5)
        await q.aclose()

    async def test_at_most_max_concurrency_batches_in_flight(self, clock: ManualClock) -> None:
        inside = 0
        peak = 0

        async def handler(items: list[int]) -> list[int]:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inside -= 1
            return items

        async with BatchQueue(handler, max_batch=2, max_concurrency=3, clock=clock, async_sleep=clock.async_sleep) as q:
            results = await asyncio.gather(*(q.submit(i) for i in range(60)))
        assert results == list(range(60))
        assert peak == 3

    async def test_a_handler_failure_fails_its_batch_only(self, clock: ManualClock) -> None:
        async def handler(items: list[int]) -> list[int]:
            if 0 in items:
                raise RuntimeError("batch with 0 failed")
            return items

        async with BatchQueue(handler, max_batch=2, clock=clock, async_sleep=clock.async_sleep) as q:
            futures = [q.submit(i) for i in range(4)]
            results = await asyncio.gather(*futures, return_exceptions=True)
        assert isinstance(results[0], RuntimeError) and isinstance(results[1], RuntimeError)
        assert results[2:] == [2, 3]

    async def test_close_flushes_what_is_queued(self, clock: ManualClock) -> None:
        async def handler(items: list[int]) -> list[int]:
            return items

        q = BatchQueue(handler, max_batch=100, flush_interval_s=3600, clock=clock, async_sleep=clock.async_sleep)
        f = q.submit(1)
        assert q.depth == 1
        await q.aclose()
        assert await f == 1 and q.depth == 0
        with pytest.raises(RuntimeError):
            q.submit(2)
