"""Fixtures for the fake API's tests: a server per test, and the SDK's retry delays recorded instead of slept.

Every test drives the real anthropic SDK over real HTTP (loopback) against a real FakeAPI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tracer.fakeapi import FakeAPI


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(seed=0, latency_scale=0.0) as server:
        yield server


@pytest.fixture
def sdk_delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the SDK chooses between attempts, recorded; each is then slept at 1% of its length.

    The choice itself (retry-after-ms honoured, else exponential backoff) stays the SDK's own; only the sleeping is
    shortened, so that a test of three attempts does not spend seconds waiting.
    """
    delays: list[float] = []
    original = anthropic._base_client.BaseClient._calculate_retry_timeout

    def recorded(self: Any, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
        delay = original(self, remaining_retries, options, response_headers)
        delays.append(delay)
        return delay / 100

    monkeypatch.setattr(anthropic._base_client.BaseClient, "_calculate_retry_timeout", recorded)
    return delays
