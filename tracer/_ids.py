"""Span and trace ids from a random stream of our own, never the application's.

OpenTelemetry's default `RandomIdGenerator` draws from the module-level `random`: every span claude-tracer starts
(an attempt span on our worker thread, any span on the provider we register) would take numbers out of the
application's seeded sequence, at moments it did not choose, and Hypothesis-style tests that watch the global
random state would see a different program. `OwnIdGenerator` draws from a private `random.Random`, seeded from the
OS at import and again in every forked child (as the `random` module does for its own), so ids stay unique across
`fork()`.

>>> ids = OwnIdGenerator()
>>> 0 < ids.generate_span_id() < 2**64 and 0 < ids.generate_trace_id() < 2**128
True
"""

from __future__ import annotations

import os
import random

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import IdGenerator

_rng = random.Random()  # seeded from os.urandom: no draw from the global stream
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)
_bits = _rng.getrandbits  # bound once: a patched `random` in the application changes nothing here


class OwnIdGenerator(IdGenerator):
    """OpenTelemetry's id generator, on claude-tracer's own random stream (see the module docstring)."""

    def generate_span_id(self) -> int:
        span_id = _bits(64)
        while span_id == trace.INVALID_SPAN_ID:
            span_id = _bits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = _bits(128)
        while trace_id == trace.INVALID_TRACE_ID:
            trace_id = _bits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:  # samplers (TraceIdRatioBased) may rely on it: they are uniformly random
        return True
