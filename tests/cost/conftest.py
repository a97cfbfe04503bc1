"""Fixtures for the cost tests that drive instrumented calls: the real SDK over real HTTP to the fake API,
`tracer.instrument()` on, spans in memory, metrics to an in-memory reader, a store under tmp_path (read through
`tests._telemetry`, as the capture tests do)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._telemetry import Telemetry, instrumented


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[Telemetry]:
    with instrumented(tmp_path / "store") as recorded:
        yield recorded
