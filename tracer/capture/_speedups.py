"""Faster equivalents of four helpers of the SDK's own tracing, which builds our call spans (native on or off).

Neither changes what a span records; `tests/capture/test_speedups.py` checks that, attribute for attribute.

- `dig` reads a response field for a span attribute, at every level through `is_mapping`, whose
  `isinstance(obj, typing.Mapping)` goes through `typing`'s Python-level `__instancecheck__`. A Messages response
  has a dozen such paths, read twice for a stream. `fast_dig` asks the same question of `collections.abc.Mapping`
  directly, once per class it meets (a class registered as a Mapping after that is not seen as one).
- `accumulator` makes, for a stream read without a helper, the function that rebuilds its Message from the events
  the span reads (`message_start`, `content_block_start`, `message_delta`). The SDK copies the event's Message
  through `to_dict()` and `construct()` on `message_start`, and each new content block the same way, most of it
  for `message_start` (docs/footprint.md has the figures). `light_accumulator` starts
  from a shallow copy instead, with its own `usage` and `content` (the only parts the later events change), and
  appends a plain content block as it is: the span never reads the content of this Message (output content
  comes from a stream helper's own), and the SDK does nothing else for such a block. Any other block, and every
  `message_delta`, goes to the SDK's function. The application's events are left as they were.
- `record_response` reads each of the response headers a call span records (`RESPONSE_HEADER_ATTRIBUTES`: request,
  organization and workspace id) with `headers.get`, which lower-cases and scans the whole header list each time.
  `light_record_response` reads them in one pass, joined and decoded as `get` does, and otherwise does what the
  SDK's does (the response attributes through the SDK's `set_response_attributes`, one `set_attribute` each, as
  the SDK's own tests observe); should anything in it fail, the SDK's own runs instead.

All are installed by `_patch.Patcher` (its `TABLE`), and only where the SDK still has what they replace.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydantic

from tracer import _compat

_MAPPING, _MODEL, _OTHER = 0, 1, 2
# What `dig` does at a level of each class it has met (a class's answer to the two abstract-base-class checks, asked
# once: both go through `ABCMeta`, and a response has a dozen paths of two or three levels each). Bounded.
_LEVELS: dict[type, int] = {dict: _MAPPING}
_MAX_LEVELS = 1024


def _level(data: object) -> int:
    cls = type(data)
    kind = _MAPPING if issubclass(cls, Mapping) else _MODEL if isinstance(data, pydantic.BaseModel) else _OTHER
    if len(_LEVELS) < _MAX_LEVELS:
        _LEVELS[cls] = kind
    return kind


def fast_dig(data: object, path: Sequence[str]) -> object:
    """`anthropic._tracing.dig`: the value at `path` in `data`, whose levels are mappings or models; else None."""
    levels = _LEVELS
    for name in path:
        kind = levels.get(type(data))
        if kind is None:
            kind = _level(data)
        if kind == _MAPPING:
            data = data.get(name)  # type: ignore[attr-defined]
        elif kind == _MODEL:
            data = getattr(data, name, None)
        else:
            return None
    return data


Accumulate = Callable[[object, Any], Any]

# Blocks whose `content_block_start` only appends them to the Message, in the stable and the beta accumulator
# alike (the beta one also relabels the model at a `fallback` block, which therefore goes to the SDK).
_PLAIN_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})


def light_accumulator(original: Callable[..., Accumulate | None]) -> Callable[..., Accumulate | None]:
    """Wraps the SDK's `accumulator(event, headers)` so that the Message a stream starts from is a cheap copy."""

    def accumulator(*args: Any, **kwargs: Any) -> Accumulate | None:
        accumulate = original(*args, **kwargs)
        if accumulate is None:
            return None
        sdk_accumulate = accumulate  # narrowed to not-None for the closure

        def light(event: object, snapshot: Any) -> Any:
            kind = getattr(event, "type", None)
            if kind == "content_block_start" and snapshot is not None:
                block = getattr(event, "content_block", None)
                if isinstance(block, pydantic.BaseModel) and getattr(block, "type", None) in _PLAIN_BLOCKS:
                    snapshot.content.append(block)
                    return snapshot
            elif kind == "message_start" and snapshot is None:
                message = getattr(event, "message", None)
                if isinstance(message, pydantic.BaseModel) and isinstance(getattr(message, "content", None), list):
                    return own_copy(message)
            return sdk_accumulate(event, snapshot)  # anything unusual: the SDK's own way

        return light

    return accumulator


def own_copy(message: Any) -> Any:
    """A copy of a streamed Message that the later events can change without touching the application's event."""
    snapshot = copy.copy(message)
    usage = message.usage
    if isinstance(usage, pydantic.BaseModel):
        snapshot.usage = copy.copy(usage)
    snapshot.content = list(message.content)
    return snapshot


def light_record_response(original: Callable[[Any, Any], None], tracing: Any) -> Callable[[Any, Any], None]:
    """`anthropic._tracing.record_response(span, result)`, given the SDK's function and its module."""
    wanted = {header.lower().encode("ascii"): attribute for attribute, header in tracing.RESPONSE_HEADER_ATTRIBUTES.items()}
    order = tuple(tracing.RESPONSE_HEADER_ATTRIBUTES)
    table = tracing.SPAN_ATTRIBUTES

    def record_response(span: Any, result: Any) -> None:
        try:
            response = result.final_attempt
            if response is not None:
                headers = response.headers
                items = _compat.header_list(headers)
                if items is None:
                    return original(span, result)
                found: dict[str, list[bytes]] = {}
                for _, name, value in items:
                    attribute = wanted.get(name)
                    if attribute is not None:
                        found.setdefault(attribute, []).append(value)
                if found:
                    encoding = headers.encoding
                    for attribute in order:
                        values = found.get(attribute)
                        if values and (text := ", ".join(v.decode(encoding) for v in values)):
                            span.set_attribute(attribute, text)
            span_name = result.options.span_name
            if result.error is None and table.get(span_name or "", {}).get("response"):
                tracing.set_response_attributes(span, span_name, tracing.response_data(result))
        except Exception:
            original(span, result)  # the SDK's own, which logs what fails

    return record_response
