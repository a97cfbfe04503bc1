"""Fixtures for the cost tests that drive instrumented calls: the real SDK over real HTTP to the fake API,
`tracer.instrument()` on, spans in memory, metrics to an in-memory reader, a store under tmp_path (the fixtures of
`tests._telemetry`, as the capture tests use)."""

from tests._telemetry import fake_api, telemetry

__all__ = ["fake_api", "telemetry"]
