"""The metrics claude-tracer records: GenAI semantic-convention histograms plus our counters and gauges.

Instruments are created once by `configure(meter)` (at `instrument()`); until then, and after `reset()`, every
`record_*` function is a no-op. Each one never raises. Names, units and bucket boundaries come from
`tracer.semconv`, which the Grafana dashboards are checked against.

Recording is off the caller's thread: one call's histograms and counters cost about 25 us in the OpenTelemetry
SDK (attribute sets are hashed and looked up per instrument), and an attempt's counter and rate-limit gauges as
much again. The public `record_*` functions hand the work to `_worker`; the `_record_*` ones do it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from tracer import semconv
from tracer.capture import _worker

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
        self.refusals = make(semconv.METRIC_REFUSALS, "Refusals (own or a declined fallback hop) by category, billed or not")


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
    """Record what is waiting, then turn metrics off."""
    global _instruments
    _worker.drain()
    _instruments = None


def _nowhere(inst: _Instruments) -> bool:
    """Whether recording goes nowhere: the instruments came from the API's proxy meter (no MeterProvider is
    registered) and no real instrument stands behind them yet. Then nothing is computed or queued at all; once the
    application registers a provider, the proxies get real instruments and recording resumes."""
    return getattr(inst.duration, "_real_instrument", inst) is None


def _defer(fn: Callable[..., None], *args: Any) -> None:
    inst = _instruments
    if inst is not None and not _nowhere(inst):
        _worker.defer(fn, *args)


def record_retry(model: str | None, cause: str | None) -> None:
    """Queue one retry (see `_record_retry`)."""
    _defer(_record_retry, model, cause)


def record_call(
    attrs: Mapping[str, Any], extra: Mapping[str, Any], duration_s: float | None, span_context: Any = None
) -> None:
    """Queue one finished call's metrics (see `_record_call`). `attrs` is the span's own mapping, read later on
    the recording thread: called as the span ends, nothing changes it any more. `span_context` (the call span's)
    lets the histograms keep exemplars that link a latency point to its trace."""
    _defer(_record_call, attrs, extra, duration_s, span_context)


# Counts and last values gathered over one drain of the worker and recorded once at its end (`_flush_batch`): the
# SDK's cost is per recording, so a hundred attempts with the same labels cost one `add`, and a gauge only needs
# the newest value.
_counts: dict[tuple[str, tuple[tuple[str, Any], ...]], int] = {}
_gauges: dict[tuple[str, str], Any] = {}


def _count(instrument: str, labels: tuple[tuple[str, Any], ...]) -> None:
    key = (instrument, labels)
    _counts[key] = _counts.get(key, 0) + 1


def _flush_batch() -> None:
    inst = _instruments
    counts, gauges = dict(_counts), dict(_gauges)
    _counts.clear()
    _gauges.clear()
    if inst is None:
        return
    for (name, labels), n in counts.items():
        getattr(inst, name).add(n, dict(labels))
    for (model, kind), value in gauges.items():
        inst.ratelimit.set(value, {semconv.GEN_AI_REQUEST_MODEL: model, semconv.METRIC_ATTR_RATELIMIT_KIND: kind})


_worker.after_drain(_flush_batch)


def record_attempt(model: str | None, status: int | None, error_type: str | None, attrs: Mapping[str, Any] | None) -> None:
    """One HTTP attempt: the attempts counter, and the rate-limit gauges from its response headers. Called on the
    worker thread, where attempt spans are made; gathered and recorded at the end of the drain."""
    inst = _instruments
    if inst is None or _nowhere(inst):
        return
    model = model or "unknown"
    labels: tuple[tuple[str, Any], ...] = ((semconv.GEN_AI_REQUEST_MODEL, model),)
    if status is not None:
        labels += ((semconv.HTTP_RESPONSE_STATUS_CODE, status),)
    if error_type is not None:
        labels += ((semconv.ERROR_TYPE, error_type),)
    _count("attempts", labels)
    if attrs:
        for kind, key in _RATELIMIT_REMAINING:
            value = attrs.get(key)
            if value is not None:
                _gauges[(model, kind)] = value


def _record_retry(model: str | None, cause: str | None) -> None:
    """One retry, labelled with the outcome of the attempt it repeats (`429`, `529`, `timeout`, ...)."""
    if _instruments is not None:
        _count("retries", ((semconv.GEN_AI_REQUEST_MODEL, model or "unknown"), (semconv.ERROR_TYPE, cause or "unknown")))


def _record_call(
    attrs: Mapping[str, Any], extra: Mapping[str, Any], duration_s: float | None, span_context: Any = None
) -> None:
    """One finished API call: duration, token usage, time to first chunk, cost or unpriced."""
    inst = _instruments
    if inst is None:
        return
    try:
        # Recorded off the call's thread: the exemplar filter finds the call span through an explicit context.
        ctx = None if span_context is None else set_span_in_context(NonRecordingSpan(span_context))
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
        if duration_s is not None:  # None: a batch result, which has no latency of its own
            inst.duration.record(duration_s, labels, context=ctx)
        token_labels = {k: v for k, v in labels.items() if k != semconv.ERROR_TYPE}
        input_tokens = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        if isinstance(input_tokens, int):
            inst.tokens.record(input_tokens, {**token_labels, semconv.GEN_AI_TOKEN_TYPE: "input"}, context=ctx)
        output_tokens = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if isinstance(output_tokens, int):
            inst.tokens.record(output_tokens, {**token_labels, semconv.GEN_AI_TOKEN_TYPE: "output"}, context=ctx)
        ttft = get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if ttft is not None:
            inst.ttft.record(ttft, token_labels, context=ctx)
        cost = extra.get(semconv.COST_USD)
        if cost is not None:
            cost_labels = {semconv.GEN_AI_REQUEST_MODEL: model}
            for key, value in attrs.items():
                if key.startswith(semconv.TAG_PREFIX):
                    cost_labels[key] = value
            inst.cost.add(cost, cost_labels, context=ctx)
        elif extra.get(semconv.COST_UNPRICED):
            _count("unpriced", ((semconv.GEN_AI_REQUEST_MODEL, model),))
        breakdown = extra.get(semconv.COST_ITERATIONS)  # issue 18: every refused iteration, by category (cost owner)
        if breakdown is not None and '"refusal"' in breakdown:
            for row in json.loads(breakdown):
                if "refusal" in row:
                    _count("refusals", ((semconv.GEN_AI_REQUEST_MODEL, row.get("model") or model),
                                        (semconv.REFUSAL_CATEGORY, row["refusal"]), (semconv.REFUSAL_BILLED, row["billed"])))  # fmt: skip
    except Exception:
        log.debug("could not record call metrics", exc_info=True)
