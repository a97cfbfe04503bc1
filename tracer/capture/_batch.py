"""The batch span processor in front of our exporters: OpenTelemetry's, with its queue's drops counted.

OpenTelemetry's `BatchSpanProcessor` keeps ended spans in a bounded deque until its thread hands them to the
exporter; when the deque is full, appending pushes the oldest span out, and all anyone learns is a "Queue full,
dropping Span" log line, written on the application's thread. This one checks the queue before handing a span on:
at `span_queue_size` spans waiting, the new span is dropped and counted (`tracer._drops`, stage `processor_queue`),
with no log line on the caller's thread. OpenTelemetry's own deque is made `_SLACK` longer than that, so that
threads racing past the check (a check and an append are two steps) still find room: no span leaves it uncounted.

Its queue is longer than OpenTelemetry's default (`DEFAULT_SPAN_QUEUE_SIZE`): a burst of 50 threads sharing one
client on a 2-core machine overflows 2,048 (docs/production.md gives the measurements and the memory it costs).
`instrument(span_queue_size=N)`, else `OTEL_BSP_MAX_QUEUE_SIZE`, sets it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from tracer import _compat, _drops

log = logging.getLogger("tracer.capture")

ENV_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE"  # the standard variable, read by OpenTelemetry's own processors too
DEFAULT_SPAN_QUEUE_SIZE = 16_384
_OTEL_BATCH_SIZE = 512  # OpenTelemetry's default export batch (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
_SLACK = 1_024


def span_queue_size(chosen: int | None) -> int:
    """The queue length: `chosen`, else `OTEL_BSP_MAX_QUEUE_SIZE`, else `DEFAULT_SPAN_QUEUE_SIZE`. Raises ValueError
    naming the setting when it is not a positive whole number.

    >>> span_queue_size(100), span_queue_size(None) >= 2048
    (100, True)
    """
    if chosen is None:
        value = os.environ.get(ENV_QUEUE_SIZE, "").strip()
        if not value:
            return DEFAULT_SPAN_QUEUE_SIZE
        try:
            chosen = int(value)
        except ValueError:
            raise ValueError(f"{ENV_QUEUE_SIZE}={value!r} is not a number of spans") from None
        source = ENV_QUEUE_SIZE
    else:
        source = "span_queue_size"
    if type(chosen) is not int or chosen < 1:
        raise ValueError(f"{source}={chosen!r} must be a positive number of spans")
    return chosen


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A `BatchSpanProcessor` that drops and counts a span when `limit` spans already wait, instead of letting its
    deque push the oldest out unseen. `feeds` names what the exporter feeds in the count (`_drops.STORE`, `OTLP`).

    >>> CountingBatchSpanProcessor(StoreExporter(".tracer"), feeds=_drops.STORE, limit=16_384)  # doctest: +SKIP
    """

    def __init__(self, exporter: SpanExporter, *, feeds: str, limit: int) -> None:
        batch = None if limit >= _OTEL_BATCH_SIZE else limit  # OpenTelemetry wants the batch no longer than the queue
        super().__init__(exporter, max_queue_size=limit + _SLACK, max_export_batch_size=batch)
        self.limit = limit
        self.feeds = feeds
        self._waiting = _compat.span_queue_length(self)
        if self._waiting is None:
            log.warning(
                "tracer: this OpenTelemetry SDK keeps its batch processor's queue where claude-tracer cannot read it; "
                "spans a full queue drops are not counted (OpenTelemetry still logs them)"
            )

    def on_end(self, span: ReadableSpan) -> None:
        """On the thread that ends the span (often the application's): no I/O, no log line. Never raises."""
        try:
            waiting = self._waiting
            if waiting is not None and waiting() >= self.limit:
                context = span.context
                if context is not None and context.trace_flags.sampled:  # unsampled spans are let go anyway
                    _drops.count(_drops.PROCESSOR_QUEUE, self.feeds)
                return
        except Exception:  # the SDK's processor list passes an exception on to the application's call
            log.debug("tracer: could not check a span processor's queue", exc_info=True)
        super().on_end(span)

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export what waits, then flush the exporter (OpenTelemetry's processor stops at the first). Never raises."""
        try:
            ok = super().force_flush(timeout_millis)
            flush: Any = getattr(self.span_exporter, "force_flush", None)
            if callable(flush):
                ok = flush(30_000 if timeout_millis is None else timeout_millis) is not False and ok
            return ok
        except Exception:
            log.debug("tracer: could not flush a span processor", exc_info=True)
            return False
