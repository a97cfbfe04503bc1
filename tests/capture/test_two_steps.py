"""`instrument()` in two steps: a configure step (providers, exporters, store, Prometheus) an application with its own
OpenTelemetry set-up skips, and an instrument step (processors, patches) that honours `suppress_instrumentation`."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

import tracer
from tests._telemetry import EXPORTER, join_provider
from tracer import semconv
from tracer.capture import ClaudeTracerInstrumentor, _instrumentor, _worker

from .conftest import HELLO, MODEL, async_client, sync_client


def _kinds() -> list[str]:
    _worker.drain()
    return sorted(str((s.attributes or {}).get(semconv.SPAN_TYPE)) for s in EXPORTER.get_finished_spans())


class TestConfigureStep:
    def test_an_application_with_its_own_setup_gets_the_patches_and_nothing_else(self, fake_api: Any) -> None:
        """configure=False: calls and attempts go to the application's provider; no store, no OTLP, no server."""
        provider = join_provider()
        EXPORTER.clear()
        tracer.instrument(configure=False)
        try:
            state = _instrumentor._state
            assert state is not None and state.tracer_provider is provider
            assert [type(switch.inner).__name__ for switch in state.processors] == ["CallSpanProcessor"]
            assert state.prometheus_server is None and state.otlp_guards == []
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            assert _kinds() == [semconv.SPAN_TYPE_ATTEMPT, semconv.SPAN_TYPE_CALL]
        finally:
            tracer.uninstrument()
            EXPORTER.clear()

    def test_skipping_it_takes_no_export_settings(self) -> None:
        """An exporter setting with configure=False is a mistake, reported before anything is patched."""
        join_provider()
        with pytest.raises(TypeError, match="otlp_endpoint, store not taken"):
            tracer.instrument(configure=False, store="here", otlp_endpoint="http://localhost:4317")
        assert not ClaudeTracerInstrumentor().is_instrumented_by_opentelemetry
        with pytest.raises(TypeError, match="unexpected keyword arguments: stroe"):
            tracer.instrument(configure=False, stroe="here")


class TestInstrumentStep:
    def test_suppressed_instrumentation_records_no_attempt(self, fake_api: Any, telemetry: Any) -> None:
        """Inside OpenTelemetry's suppress_instrumentation the SDK's send runs untouched: no attempt span of ours."""
        client = sync_client(fake_api)
        with suppress_instrumentation():
            client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert telemetry.attempts() == []
        client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert len(telemetry.attempts()) == 1

    async def test_suppressed_instrumentation_records_no_async_attempt(self, fake_api: Any, telemetry: Any) -> None:
        client = async_client(fake_api)
        with suppress_instrumentation():
            await client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert telemetry.attempts() == []
        await client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert len(telemetry.attempts()) == 1
