"""Small helpers shared by the fake API's tests."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from tracer.fakeapi import FakeAPI, roles

MODEL = roles().cheap

# How a streamed body that stalls past the read timeout, or breaks off, reaches the application. Before 2.15.0
# the SDK let httpx2's own error through; from 2.15.0 on it wraps it, httpx2's error as the cause
# (docs/compatibility.md). Neither is retried: the headers had arrived.
SDK_WRAPS_STREAM_ERRORS = tuple(int(p) for p in anthropic.__version__.split(".")[:2]) >= (2, 15)
STREAM_STALLED: type[Exception] = anthropic.APITimeoutError if SDK_WRAPS_STREAM_ERRORS else httpx2.ReadTimeout
STREAM_BROKEN: type[Exception] = anthropic.APIConnectionError if SDK_WRAPS_STREAM_ERRORS else httpx2.RemoteProtocolError
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
