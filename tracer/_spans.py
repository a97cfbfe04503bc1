"""Reading and adding span attributes without the OpenTelemetry SDK's per-value overhead, where that is safe.

The functions live in `tracer._compat`, the one module that reaches into the OpenTelemetry SDK's private
parts (and checks them once); capture and the store's exporter import them from here.
"""

from __future__ import annotations

from tracer._compat import add_attributes, raw_attributes

__all__ = ["add_attributes", "raw_attributes"]
