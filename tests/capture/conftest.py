"""Fixtures for the capture tests: the real SDK over real HTTP to the fake API, with `tracer.instrument()` on; what
the calls recorded is read through `tests._telemetry` (one span exporter for the whole session).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests._telemetry import Telemetry, instrumented

API_KEY = "sk-ant-api03-claude-tracer-test-secret"
MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def fake_api() -> Iterator[Any]:
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


@pytest.fixture
def telemetry(tmp_path: Path) -> Iterator[Telemetry]:
    """`tracer.instrument()` on for the test (store under tmp_path, metrics to an in-memory reader)."""
    with instrumented(tmp_path / "store") as recorded:
        yield recorded


def sync_client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, **options)


def async_client(api: Any, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.base_url, **options)


def script(outcomes: str) -> dict[str, Any]:
    return {"extra_headers": {"x-fake-script": outcomes}}
