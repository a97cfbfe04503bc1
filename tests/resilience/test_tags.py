"""tracer.tags: attribution carried by contextvars into nested blocks, asyncio tasks, threads and decorators."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

import tracer
from tracer import semconv
from tracer._tags import no_tags, tag_attributes
from tracer.resilience._telemetry import event


class TestContextManager:
    def test_tags_are_in_force_inside_the_block_only(self) -> None:
        assert tracer.current_tags() == {}
        with tracer.tags(feature="search", customer="acme") as inside:
            assert inside == {"feature": "search", "customer": "acme"}
            assert tracer.current_tags() == {"feature": "search", "customer": "acme"}
        assert tracer.current_tags() == {}

    def test_nested_blocks_add_and_override_then_restore(self) -> None:
        with tracer.tags(feature="search", customer="acme"):
            with tracer.tags(customer="globex", step="rerank"):
                assert tracer.current_tags() == {"feature": "search", "customer": "globex", "step": "rerank"}
            assert tracer.current_tags() == {"feature": "search", "customer": "acme"}

    def test_values_become_strings_and_span_attributes(self) -> None:
        with tracer.tags(tier=2, beta=True):
            assert tag_attributes() == {semconv.TAG_PREFIX + "tier": "2", semconv.TAG_PREFIX + "beta": "True"}
        assert tag_attributes() == {}

    def test_tags_are_restored_when_the_block_raises(self) -> None:
        with pytest.raises(RuntimeError), tracer.tags(feature="x"):
            raise RuntimeError
        assert tracer.current_tags() == {}

    def test_no_tags_clears_them_for_a_block(self) -> None:
        with tracer.tags(feature="x"):
            with no_tags():
                assert tracer.current_tags() == {}
            assert tracer.current_tags() == {"feature": "x"}

    def test_the_same_instance_can_be_reentered(self) -> None:
        search = tracer.tags(feature="search")
        with search, tracer.tags(step="a"), search:
            assert tracer.current_tags() == {"feature": "search", "step": "a"}
        assert tracer.current_tags() == {}

    def test_tags_land_on_resilience_event_spans(self, recorded: Any) -> None:
        with tracer.tags(feature="search"):
            event(semconv.EVENT_KIND_RETRY, "tags-test")
        (attrs,) = recorded.events(semconv.EVENT_KIND_RETRY, "tags-test")
        assert attrs[semconv.TAG_PREFIX + "feature"] == "search"


class TestAsyncio:
    async def test_tasks_created_inside_the_block_carry_its_tags(self) -> None:
        async def read() -> dict[str, str]:
            await asyncio.sleep(0)
            return dict(tracer.current_tags())

        with tracer.tags(feature="search"):
            task = asyncio.create_task(read())
        assert tracer.current_tags() == {}
        assert await task == {"feature": "search"}

    async def test_concurrent_tasks_keep_their_own_tags(self) -> None:
        async def work(customer: str) -> list[str]:
            seen = []
            with tracer.tags(customer=customer):
                for _ in range(5):
                    await asyncio.sleep(0)
                    seen.append(tracer.current_tags()["customer"])
            return seen

        results = await asyncio.gather(*(work(f"c{i}") for i in range(20)))
        assert results == [[f"c{i}"] * 5 for i in range(20)]

    async def test_a_task_changing_tags_does_not_leak_into_its_parent(self) -> None:
        async def child() -> None:
            with tracer.tags(step="child"):
                await asyncio.sleep(0)

        with tracer.tags(feature="search"):
            await asyncio.create_task(child())
            assert tracer.current_tags() == {"feature": "search"}

    async def test_one_tags_instance_shared_by_concurrent_tasks(self) -> None:
        """A module-level `SEARCH = tracer.tags(feature="search")` used by many tasks at once."""
        search = tracer.tags(feature="search")
        order: list[str] = []

        async def first() -> None:
            with search:
                order.append("first in")
                await asyncio.sleep(0)
                order.append("first out")  # leaves before `second`, which entered after it

        async def second() -> None:
            with search:
                order.append("second in")
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                order.append("second out")

        await asyncio.gather(first(), second())
        assert order == ["first in", "second in", "first out", "second out"]
        assert tracer.current_tags() == {}


class TestThreads:
    def test_threads_run_in_a_copied_context_carry_the_tags(self) -> None:
        seen: list[Any] = []
        with tracer.tags(feature="batch"):
            ctx = contextvars.copy_context()
        t = threading.Thread(target=lambda: ctx.run(lambda: seen.append(dict(tracer.current_tags()))))
        t.start()
        t.join()
        assert seen == [{"feature": "batch"}]

    def test_a_plain_thread_starts_without_tags(self) -> None:
        seen: list[Any] = []
        with tracer.tags(feature="batch"):
            t = threading.Thread(target=lambda: seen.append(dict(tracer.current_tags())))
            t.start()
            t.join()
        assert seen == [{}]


class TestDecorator:
    def test_sync_function(self) -> None:
        @tracer.tags(feature="summarise")
        def handler(x: int) -> tuple[int, dict[str, str]]:
            """Handles."""
            return x, dict(tracer.current_tags())

        assert handler(1) == (1, {"feature": "summarise"})
        assert handler.__name__ == "handler" and handler.__doc__ == "Handles."
        assert tracer.current_tags() == {}

    async def test_async_function(self) -> None:
        @tracer.tags(feature="summarise")
        async def handler() -> dict[str, str]:
            await asyncio.sleep(0)
            return dict(tracer.current_tags())

        with tracer.tags(customer="acme"):
            assert await handler() == {"customer": "acme", "feature": "summarise"}
        assert tracer.current_tags() == {}

    def test_generator_function(self) -> None:
        @tracer.tags(feature="stream")
        def chunks() -> Any:
            yield dict(tracer.current_tags())

        assert list(chunks()) == [{"feature": "stream"}]

    def test_recursive_and_reentrant_calls(self) -> None:
        @tracer.tags(depth="n")
        def recurse(n: int) -> int:
            assert tracer.current_tags() == {"depth": "n"}
            return 0 if n == 0 else 1 + recurse(n - 1)

        assert recurse(5) == 5
        assert tracer.current_tags() == {}


class TestGeneratorsKeepTagsOnlyWhileRunning:
    def test_the_consumer_does_not_see_the_generators_tags(self) -> None:
        @tracer.tags(feature="stream")
        def chunks() -> Any:
            for i in range(2):
                yield i, dict(tracer.current_tags())

        seen = []
        for i, inside in chunks():
            seen.append((i, inside, dict(tracer.current_tags())))
        assert seen == [(0, {"feature": "stream"}, {}), (1, {"feature": "stream"}, {})]

    async def test_async_generator_function(self) -> None:
        @tracer.tags(feature="astream")
        async def chunks() -> Any:
            yield dict(tracer.current_tags())
            yield dict(tracer.current_tags())

        got = [(t, dict(tracer.current_tags())) async for t in chunks()]
        assert got == [({"feature": "astream"}, {}), ({"feature": "astream"}, {})]
