"""The one door to private parts: checked once, a missing part costs only its feature, and says so once."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import pytest
from anthropic._base_client import AsyncAPIClient, SyncAPIClient

import tracer
from tests._telemetry import EXPORTER, join_provider
from tracer import _compat, semconv
from tracer.capture import _worker
from tracer.capture._patch import Patcher

from .conftest import HELLO, MODEL, sync_client


@pytest.fixture
def fresh_parts(monkeypatch: Any) -> Any:
    """`_compat` resolves its parts again for the test (and again after it)."""
    monkeypatch.setattr(_compat, "_parts", None)
    yield
    tracer.uninstrument()
    _compat._parts = None
    _compat.parts()


def _kinds() -> list[str]:
    _worker.drain()
    return sorted(str((s.attributes or {}).get(semconv.SPAN_TYPE)) for s in EXPORTER.get_finished_spans())


class TestCheck:
    def test_this_sdk_has_every_part(self) -> None:
        found = _compat.check()
        assert found.missing == []
        assert found.attempt_owners == (SyncAPIClient, AsyncAPIClient)
        assert found.fast_span_attributes and found.response_body and found.proxy_instruments

    def test_a_missing_attempt_method_is_one_warning_and_call_spans_still_work(
        self, fake_api: Any, fresh_parts: Any, monkeypatch: Any, caplog: Any
    ) -> None:
        async_original = vars(AsyncAPIClient)["_attempt_request"]
        monkeypatch.delattr(SyncAPIClient, "_attempt_request")  # as an SDK that renamed it would
        join_provider()
        EXPORTER.clear()
        with caplog.at_level(logging.WARNING, logger="tracer.capture"):
            tracer.instrument(store=False)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert f"anthropic {anthropic.__version__}" in warnings[0] and "_attempt_request" in warnings[0] and "no attempt spans" in warnings[0]
        assert vars(AsyncAPIClient)["_attempt_request"] is async_original  # neither half of the pair is patched

    def test_without_the_attempt_part_calls_are_traced_and_priced_without_attempts(
        self, fake_api: Any, fresh_parts: Any, monkeypatch: Any
    ) -> None:
        real = _compat._attempts
        monkeypatch.setattr(_compat, "_attempts", lambda found: found.lose("attempt part", "no attempt spans"))
        join_provider()
        EXPORTER.clear()
        tracer.instrument(store=False)
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert _kinds() == ["call"]
        (call,) = EXPORTER.get_finished_spans()
        assert call.attributes[semconv.COST_USD] > 0
        monkeypatch.setattr(_compat, "_attempts", real)

    def test_a_step_that_raises_loses_only_its_parts(self, monkeypatch: Any) -> None:
        def _http(found: Any) -> None:
            raise AttributeError("'module' object has no attribute 'Headers'")

        monkeypatch.setattr(_compat, "_http", _http)
        found = _compat.check()
        assert found.headers_type is None and found.attempt_owners is not None
        assert [part for part, _ in found.missing] == ["http"]


class TestApplyIsAllOrNothing:
    def test_a_patch_that_fails_takes_back_those_already_applied(self, fresh_parts: Any, monkeypatch: Any, caplog: Any) -> None:
        originals = {owner: vars(owner)["_attempt_request"] for owner in (SyncAPIClient, AsyncAPIClient)}

        def failing(self: Any, original: Any) -> Any:
            raise RuntimeError("the SDK changed shape under us")

        monkeypatch.setattr(Patcher, "_sync_batch_results", failing)  # the third row: two are applied by then
        with caplog.at_level(logging.WARNING, logger="tracer.capture"):
            tracer.instrument(store=False)
        assert all(vars(owner)["_attempt_request"] is original for owner, original in originals.items())
        assert any("could not patch" in r.getMessage() for r in caplog.records)
