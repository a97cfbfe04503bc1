"""Fixtures for the capture tests: the real SDK over real HTTP to the fake API, with `tracer.instrument()` on; what
the calls recorded is read through `tests._telemetry` (one span exporter for the whole session).
"""

from __future__ import annotations

from typing import Any

import anthropic

from tests._telemetry import fake_api, telemetry

API_KEY = "sk-ant-api03-claude-tracer-test-secret"
MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello."}]

__all__ = ["API_KEY", "HELLO", "MODEL", "async_client", "fake_api", "script", "sync_client", "telemetry"]


def sync_client(api: Any, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url, **options)


def async_client(api: Any, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.base_url, **options)


def script(outcomes: str) -> dict[str, Any]:
    return {"extra_headers": {"x-fake-script": outcomes}}
