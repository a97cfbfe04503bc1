"""The speed-ups of `tracer.capture._speedups` record exactly what the SDK's own helpers record.

Each case makes the same call twice, each time against a fresh fake API (the same prompt gets the same answer):
once with the speed-ups `instrument()` installs, once with the SDK's own helpers put back. The call spans must
have the same attributes, and the application's events must not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anthropic
import anthropic._tracing as sdk_tracing
import anthropic.lib._tracing._streaming as sdk_streaming
import pydantic
import pytest

from tracer import semconv
from tracer.capture import _instrumentor, _speedups
from tracer.fakeapi import FakeAPI

from .conftest import HELLO, MODEL, script, sync_client

# Timing and the fake API's port: they differ between any two calls.
_VARY = {semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, semconv.CALL_OUTPUT_TOKENS_PER_S, "server.port", "url.full"}
# `dig` is there only from anthropic 2.6.0 on (see docs/compatibility.md); before, only `accumulator` is replaced.
HAS_DIG = callable(getattr(sdk_tracing, "dig", None))
_SPEEDUPS = tuple(
    (owner, name)
    for owner, name in (
        (sdk_tracing, "dig"), (sdk_streaming, "accumulator"),
        (sdk_tracing, "record_response"),
    )
    if hasattr(owner, name)
)  # fmt: skip

ASK: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": HELLO}
LONG_CACHED_SYSTEM = [{"type": "text", "text": "You are terse. " * 1400, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
WEATHER_TOOL = {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _read(stream: Any) -> list[Any]:
    return list(stream)


def _break_after(n: int) -> Callable[[Any], list[Any]]:
    def read(stream: Any) -> list[Any]:
        events = []
        for event in stream:
            events.append(event)
            if len(events) == n:
                break
        stream.close()
        return events

    return read


def _create(**extra: Any) -> Callable[[anthropic.Anthropic], Any]:
    return lambda client: client.messages.create(**{**ASK, **extra}, stream=True)


CASES: dict[str, tuple[Callable[[anthropic.Anthropic], Any], Callable[[Any], list[Any]]]] = {
    "text": (_create(), _read),
    "thinking": (_create(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048}), _read),
    "tool use": (_create(tools=[WEATHER_TOOL], tool_choice={"type": "any"}), _read),
    "web search": (_create(tools=[{"type": "web_search_20250305", "name": "web_search"}]), _read),
    "cache write 1h": (_create(system=LONG_CACHED_SYSTEM), _read),
    "cut before message_delta": (_create(**script("cut:5")), _read),
    "early break": (_create(), _break_after(4)),
    "beta": (lambda client: client.beta.messages.create(**ASK, stream=True), _read),
    "stream helper": (lambda client: client.messages.stream(**ASK), lambda s: [s.__enter__().get_final_message(), s.__exit__(None, None, None)]),
    "not streamed": (lambda client: client.messages.create(**ASK), lambda message: [message]),  # dig only
}  # fmt: skip


def _record(case: str, telemetry: Any) -> tuple[dict[str, Any], list[str]]:
    make, read = CASES[case]
    telemetry.clear()
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        client = sync_client(api, max_retries=0)
        events = read(make(client))
    attrs = {k: v for k, v in telemetry.call().attributes.items() if k not in _VARY}
    dumped = [e.model_dump_json() for e in events if isinstance(e, pydantic.BaseModel)]
    return attrs, dumped


def _sdk_helpers() -> dict[tuple[Any, str], Any]:
    state = _instrumentor._state
    assert state is not None and state.patcher is not None
    return {key: state.patcher._originals[key] for key in _SPEEDUPS}


@pytest.mark.parametrize("case", list(CASES))
def test_a_call_records_the_same_with_and_without_the_speedups(case: str, telemetry: Any) -> None:
    assert not HAS_DIG or sdk_tracing.dig is _speedups.fast_dig
    fast, fast_events = _record(case, telemetry)
    installed = {(owner, name): getattr(owner, name) for owner, name in _SPEEDUPS}
    for (owner, name), original in _sdk_helpers().items():
        setattr(owner, name, original)
    try:
        sdk, sdk_events = _record(case, telemetry)
    finally:
        for (owner, name), ours in installed.items():
            setattr(owner, name, ours)
    assert fast == sdk
    assert fast_events == sdk_events
    assert fast[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0


def test_the_applications_message_start_is_left_as_it_arrived(telemetry: Any) -> None:
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        events = list(sync_client(api).messages.create(**ASK, stream=True))
    start = events[0].message
    assert events[0].type == "message_start"
    assert start.stop_reason is None and start.content == [] and start.usage.output_tokens == 1  # the placeholders
    assert telemetry.call().attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 1


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    a: Any = None


class _Mapping(Mapping[str, Any]):
    def __init__(self, **items: Any) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


DATA: list[object] = [
    None, 1, "text", [1, 2], {"a": 1}, {"a": {"b": 2}}, {"a": None}, {"b": 1}, {"a": [{"b": 1}]},
    _Model(a=1), _Model(a={"b": 3}), _Model(a=_Model(a=4)), _Model(b=5), _Mapping(a=_Mapping(b=6)), {"a": _Model(a=7)},
]  # fmt: skip
PATHS: list[tuple[str, ...]] = [(), ("a",), ("b",), ("a", "b"), ("a", "a"), ("a", "b", "c")]


@pytest.mark.skipif(not HAS_DIG, reason="anthropic before 2.6.0 has no dig")
def test_fast_dig_answers_as_the_sdks_dig() -> None:
    import tracer

    tracer.uninstrument()
    dig = sdk_tracing.dig
    assert dig is not _speedups.fast_dig
    for data in DATA:
        for path in PATHS:
            assert _speedups.fast_dig(data, path) == dig(data, path), (data, path)
