"""Pure core of the writer: finished spans (or plain data shaped like them) to rows of calls, attempts, events.

No I/O and no OpenTelemetry SDK needed: `row_from_span_data` takes plain values, so the mapping from
semconv attributes to store columns is tested on its own (tests/store/test_rows.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tracer import semconv

_US_PER_DAY = 86_400_000_000
_CENT_SCALE = Decimal("1e-12")  # DECIMAL(38,12): a picodollar
_RL_REQ_REMAINING = semconv.ratelimit_attribute("requests", "remaining")
_RL_TOK_REMAINING = semconv.ratelimit_attribute("tokens", "remaining")
_RL_REQ_LIMIT = semconv.ratelimit_attribute("requests", "limit")
_RL_TOK_LIMIT = semconv.ratelimit_attribute("tokens", "limit")
_RL_IN_REMAINING = semconv.ratelimit_attribute("input_tokens", "remaining")
_RL_OUT_REMAINING = semconv.ratelimit_attribute("output_tokens", "remaining")
_CALL_SPAN_NAMES = frozenset({semconv.SPAN_MESSAGES_CREATE, semconv.SPAN_MESSAGES_COUNT_TOKENS})
_OPERATION_BY_NAME = {semconv.SPAN_MESSAGES_CREATE: "chat", semconv.SPAN_MESSAGES_COUNT_TOKENS: "count_tokens"}


def classify(attrs: Mapping[str, Any], name: str = "", scope: str | None = None) -> str | None:
    """The table a span belongs in (`calls`, `attempts`, `events`), or None for a span the store ignores.

    `tracer.span.type` decides; a span without it is a call only when it is the SDK's own call span (capture
    classifies those on start, this is the fallback for a provider that has the SDK's tracing but not ours).
    """
    kind = attrs.get(semconv.SPAN_TYPE)
    if kind == semconv.SPAN_TYPE_CALL:
        return "calls"
    if kind == semconv.SPAN_TYPE_ATTEMPT:
        return "attempts"
    if kind == semconv.SPAN_TYPE_EVENT:
        return "events"
    if kind is None and (scope == semconv.ANTHROPIC_SCOPE or name in _CALL_SPAN_NAMES):
        return "calls"
    return None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _cost(attrs: Mapping[str, Any]) -> Decimal | None:
    if attrs.get(semconv.COST_UNPRICED):
        return None
    exact = attrs.get(semconv.COST_USD_EXACT)
    if exact is None:
        approx = attrs.get(semconv.COST_USD)
        if approx is None or isinstance(approx, bool):
            return None
        exact = repr(float(approx))
    try:
        value = Decimal(str(exact)).quantize(_CENT_SCALE)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and abs(value) < Decimal("1e26") else None


def _prefixed(attrs: Mapping[str, Any], prefix: str) -> list[tuple[str, str]] | None:
    n = len(prefix)
    pairs = [(key[n:], str(value)) for key, value in attrs.items() if key.startswith(prefix)]
    return pairs or None


def hex_id(value: int | None, width: int) -> str | None:
    """A trace (width 32) or span (width 16) id as lower-case hex, the way OTLP/Tempo print it."""
    return None if not value else format(value, f"0{width}x")


def row_from_span_data(
    attrs: Mapping[str, Any],
    *,
    name: str,
    trace_id: int,
    span_id: int,
    parent_span_id: int | None,
    start_ns: int,
    end_ns: int | None,
    error: bool = False,
    service_name: str | None = None,
    scope: str | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """(table, row) for one finished span, or None when the store does not keep this kind of span.

    `error` is True when the span's status is ERROR. Times are nanoseconds since the epoch (OpenTelemetry's
    unit); `start_time` columns are microseconds since the epoch (Parquet TIMESTAMP(us, UTC)).

    >>> row_from_span_data({"tracer.span.type": "attempt", "http.request.resend_count": 1,
    ...     "http.response.status_code": 529}, name="anthropic.http.attempt", trace_id=1, span_id=2,
    ...     parent_span_id=3, start_ns=1_000_000, end_ns=3_000_000)[1]["attempt"]
    1
    """
    table = classify(attrs, name, scope)
    if table is None:
        return None
    start_us = start_ns // 1000
    duration_ms = None if end_ns is None else (end_ns - start_ns) / 1e6
    get = attrs.get
    if table == "calls":
        cache_read = _int(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
        cache_write = _int(get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS))
        uncached = _int(get(semconv.USAGE_UNCACHED_INPUT_TOKENS))
        if uncached is None:
            total_in = _int(get(semconv.GEN_AI_USAGE_INPUT_TOKENS))
            if total_in is not None:
                uncached = max(total_in - (cache_read or 0) - (cache_write or 0), 0)
        attempts = _int(get(semconv.CALL_ATTEMPTS))
        if attempts is None:
            resend = _int(get(semconv.HTTP_REQUEST_RESEND_COUNT))
            attempts = 1 if resend is None else resend + 1
        ttft = _float(get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        if ttft is None:
            ttft = _float(get(semconv.CALL_TTFT_S))
        streaming = get(semconv.CALL_STREAMING)
        if streaming is None:
            streaming = get(semconv.GEN_AI_REQUEST_STREAM)
        error_type = _str(get(semconv.ERROR_TYPE))
        unpriced = bool(get(semconv.COST_UNPRICED, False))
        return table, {
            "trace_id": hex_id(trace_id, 32),
            "span_id": hex_id(span_id, 16),
            "start_time": start_us,
            "duration_ms": duration_ms,
            "operation": _str(get(semconv.GEN_AI_OPERATION_NAME)) or _OPERATION_BY_NAME.get(name, name),
            "model": _str(get(semconv.GEN_AI_REQUEST_MODEL)),
            "response_model": _str(get(semconv.GEN_AI_RESPONSE_MODEL)),
            "streaming": bool(streaming),
            "status": "error" if (error or error_type is not None) else "ok",
            "error_type": error_type,
            "http_status": _int(get(semconv.HTTP_RESPONSE_STATUS_CODE)),
            "attempts": attempts,
            "input_tokens": uncached,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "cache_write_1h_tokens": _int(get(semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS)),
            "output_tokens": _int(get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
            "thinking_tokens": _int(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
            "ttft_ms": None if ttft is None else ttft * 1000.0,
            "cost_usd": None if unpriced else _cost(attrs),
            "service_name": service_name,
            "tags": _prefixed(attrs, semconv.TAG_PREFIX),
            "parent_span_id": hex_id(parent_span_id, 16),
            "name": name,
            "request_id": _str(get(semconv.ANTHROPIC_REQUEST_ID)),
            "response_id": _str(get(semconv.GEN_AI_RESPONSE_ID)),
            "stop_reason": _str(get(semconv.ANTHROPIC_STOP_REASON)),
            "stream_end": _str(get(semconv.CALL_STREAM_END)),
            "service_tier": _str(get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER)),
            "web_search_requests": _int(get(semconv.USAGE_WEB_SEARCH_REQUESTS)),
            "batch": bool(get(semconv.CALL_BATCH, False)),
            "unpriced": unpriced,
            "cost_source": _str(get(semconv.COST_PRICE_SOURCE)),
            "source": _str(get(semconv.CALL_SPAN_SOURCE)),
        }
    if table == "attempts":
        should_retry = get(semconv.ATTEMPT_SHOULD_RETRY)
        return table, {
            "trace_id": hex_id(trace_id, 32),
            "span_id": hex_id(span_id, 16),
            "call_span_id": hex_id(parent_span_id, 16),
            "start_time": start_us,
            "duration_ms": duration_ms,
            "attempt": _int(get(semconv.HTTP_REQUEST_RESEND_COUNT)) or 0,
            "http_status": _int(get(semconv.HTTP_RESPONSE_STATUS_CODE)),
            "error_type": _str(get(semconv.ERROR_TYPE)),
            "retry_after_s": _float(get(semconv.ATTEMPT_RETRY_AFTER_S)),
            "ratelimit_requests_remaining": _int(get(_RL_REQ_REMAINING)),
            "ratelimit_tokens_remaining": _int(get(_RL_TOK_REMAINING)),
            "request_id": _str(get(semconv.ANTHROPIC_REQUEST_ID)),
            "model": _str(get(semconv.GEN_AI_REQUEST_MODEL)),
            "ratelimit_requests_limit": _int(get(_RL_REQ_LIMIT)),
            "ratelimit_tokens_limit": _int(get(_RL_TOK_LIMIT)),
            "ratelimit_input_tokens_remaining": _int(get(_RL_IN_REMAINING)),
            "ratelimit_output_tokens_remaining": _int(get(_RL_OUT_REMAINING)),
            "should_retry": None if should_retry is None else bool(should_retry in (True, "true", "True", 1)),
            "service_name": service_name,
        }
    return table, {
        "time": start_us,
        "kind": _str(get(semconv.EVENT_KIND)),
        "name": _str(get(semconv.EVENT_NAME)),
        "from_state": _str(get(semconv.EVENT_FROM_STATE)),
        "to_state": _str(get(semconv.EVENT_TO_STATE)),
        "attributes": _prefixed(attrs, semconv.EVENT_ATTRIBUTE_PREFIX),
        "reason": _str(get(semconv.EVENT_REASON)),
        "trace_id": hex_id(trace_id, 32),
        "span_id": hex_id(span_id, 16),
        "parent_span_id": hex_id(parent_span_id, 16),
        "service_name": service_name,
        "tags": _prefixed(attrs, semconv.TAG_PREFIX),
    }


def rows_from_spans(spans: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows per table for OpenTelemetry `ReadableSpan`s (anything with the same attributes). Never raises for
    one odd span: it is skipped."""
    out: dict[str, list[dict[str, Any]]] = {"calls": [], "attempts": [], "events": []}
    resource_cache: dict[int, str | None] = {}
    for span in spans:
        try:
            resource = span.resource
            key = id(resource)
            if key not in resource_cache:
                resource_cache[key] = None if resource is None else _str(resource.attributes.get(semconv.SERVICE_NAME))
            context = span.context
            parent = span.parent
            scope = span.instrumentation_scope
            status = span.status
            result = row_from_span_data(
                _attributes(span),
                name=span.name,
                trace_id=context.trace_id,
                span_id=context.span_id,
                parent_span_id=None if parent is None else parent.span_id,
                start_ns=span.start_time or 0,
                end_ns=span.end_time,
                error=status is not None and status.status_code.name == "ERROR",
                service_name=resource_cache[key],
                scope=None if scope is None else scope.name,
            )
        except Exception:
            continue
        if result is not None:
            out[result[0]].append(result[1])
    return out


def _attributes(span: Any) -> Mapping[str, Any]:
    # The SDK's ReadableSpan hands out its attributes as a read-only proxy over BoundedAttributes, whose every
    # .get() runs three Python-level calls; the plain dict inside is read directly (benchmarks/store.py: spans to
    # rows about three times faster). Anything else is read through its public `attributes`.
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if isinstance(inner, dict):
        return inner
    return span.attributes or {}


def day_of(start_us: int) -> str:
    """The partition (UTC day, `YYYY-MM-DD`) a row with this start time (microseconds) goes in."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(start_us // _US_PER_DAY) * _US_PER_DAY)).strftime("%Y-%m-%d")
