"""Capture: `instrument()` patches the anthropic SDK to emit a span per API call and per HTTP attempt, plus metrics.

>>> from tracer.capture import ClaudeTracerInstrumentor
>>> ClaudeTracerInstrumentor().instrument()      # what `opentelemetry-instrument` does   # doctest: +SKIP

Most applications call `tracer.instrument()` instead (the store on by default). See `_patch` for how the SDK is
reached, `_attempts` for attempt spans, `_calls` for call spans and cost, `_metrics` for the metrics.
"""

from __future__ import annotations

from tracer.capture._attempts import AttemptRecorder, body_usage_attributes, header_attributes
from tracer.capture._calls import CallSpanProcessor, call_attributes
from tracer.capture._instrumentor import ClaudeTracerInstrumentor, flush, instrument, uninstrument

__all__ = [
    "AttemptRecorder",
    "CallSpanProcessor",
    "ClaudeTracerInstrumentor",
    "body_usage_attributes",
    "call_attributes",
    "flush",
    "header_attributes",
    "instrument",
    "uninstrument",
]
