"""Reading and adding span attributes without the OpenTelemetry SDK's per-value overhead, where that is safe.

The functions live in `tracer._compat`, the one module that reaches into the OpenTelemetry SDK's private
parts (and checks them once); capture and the store's exporter import them from here.
"""

from __future__ import annotations

from typing import Any

from tracer import semconv
from tracer._compat import add_attributes, attribute_room, before_end, raw_attributes

__all__ = ["add_attributes", "attribute_room", "before_end", "raw_attributes"]


def ours_or_sdks(span: Any) -> bool:
    """Whether a span was started by claude-tracer or by the SDK (its scope, and the Bedrock and Vertex clients'
    `com.anthropic.sdk.python.bedrock` / `.vertex`)."""
    scope = span.instrumentation_scope
    return scope is not None and (scope.name == semconv.SCOPE or scope.name.startswith(semconv.ANTHROPIC_SCOPE))
