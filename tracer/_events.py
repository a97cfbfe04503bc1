"""Resilience events as telemetry: one zero-length span of type `event` and one counter increment each.

Events are spans (not span events) so that a breaker transition with no API call around it still reaches the
store's `events` view and Tempo; when a call span is current the event span is its child, so a call's waterfall
shows the retries and trips that happened inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace

from tracer import semconv
from tracer._tags import tag_attributes

log = logging.getLogger(__name__)

_tracer = trace.get_tracer(semconv.SCOPE)
_counter: Any = None


def record_event(
    kind: str,
    name: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Record one resilience event. Never raises.

    >>> record_event(semconv.EVENT_KIND_BREAKER_TRANSITION, "claude-opus-4-5",
    ...              from_state="closed", to_state="open", reason="5 consecutive failures")
    """
    global _counter
    try:
        attrs: dict[str, Any] = {
            semconv.SPAN_TYPE: semconv.SPAN_TYPE_EVENT,
            semconv.EVENT_KIND: kind,
            semconv.EVENT_NAME: name,
        }
        if from_state is not None:
            attrs[semconv.EVENT_FROM_STATE] = from_state
        if to_state is not None:
            attrs[semconv.EVENT_TO_STATE] = to_state
        if reason is not None:
            attrs[semconv.EVENT_REASON] = reason
        for key, value in (attributes or {}).items():
            if value is not None:
                attrs[semconv.EVENT_ATTRIBUTE_PREFIX + key] = value if isinstance(value, (str, bool, int, float)) else str(value)
        attrs.update(tag_attributes())
        span = _tracer.start_span(semconv.SPAN_EVENT_PREFIX + kind, attributes=attrs)
        span.end()
        if _counter is None:
            _counter = metrics.get_meter(semconv.SCOPE).create_counter(
                semconv.METRIC_RESILIENCE_EVENTS, unit="{event}", description="Resilience events by kind"
            )
        _counter.add(1, {semconv.EVENT_KIND: kind, semconv.EVENT_NAME: name})
    except Exception:
        log.debug("could not record the %s event for %s", kind, name, exc_info=True)
