"""Zone 2 of the resilience toolkit: events, gauges and histograms. Every function here never raises.

Gauges are observable instruments read at collection time from the live objects (a breaker's state, a queue's
depth), so a state that has not changed for an hour is still exported every interval. The instruments are created
on first use from the global meter provider (a proxy until `tracer.instrument()` or the application installs one).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from tracer import semconv
from tracer._events import record_event

log = logging.getLogger("tracer.resilience")

__all__ = ["event", "observe_depth", "observe_state", "record_wait"]

_lock = threading.Lock()
_breakers: weakref.WeakSet[Any] = weakref.WeakSet()  # objects with .name and ._gauge_value()
_queues: weakref.WeakSet[Any] = weakref.WeakSet()  # objects with .name and .depth
_instruments: dict[str, Any] = {}


def event(
    kind: str,
    name: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Record a resilience event (a span of type `event`) and log it at debug level. Never raises."""
    with contextlib.suppress(Exception):
        log.debug("%s %s %s->%s %s %s", kind, name, from_state, to_state, reason, dict(attributes or {}))
    record_event(kind, name, from_state=from_state, to_state=to_state, reason=reason, attributes=attributes)


def _observe(objects: Iterable[Any], value: Callable[[Any], float]) -> list[Observation]:
    out = []
    for obj in list(objects):
        try:
            out.append(Observation(value(obj), {semconv.EVENT_NAME: obj.name}))
        except Exception:
            log.debug("could not observe %r", obj, exc_info=True)
    return out


def _breaker_callback(_options: CallbackOptions) -> list[Observation]:
    return _observe(_breakers, lambda b: b._gauge_value())


def _depth_callback(_options: CallbackOptions) -> list[Observation]:
    return _observe(_queues, lambda q: q.depth)


def _instrument(name: str, factory: Callable[[Any], Any]) -> Any:
    inst = _instruments.get(name)
    if inst is None:
        with _lock:
            inst = _instruments.get(name)
            if inst is None:
                inst = factory(metrics.get_meter(semconv.SCOPE))
                _instruments[name] = inst
    return inst


def observe_state(breaker: Any) -> None:
    """Report `breaker`'s state on the `tracer.breaker.state` gauge (0 closed, 1 half-open, 2 open) while it lives."""
    try:
        _breakers.add(breaker)
        _instrument(
            semconv.METRIC_BREAKER_STATE,
            lambda meter: meter.create_observable_gauge(
                semconv.METRIC_BREAKER_STATE,
                callbacks=[_breaker_callback],
                unit=semconv.METRIC_INSTRUMENTS[semconv.METRIC_BREAKER_STATE][1],
                description="Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ),
        )
    except Exception:
        log.debug("could not register the breaker gauge", exc_info=True)


def observe_depth(queue: Any) -> None:
    """Report `queue.depth` (callers waiting) on the `tracer.queue.depth` gauge while it lives."""
    try:
        _queues.add(queue)
        _instrument(
            semconv.METRIC_QUEUE_DEPTH,
            lambda meter: meter.create_observable_gauge(
                semconv.METRIC_QUEUE_DEPTH,
                callbacks=[_depth_callback],
                unit=semconv.METRIC_INSTRUMENTS[semconv.METRIC_QUEUE_DEPTH][1],
                description="Callers or items waiting in a concurrency limiter or batch queue",
            ),
        )
    except Exception:
        log.debug("could not register the queue depth gauge", exc_info=True)


def record_wait(name: str, seconds: float) -> None:
    """Add one wait to the `tracer.queue.wait` histogram. Never raises."""
    try:
        hist = _instrument(
            semconv.METRIC_QUEUE_WAIT,
            lambda meter: meter.create_histogram(
                semconv.METRIC_QUEUE_WAIT,
                unit=semconv.METRIC_INSTRUMENTS[semconv.METRIC_QUEUE_WAIT][1],
                description="Time spent waiting in a concurrency limiter or batch queue",
                explicit_bucket_boundaries_advisory=[0.0, *semconv.DURATION_BUCKETS],
            ),
        )
        hist.record(max(0.0, seconds), {semconv.EVENT_NAME: name})
    except Exception:
        log.debug("could not record a queue wait for %s", name, exc_info=True)
