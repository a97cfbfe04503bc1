"""The metrics claude-tracer records: GenAI semantic-convention histograms plus our counters and gauges.

Instruments are created once by `configure(meter)` (at `instrument()`); until then, and after `reset()`, every
`record_*` function is a no-op. Each one never raises. Names, units and bucket boundaries come from
`tracer.semconv`, which the Grafana dashboards are checked against.

Recording is off the caller's thread: the OpenTelemetry SDK hashes and looks up an attribute set per instrument,
several times our whole per-call work for one call's histograms and counters (docs/footprint.md). The public
`record_*` functions hand the work to `_worker`; the `_record_*` ones do it.

Which GenAI metric names: the last released conventions by default, the newest with `OTEL_SEMCONV_STABILITY_OPT_IN`
(see `tracer.semconv` and `conventions`). Which `tracer.tags` keys become labels of the cost counter: none unless
chosen (`instrument(metric_tags=[...])` or `TRACER_METRIC_TAGS`), each capped at `TAG_VALUES_MAX` distinct values
(`TRACER_METRIC_TAG_VALUES_MAX`), later ones counted under `_other`. A tag per customer or user would otherwise
make one Prometheus series per id; spans and the store keep every tag whatever is chosen here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import Observation
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from tracer import _compat, _drops, semconv
from tracer._derived import uncached_input
from tracer.capture import _worker

log = logging.getLogger("tracer.capture")
# Counters are recorded in an empty context, so that the SDK samples no exemplar for them: its reservoir for sums
# picks which measurement to keep with the module-level `random`, which would draw from the application's seeded
# stream on our thread. Histograms keep their exemplars (one per bucket, no random draw): latency links to traces.
_NO_EXEMPLAR = Context()


ENV_METRIC_TAGS = "TRACER_METRIC_TAGS"
ENV_METRIC_TAG_VALUES_MAX = "TRACER_METRIC_TAG_VALUES_MAX"
TAG_VALUES_MAX = 20


def conventions(opt_in: str | None) -> tuple[bool, bool]:
    """(released, latest): which GenAI metric names to emit for a value of `OTEL_SEMCONV_STABILITY_OPT_IN`.

    >>> conventions(None), conventions("http,gen_ai_latest_experimental"), conventions("gen_ai_latest_experimental/dup")
    ((True, False), (False, True), (True, True))
    """
    tokens = {t.strip() for t in (opt_in or "").split(",")}
    if semconv.SEMCONV_GEN_AI_LATEST_DUP in tokens:
        return True, True
    if semconv.SEMCONV_GEN_AI_LATEST in tokens:
        return False, True
    return True, False


class _TagLabels:
    """Which tag keys label the cost counter, and the values seen per key so far (on the worker thread only)."""

    def __init__(self, keys: Iterable[str], max_values: int) -> None:
        self.attributes = tuple(semconv.TAG_PREFIX + key for key in keys)
        self.max_values = max_values
        self.seen: dict[str, set[Any]] = {}

    def labels(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attribute in self.attributes:
            value = attrs.get(attribute)
            if value is None:
                continue
            seen = self.seen.setdefault(attribute, set())
            if value not in seen:
                if len(seen) >= self.max_values:
                    value = semconv.TAG_LABEL_OVERFLOW
                else:
                    seen.add(value)
            out[attribute] = value
        return out


def _tag_keys(chosen: str | Iterable[str] | None) -> tuple[str, ...]:
    if chosen is None:
        chosen = os.environ.get(ENV_METRIC_TAGS, "")
    if isinstance(chosen, str):
        chosen = chosen.split(",")
    return tuple(dict.fromkeys(k.strip() for k in chosen if k and k.strip()))


def _tag_values_max(chosen: int | None) -> int:
    if chosen is not None:
        return max(int(chosen), 1)
    try:
        return max(int(os.environ.get(ENV_METRIC_TAG_VALUES_MAX, TAG_VALUES_MAX)), 1)
    except ValueError:
        log.warning("tracer: %s is not a number; using %d", ENV_METRIC_TAG_VALUES_MAX, TAG_VALUES_MAX)
        return TAG_VALUES_MAX


class _Instruments:
    def __init__(self, meter: Any, released: bool, latest: bool) -> None:
        def make(name: str, description: str, buckets: tuple[float, ...] | None = None) -> Any:
            kind, unit = semconv.METRIC_INSTRUMENTS[name]
            if kind == "counter":
                return meter.create_counter(name, unit=unit, description=description)
            if kind == "gauge":
                return meter.create_gauge(name, unit=unit, description=description)
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets or ())
            )

        def make_if(wanted: bool, name: str, description: str, buckets: tuple[float, ...] | None = None) -> Any:
            return make(name, description, buckets) if wanted else None

        # Released names: every operation's latency on gen_ai.client.operation.duration. Newest (#521): inference
        # on gen_ai.client.inference.duration, the other operations (count_tokens) still on the operation one.
        ttft, seconds = "Time to the first chunk of a streamed response", semconv.DURATION_BUCKETS
        self.released = released
        self.duration = make(semconv.METRIC_OPERATION_DURATION, "GenAI operation duration", seconds)
        self.inference_duration = make_if(latest, semconv.METRIC_INFERENCE_DURATION, "GenAI inference duration", seconds)
        self.ttft = make_if(released, semconv.METRIC_TIME_TO_FIRST_CHUNK, ttft, seconds)
        self.inference_ttft = make_if(latest, semconv.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, ttft, seconds)
        self.tokens = make_if(released, semconv.METRIC_TOKEN_USAGE, "Number of input and output tokens used", semconv.TOKEN_BUCKETS)
        # The newest conventions: a counter per token kind, and per-operation histograms of input and output.
        self.latest: tuple[Any, ...] | None = None
        if latest:
            self.latest = (
                make(semconv.METRIC_INFERENCE_INPUT_TOKENS, "Input tokens used, including cached tokens"),
                make(semconv.METRIC_INFERENCE_OUTPUT_TOKENS, "Output tokens used, including reasoning tokens"),
                make(semconv.METRIC_INFERENCE_CACHE_READ_TOKENS, "Input tokens served from the provider's cache"),
                make(semconv.METRIC_INFERENCE_CACHE_WRITE_TOKENS, "Input tokens written to the provider's cache"),
                make(semconv.METRIC_INFERENCE_REASONING_TOKENS, "Output tokens used for reasoning"),
                make(semconv.METRIC_INFERENCE_OPERATION_INPUT_TOKENS, "Input tokens per inference operation", semconv.TOKEN_BUCKETS),
                make(semconv.METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS, "Output tokens per inference operation", semconv.TOKEN_BUCKETS),
            )
        self.billed = make(semconv.METRIC_TOKENS, "Billed tokens by what they are billed as")
        self.attempts = make(semconv.METRIC_ATTEMPTS, "HTTP attempts by model, status, error type and outcome")
        self.retries = make(semconv.METRIC_RETRIES, "Retries by model and the outcome that caused them")
        self.cost = make(semconv.METRIC_COST, "Cost of API calls in USD")
        self.unpriced = make(semconv.METRIC_UNPRICED_CALLS, "Calls whose model has no price (cost unknown, not zero)")
        self.ratelimit = make(semconv.METRIC_RATELIMIT_REMAINING, "Rate-limit headroom left, from the last response")
        self.ratelimit_limit = make(semconv.METRIC_RATELIMIT_LIMIT, "Rate limit in force, from the last response")
        self.refusals = make(semconv.METRIC_REFUSALS, "Refusals (own or a declined fallback hop) by category, billed or not")
        # Observed, not added: a drop is counted where it happens (often the application's thread) by an integer
        # increment alone, and the cumulative counts are read when metrics are collected.
        meter.create_observable_counter(
            semconv.METRIC_DROPPED,
            callbacks=[observe_drops],
            unit=semconv.METRIC_INSTRUMENTS[semconv.METRIC_DROPPED][1],
            description="Spans and deferred telemetry dropped before an exporter had them, by stage",
        )


def observe_drops(_options: Any = None) -> list[Observation]:
    """The `tracer.dropped` counter's observations: every (stage, exporter) with its cumulative count, in an empty
    context (no exemplar: see `_NO_EXEMPLAR`). Never raises."""
    out = []
    try:
        for (stage, feeds), n in _drops.snapshot().items():
            labels = {semconv.DROP_STAGE: stage, semconv.DROP_EXPORTER: feeds} if feeds else {semconv.DROP_STAGE: stage}
            out.append(Observation(n, labels, context=_NO_EXEMPLAR))
    except Exception:
        log.debug("could not observe the drop counts", exc_info=True)
    return out


_instruments: _Instruments | None = None
_RATELIMIT_GAUGES = tuple(
    (field, kind, semconv.ratelimit_attribute(kind, field)) for field in ("remaining", "limit") for kind in semconv.RATELIMIT_KINDS
)


_tag_labels = _TagLabels((), TAG_VALUES_MAX)


def configure(meter: Any, *, tags: str | Iterable[str] | None = None, tag_values_max: int | None = None) -> None:
    """Create the instruments on `meter`. `tags`: the tag keys that label the cost counter (None: the environment's
    `TRACER_METRIC_TAGS`, else none). Never raises (metrics are then off, and that is logged)."""
    global _instruments, _tag_labels
    try:
        released, latest = conventions(os.environ.get(semconv.SEMCONV_OPT_IN_ENV))
        _tag_labels = _TagLabels(_tag_keys(tags), _tag_values_max(tag_values_max))
        _instruments = _Instruments(meter, released, latest)
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
    return _compat.proxy_has_no_instrument(inst.duration)


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
_gauges: dict[tuple[str, str | None, str], Any] = {}


def _count(instrument: str, labels: tuple[tuple[str, Any], ...], n: int = 1) -> None:
    key = (instrument, labels)
    _counts[key] = _counts.get(key, 0) + n


def _flush_batch() -> None:
    inst = _instruments
    counts, gauges = dict(_counts), dict(_gauges)
    _counts.clear()
    _gauges.clear()
    if inst is None:
        return
    for (name, labels), n in counts.items():
        getattr(inst, name).add(n, dict(labels), context=_NO_EXEMPLAR)
    for (field, model, kind), value in gauges.items():
        labels = {semconv.METRIC_ATTR_RATELIMIT_KIND: kind}
        if model is not None:
            labels[semconv.GEN_AI_REQUEST_MODEL] = model
        (inst.ratelimit if field == "remaining" else inst.ratelimit_limit).set(value, labels)


_worker.after_drain(_flush_batch)


def record_attempt(
    model: str | None, status: int | None, error_type: str | None, outcome: str, attrs: Mapping[str, Any] | None
) -> None:
    """One HTTP attempt: the attempts counter, and the rate-limit gauges from its response headers. Called on the
    worker thread, where attempt spans are made; gathered and recorded at the end of the drain.

    Labelled by model, HTTP status, error type and the attempt's `outcome` (`tracer._derived.attempt_outcome`, the
    span's and the store's, seven values): every panel and alert rule counts by the outcome. The status and error
    type stay as they were before the outcome existed, for queries written against them; the outcome is decided by
    them, except for a stream that failed after its 200 (a 200 there, its failure's outcome here), so it adds a
    series only for such streams."""
    inst = _instruments
    if inst is None or _nowhere(inst):
        return
    # An unknown model is left out, never labelled "unknown" (the conventions: "conditionally required if available").
    labels: tuple[tuple[str, Any], ...] = ((semconv.GEN_AI_REQUEST_MODEL, model),) if model else ()
    if status is not None:
        labels += ((semconv.HTTP_RESPONSE_STATUS_CODE, status),)
    if error_type is not None:
        labels += ((semconv.ERROR_TYPE, error_type),)
    labels += ((semconv.ATTEMPT_OUTCOME, outcome),)
    _count("attempts", labels)
    if attrs:
        for field, kind, key in _RATELIMIT_GAUGES:
            value = attrs.get(key)
            if value is not None:
                _gauges[(field, model or None, kind)] = value


def _record_retry(model: str | None, cause: str | None) -> None:
    """One retry, labelled with the outcome of the attempt it repeats (`429`, `529`, `timeout`, ...)."""
    if _instruments is not None:
        labels: tuple[tuple[str, Any], ...] = ((semconv.GEN_AI_REQUEST_MODEL, model),) if model else ()
        _count("retries", (*labels, (semconv.ERROR_TYPE, cause or "unknown")))


def call_labels(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The GenAI metric attributes of a finished call span: operation, the client's provider, the requested and
    answering models and the server, each only when the span has it. Pure.

    >>> call_labels({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "aws.bedrock", "server.port": 443})
    {'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'aws.bedrock', 'server.port': 443}
    """
    get = attrs.get
    labels: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: get(semconv.GEN_AI_OPERATION_NAME) or "unknown",
        semconv.GEN_AI_PROVIDER_NAME: get(semconv.GEN_AI_PROVIDER_NAME) or semconv.PROVIDER_ANTHROPIC,
    }
    for key in _CALL_LABELS:
        value = get(key)
        if value is not None:
            labels[key] = value
    return labels


_CALL_LABELS = (semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL, semconv.SERVER_ADDRESS, semconv.SERVER_PORT)


def _positive_or_zero(value: Any) -> int:
    """A token count to add to a counter: the int when above 0, else 0 (a counter only goes up)."""
    return value if type(value) is int and value > 0 else 0


def billed_tokens(attrs: Mapping[str, Any]) -> dict[str, int]:
    """A call's tokens by what they are billed as (`tracer.semconv.TOKEN_KINDS`), kinds with none left out. Pure.

    The span's `gen_ai.usage.input_tokens` includes cache reads and writes, and its output tokens include
    thinking; here each token counts once, so the kinds add up to everything the call billed.

    >>> billed_tokens({"gen_ai.usage.input_tokens": 1100, "gen_ai.usage.cache_read.input_tokens": 1000,
    ...                "gen_ai.usage.output_tokens": 50, "gen_ai.usage.reasoning.output_tokens": 20})
    {'input': 100, 'cache_read': 1000, 'output': 30, 'thinking': 20}
    """
    get = attrs.get
    total_in, output = _positive_or_zero(get(semconv.GEN_AI_USAGE_INPUT_TOKENS)), _positive_or_zero(get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS))
    read, write = _positive_or_zero(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)), _positive_or_zero(get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS))
    write_1h = min(_positive_or_zero(get(semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS)), write)
    thinking = min(_positive_or_zero(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)), output)
    counts = {
        "input": uncached if type(uncached := get(semconv.USAGE_UNCACHED_INPUT_TOKENS)) is int and uncached >= 0
        else uncached_input(total_in, read, write),
        "cache_read": read,
        "cache_write_5m": write - write_1h,
        "cache_write_1h": write_1h,
        "output": output - thinking,
        "thinking": thinking,
    }
    return {kind: n for kind, n in counts.items() if n}


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
        labels = call_labels(attrs)
        model = labels.get(semconv.GEN_AI_REQUEST_MODEL)
        error_type = get(semconv.ERROR_TYPE)
        inference = labels[semconv.GEN_AI_OPERATION_NAME] in semconv.INFERENCE_OPERATIONS
        if duration_s is not None:  # None: a batch result, which has no latency of its own
            timed = labels if error_type is None else {**labels, semconv.ERROR_TYPE: error_type}
            if inst.inference_duration is not None and inference:
                inst.inference_duration.record(duration_s, timed, context=ctx)
            if inst.released or not inference:
                inst.duration.record(duration_s, timed, context=ctx)
        input_tokens = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        output_tokens = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if inst.tokens is not None:
            if isinstance(input_tokens, int):
                inst.tokens.record(input_tokens, {**labels, semconv.GEN_AI_TOKEN_TYPE: "input"}, context=ctx)
            if isinstance(output_tokens, int):
                inst.tokens.record(output_tokens, {**labels, semconv.GEN_AI_TOKEN_TYPE: "output"}, context=ctx)
        if inst.latest is not None:
            _record_latest(inst.latest, attrs, labels, ctx)
        ttft = get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if ttft is not None:
            if inst.ttft is not None:
                inst.ttft.record(ttft, labels, context=ctx)
            if inst.inference_ttft is not None:
                inst.inference_ttft.record(ttft, labels, context=ctx)
        provider = labels[semconv.GEN_AI_PROVIDER_NAME]
        base = ((semconv.GEN_AI_REQUEST_MODEL, model),) if model else ()
        for kind, n in billed_tokens(attrs).items():
            _count("billed", (*base, (semconv.GEN_AI_PROVIDER_NAME, provider), (semconv.TOKEN_KIND, kind)), n)
        cost = extra.get(semconv.COST_USD)
        if cost is not None:
            cost_labels = dict(base)
            cost_labels.update(_tag_labels.labels(attrs))
            inst.cost.add(cost, cost_labels, context=_NO_EXEMPLAR)
        elif extra.get(semconv.COST_UNPRICED):
            _count("unpriced", base)
        breakdown = extra.get(semconv.COST_ITERATIONS)  # every refused iteration, by category (cost owner)
        if breakdown is not None and '"refusal"' in breakdown:
            for row in json.loads(breakdown):
                if "refusal" in row:
                    refused_model = row.get("model") or model
                    by_model = ((semconv.GEN_AI_REQUEST_MODEL, refused_model),) if refused_model else ()
                    _count("refusals", (*by_model, (semconv.REFUSAL_CATEGORY, row["refusal"]),
                                        (semconv.REFUSAL_BILLED, row["billed"])))  # fmt: skip
    except Exception:
        log.debug("could not record call metrics", exc_info=True)


def _record_latest(instruments: tuple[Any, ...], attrs: Mapping[str, Any], labels: dict[str, Any], ctx: Any) -> None:
    """The newest conventions' token instruments: one counter per kind (by modality, which the Messages API does not
    report: `unknown`), and per-operation histograms of input and output (no modality, so percentiles add up)."""
    in_total, out_total, cache_read, cache_write, reasoning, op_in, op_out = instruments
    get = attrs.get
    counted = {**labels, semconv.GEN_AI_TOKEN_MODALITY: semconv.TOKEN_MODALITY_UNKNOWN}
    for instrument, key in (
        (in_total, semconv.GEN_AI_USAGE_INPUT_TOKENS),
        (out_total, semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
        (cache_read, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        (cache_write, semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        (reasoning, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    ):
        value = get(key)
        if type(value) is int and value >= 0:
            instrument.add(value, counted, context=_NO_EXEMPLAR)
    for instrument, key in ((op_in, semconv.GEN_AI_USAGE_INPUT_TOKENS), (op_out, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)):
        value = get(key)
        if type(value) is int:
            instrument.record(value, labels, context=ctx)
