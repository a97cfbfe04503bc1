"""The metrics claude-tracer records: GenAI semantic-convention histograms plus our counters and gauges.

Instruments are created once by `configure(meter)` (at `instrument()`); until then, and after `reset()`, every
`record_*` function is a no-op. Each one never raises. Names, units and bucket boundaries come from
`tracer.semconv`, which the Grafana dashboards are checked against.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tracer import semconv

log = logging.getLogger("tracer.capture")


class _Instruments:
    def __init__(self, meter: Any) -> None:
        def make(name: str, description: str, buckets: tuple[float, ...] | None = None) -> Any:
            kind, unit = semconv.METRIC_INSTRUMENTS[name]
            if kind == "counter":
                return meter.create_counter(name, unit=unit, description=description)
            if kind == "gauge":
                return meter.create_gauge(name, unit=unit, description=description)
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets or ())
            )

        self.duration = make(semconv.METRIC_OPERATION_DURATION, "GenAI operation duration", semconv.DURATION_BUCKETS)
        self.tokens = make(semconv.METRIC_TOKEN_USAGE, "Number of input and output tokens used", semconv.TOKEN_BUCKETS)
        self.ttft = make(semconv.METRIC_TIME_TO_FIRST_CHUNK, "Time to the first chunk of a streamed response", semconv.DURATION_BUCKETS)
        self.attempts = make(semconv.METRIC_ATTEMPTS, "HTTP attempts by model, status and error type")
        self.retries = make(semconv.METRIC_RETRIES, "Retries by model and the outcome that caused them")
        self.cost = make(semconv.METRIC_COST, "Cost of API calls in USD")
        self.unpriced = make(semconv.METRIC_UNPRICED_CALLS, "Calls whose model has no price (cost unknown, not zero)")
        self.ratelimit = make(semconv.METRIC_RATELIMIT_REMAINING, "Rate-limit headroom left, from the last response")


_instruments: _Instruments | None = None
_RATELIMIT_REMAINING = tuple(
    (kind, semconv.ratelimit_attribute(kind, "remaining")) for kind in semconv.RATELIMIT_KINDS
)


def configure(meter: Any) -> None:
    """Create the instruments on `meter`. Never raises (metrics are then off, and that is logged)."""
    global _instruments
    try:
        _instruments = _Instruments(meter)
    except Exception:
        log.warning("tracer: could not create metric instruments; metrics are off", exc_info=True)
        _instruments = None


def reset() -> None:
    global _instruments
    _instruments = None


def record_attempt(model: str | None, status: int | None, error_type: str | None, attrs: Mapping[str, Any] | None) -> None:
    """One HTTP attempt: the attempts counter, and the rate-limit gauges from its response headers."""
    inst = _instruments
    if inst is None:
        return
    try:
        labels: dict[str, Any] = {semconv.GEN_AI_REQUEST_MODEL: model or "unknown"}
        if status is not None:
            labels[semconv.HTTP_RESPONSE_STATUS_CODE] = status
        if error_type is not None:
            labels[semconv.ERROR_TYPE] = error_type
        inst.attempts.add(1, labels)
        if attrs:
            for kind, key in _RATELIMIT_REMAINING:
                value = attrs.get(key)
                if value is not None:
                    inst.ratelimit.set(value, {semconv.GEN_AI_REQUEST_MODEL: model or "unknown", semconv.METRIC_ATTR_RATELIMIT_KIND: kind})
    except Exception:
        log.debug("could not record attempt metrics", exc_info=True)


def record_retry(model: str | None, cause: str | None) -> None:
    """One retry, labelled with the outcome of the attempt it repeats (`429`, `529`, `timeout`, ...)."""
    inst = _instruments
    if inst is None:
        return
    try:
        inst.retries.add(1, {semconv.GEN_AI_REQUEST_MODEL: model or "unknown", semconv.ERROR_TYPE: cause or "unknown"})
    except Exception:
        log.debug("could not record a retry", exc_info=True)


def record_call(attrs: Mapping[str, Any], extra: Mapping[str, Any], duration_s: float) -> None:
    """One finished API call: duration, token usage, time to first chunk, cost or unpriced."""
    inst = _instruments
    if inst is None:
        return
    try:
        get = attrs.get
        model = get(semconv.GEN_AI_REQUEST_MODEL) or get(semconv.GEN_AI_RESPONSE_MODEL) or "unknown"
        labels: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: get(semconv.GEN_AI_OPERATION_NAME) or "unknown",
            semconv.GEN_AI_PROVIDER_NAME: "anthropic",
            semconv.GEN_AI_REQUEST_MODEL: model,
        }
        error_type = get(semconv.ERROR_TYPE)
        if error_type is not None:
            labels[semconv.ERROR_TYPE] = error_type
        inst.duration.record(duration_s, labels)
        token_labels = {k: v for k, v in labels.items() if k != semconv.ERROR_TYPE}
        input_tokens = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        if isinstance(input_tokens, int):
            inst.tokens.record(input_tokens, {**token_labels, semconv.GEN_AI_TOKEN_TYPE: "input"})
        output_tokens = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if isinstance(output_tokens, int):
            inst.tokens.record(output_tokens, {**token_labels, semconv.GEN_AI_TOKEN_TYPE: "output"})
        ttft = extra.get(semconv.CALL_TTFT_S)
        if ttft is not None:
            inst.ttft.record(ttft, token_labels)
        cost = extra.get(semconv.COST_USD)
        if cost is not None:
            cost_labels = {semconv.GEN_AI_REQUEST_MODEL: model}
            for key, value in attrs.items():
                if key.startswith(semconv.TAG_PREFIX):
                    cost_labels[key] = value
            inst.cost.add(cost, cost_labels)
        elif extra.get(semconv.COST_UNPRICED):
            inst.unpriced.add(1, {semconv.GEN_AI_REQUEST_MODEL: model})
    except Exception:
        log.debug("could not record call metrics", exc_info=True)
