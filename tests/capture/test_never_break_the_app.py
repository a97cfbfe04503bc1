"""Zone 2 fails on purpose (extraction, cost, metrics, export): the user's call returns the same or raises the same."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import tracer
from tracer.capture import _attempts, _calls, _metrics, _speedups

from .conftest import HELLO, MODEL, async_client, script, sync_client

ASK = {"model": MODEL, "max_tokens": 32, "messages": HELLO}  # the fake API answers the same request the same way


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("telemetry bug (on purpose)")


FIRED: list[str] = []


class Exploding:
    """A meter whose every instrument raises (and notes that it did, so a test knows the sabotage ran)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: Exploding()

    def add(self, *a: Any, **k: Any) -> None:
        FIRED.append("metric")
        boom()

    record = set = add


SABOTAGE = {
    "header extraction": (_attempts, "header_attributes"),
    "body extraction": (_attempts, "body_usage_attributes"),
    "call attributes and cost": (_calls, "call_attributes"),
    "span classification": (_calls, "is_call_span"),
    "tags": (_calls, "tag_attributes"),
    "streamed usage": (_calls, "streamed_usage_attributes"),
    "stream accumulator": (_speedups, "own_copy"),
}


@pytest.fixture(params=sorted(SABOTAGE))
def broken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    module, name = SABOTAGE[request.param]
    monkeypatch.setattr(module, name, boom)
    return str(request.param)


def _bare(api: Any, fn: Any) -> Any:
    return fn(sync_client(api))


class TestZoneTwoFailing:
    def test_sync_call_returns_the_same_message(self, fake_api: Any, telemetry: Any, broken: str) -> None:
        tracer.uninstrument()
        expected = sync_client(fake_api).messages.create(**ASK)
        tracer.instrument(store=False)
        got = sync_client(fake_api).messages.create(**ASK)
        assert type(got) is type(expected)
        assert got.model_dump(exclude={"id"}) == expected.model_dump(exclude={"id"})

    async def test_async_call_returns_the_same_message(self, fake_api: Any, telemetry: Any, broken: str) -> None:
        got = await async_client(fake_api).messages.create(**ASK)
        assert isinstance(got, anthropic.types.Message) and got.content

    def test_errors_are_the_sdks_own(self, fake_api: Any, telemetry: Any, broken: str) -> None:
        with pytest.raises(anthropic.RateLimitError) as caught:
            sync_client(fake_api, max_retries=1).messages.create(**{**ASK, **script("429:1")})
        assert caught.value.status_code == 429

    def test_streams_still_stream(self, fake_api: Any, telemetry: Any, broken: str) -> None:
        with sync_client(fake_api).messages.stream(**ASK) as s:
            assert s.get_final_text()

    def test_raw_streams_still_stream(self, fake_api: Any, telemetry: Any, broken: str) -> None:
        events = list(sync_client(fake_api).messages.create(**ASK, stream=True))  # no helper: the accumulator runs
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
        # The call span still ends (unmarked as a call when the sabotage hit its classification or completion).
        assert [s for s in telemetry.spans() if s.name == "anthropic.messages.create"]

    def test_metrics_raising(self, fake_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        FIRED.clear()
        tracer.instrument(store=False)
        try:
            _metrics.configure(Exploding())
            client = sync_client(fake_api, max_retries=2)
            assert client.messages.create(**{**ASK, **script("429:1,ok")}).content
            assert tracer.flush(5)  # the deferred metrics run, and raise, on the worker's side of the queue
            assert FIRED
            assert client.messages.create(**ASK).content  # and the next call is unaffected
        finally:
            tracer.uninstrument()

    def test_exporter_raising(self, fake_api: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from tracer.store import StoreExporter

        monkeypatch.setattr(StoreExporter, "export", boom)
        tracer.instrument(store=tmp_path / "store", meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
        try:
            assert sync_client(fake_api).messages.create(**ASK).content
            tracer.flush(5)  # never raises, whatever the exporter does
            assert not [p for p in (tmp_path / "store").rglob("*") if p.suffix in (".jsonl", ".parquet")]  # the sabotage did stop every write
            assert sync_client(fake_api).messages.create(**ASK).content
        finally:
            tracer.uninstrument()


class TestUserErrorsUnchanged:
    def test_a_400_raises_the_same_exception(self, fake_api: Any, telemetry: Any) -> None:
        with pytest.raises(anthropic.BadRequestError) as caught:
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=[])
        assert caught.value.status_code == 400

    def test_an_unknown_model_raises_not_found(self, fake_api: Any, telemetry: Any) -> None:
        with pytest.raises(anthropic.NotFoundError):
            sync_client(fake_api).messages.create(model="claude-nope-9", max_tokens=32, messages=HELLO)

    def test_user_middleware_still_runs_once_per_attempt(self, fake_api: Any, telemetry: Any) -> None:
        seen: list[int] = []

        def mine(request: Any, call_next: Any) -> Any:
            seen.append(request.retries_taken)
            return call_next(request)

        client = sync_client(fake_api, middleware=[mine])
        client.messages.create(**{**ASK, **script("429:1,ok")})
        assert seen == [0, 1]
        assert client.middleware[0] is mine
