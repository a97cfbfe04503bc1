"""The demo's defaults, in a module light enough for `tracer --help` to import."""

from __future__ import annotations

SERVICE_NAME = "claude-tracer-demo"
DEFAULT_CALLS = 200  # about 30 s at latency scale 1 with DEFAULT_CONCURRENCY calls in flight
DEFAULT_CONCURRENCY = 10
# Server-wide faults on top of the scripted incidents: mostly absorbed by the SDK's retries, as in production.
DEFAULT_FAULTS = "429=0.03,529=0.015,500=0.005,slow:1500=0.01"
# Per-minute limits low enough that the headroom panel shows the demo using them (never exhausted by it).
RATE_LIMITS = {"requests": 2_000, "tokens": 4_000_000, "input_tokens": 2_000_000, "output_tokens": 400_000}
