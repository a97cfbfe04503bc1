"""Small helpers shared by the fake API's tests."""

from __future__ import annotations

from typing import Any

import anthropic

from tracer.fakeapi import FakeAPI

MODEL = "claude-haiku-4-5"
HELLO: list[Any] = [{"role": "user", "content": "Say hello."}]


def ask(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments of a small Messages call."""
    return {"model": MODEL, "max_tokens": 64, "messages": HELLO, **overrides}


def script(text: str) -> dict[str, Any]:
    return {"extra_headers": {"x-fake-script": text}}


def sdk(api: FakeAPI, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=api.base_url, **options)


def async_sdk(api: FakeAPI, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test-key", base_url=api.base_url, **options)


def attempts(api: FakeAPI, path: str = "/v1/messages") -> list[int]:
    """The attempt index (x-stainless-retry-count) of every request to `path`, in arrival order."""
    return [r.attempt for r in list(api.requests) if r.path == path]
