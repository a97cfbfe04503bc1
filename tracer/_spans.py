"""Reading and adding span attributes without the OpenTelemetry SDK's per-value overhead, where that is safe.

An SDK span keeps its attributes in a `BoundedAttributes` (a plain dict inside, limits, a lock) behind a
`MappingProxyType`. Every `.get` through the two is a Python-level call, a miss raises and catches a KeyError, and
`set_attributes` validates each value again. claude-tracer reads a call span about twenty times and adds about ten
attributes as it ends, on the application's thread, and an attempt span gets about fifteen from its response
headers: where the SDK's types are the ones known here, the dict inside is read, and written under the span's
lock. Anything else, or a limit that could apply, takes the public API. The store's exporter reads every finished
span's attributes the same way (spans to rows about three times faster than through the proxy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def raw_attributes(span: Any) -> Mapping[str, Any]:
    """The span's attributes, as the plain dict the SDK keeps them in where it can; read only."""
    raw = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(raw) is dict:
        return raw
    return span.attributes or {}


def add_attributes(span: Any, attrs: Mapping[str, Any], extra: dict[str, Any]) -> None:
    """`span.set_attributes(extra)`, where `attrs` is `raw_attributes(span)`. The values must be str, bool, int or
    float (valid attribute values that need no cleaning)."""
    bounded = getattr(span, "_attributes", None)
    lock = getattr(span, "_lock", None)
    # With a value-length limit, or too few free slots for all of them, the SDK's own path applies the limits.
    if (
        type(attrs) is dict
        and getattr(bounded, "_dict", None) is attrs
        and lock is not None
        and getattr(bounded, "max_value_len", 0) is None
        and getattr(bounded, "_immutable", True) is False
        and ((maxlen := getattr(bounded, "maxlen", 0)) is None or len(attrs) + len(extra) <= maxlen)
    ):
        with lock:
            if span._end_time is None:
                attrs.update(extra)
        return
    span.set_attributes(extra)


def attribute_room(span: Any, attrs: Mapping[str, Any], extra: Mapping[str, Any]) -> int | None:
    """How many more attributes `span` (whose attributes are `attrs`) can take after `extra` before its attribute
    limit drops the oldest (the model, the tokens); None when it has no limit, or none that can be read."""
    maxlen = getattr(getattr(span, "_attributes", None), "maxlen", None)
    if type(maxlen) is not int:
        return None
    return maxlen - len(attrs) - sum(1 for key in extra if key not in attrs)
