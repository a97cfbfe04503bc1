"""Fixtures for the fault tests: the real SDK over real HTTP to the fake API, `tracer.instrument()` on, finished
spans kept in memory by a processor of the application's own (on the global provider, so it outlives
`uninstrument()`): `tests._telemetry`'s, shared with the other areas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests import _telemetry
from tests._telemetry import fake_api

MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]

Spans = _telemetry.Telemetry  # what the application's own processor saw

__all__ = ["HELLO", "MODEL", "Spans", "fake_api", "instrumented", "spans", "sync_client"]


@pytest.fixture
def spans() -> Iterator[Spans]:
    """The application's spans, cleared before and after; `tracer.instrument()` is up to the test."""
    with _telemetry.recording() as recorded:
        yield recorded


@pytest.fixture
def instrumented(tmp_path: Path) -> Iterator[Spans]:
    """`tracer.instrument()` on for the test (store under tmp_path)."""
    with _telemetry.instrumented(tmp_path / "store", metrics=False) as recorded:
        yield recorded


def sync_client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test-faults", base_url=api.base_url, **options)
