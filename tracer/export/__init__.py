"""OTLP export of spans and metrics (gRPC or HTTP/protobuf), for Tempo, Prometheus, Grafana or any collector.

>>> from tracer.export import otlp_exporters
>>> spans, metrics = otlp_exporters("http://localhost:4317")               # doctest: +SKIP
>>> spans, metrics = otlp_exporters("http://localhost:4318", "http/protobuf")   # doctest: +SKIP

Both are wrapped so that an unreachable or failing endpoint gives one clear warning and never an exception or a
stall in the application (see `_otlp`).
"""

from __future__ import annotations

from tracer.export._otlp import (
    GuardedMetricExporter,
    GuardedSpanExporter,
    abandon_exports,
    guards_of,
    lost_batches,
    otlp_exporters,
    resolve,
)

__all__ = [
    "GuardedMetricExporter",
    "GuardedSpanExporter",
    "abandon_exports",
    "guards_of",
    "lost_batches",
    "otlp_exporters",
    "resolve",
]
