"""Pure core of the writer: finished spans (or plain data shaped like them) to rows of calls, attempts, events.

No I/O and no OpenTelemetry SDK needed: `row_from_span_data` takes plain values, so the mapping from
semconv attributes to store columns is tested on its own (tests/store/test_rows.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from opentelemetry.trace import StatusCode

from tracer import semconv
from tracer._spans import raw_attributes
from tracer.store._schema import COLUMN_TYPES

_ERROR = StatusCode.ERROR

# Each table's column names in schema order: the order of the values in a row tuple (`row_tuples_from_spans`).
COLUMNS: dict[str, tuple[str, ...]] = {table: tuple(c for c, _ in columns) for table, columns in COLUMN_TYPES.items()}

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
    if type(value) is int:  # the usual case, first: OpenTelemetry attributes arrive typed
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if type(value) is float:
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return value if type(value) is str else (None if value is None else str(value))


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


_prefixed_keys: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


def _prefixed(attrs: Mapping[str, Any], prefix: str) -> tuple[tuple[str, str], ...] | None:
    # Spans of one kind carry the same attribute names over and over: which of them start with the prefix is
    # looked up by the names (a tuple hashes from its strings' cached hashes) rather than tested name by name.
    names = tuple(attrs)
    key = (prefix, names)
    matching = _prefixed_keys.get(key)
    if matching is None:
        matching = tuple(name for name in names if name.startswith(prefix))
        if len(_prefixed_keys) > 4096:  # bounded: names that never repeat must not grow it forever
            _prefixed_keys.clear()
        _prefixed_keys[key] = matching
    if not matching:
        return None
    n = len(prefix)
    # A tuple of tuples of strings, not a list: the garbage collector stops tracking such a row once it has seen
    # it, so thousands of buffered rows cost its full passes nothing (export + flush about 10% faster).
    return tuple([(name[n:], value if type(value := attrs[name]) is str else str(value)) for name in matching])


def hex_id(value: int | None, width: int) -> str | None:
    """A trace (width 32) or span (width 16) id as lower-case hex, the way OTLP/Tempo print it."""
    return None if not value else format(value, f"0{width}x")


def row_from_span_data(attrs: Mapping[str, Any], **span: Any) -> tuple[str, dict[str, Any]] | None:
    """(table, row) for one finished span, or None when the store does not keep this kind of span. The span's
    fields as keywords, as `row_tuple_from_span_data` takes them.

    >>> row_from_span_data({"tracer.span.type": "attempt", "http.request.resend_count": 1,
    ...     "http.response.status_code": 529}, name="anthropic.http.attempt", trace_id=1, span_id=2,
    ...     parent_span_id=3, start_ns=1_000_000, end_ns=3_000_000)[1]["attempt"]
    1
    """
    found = row_tuple_from_span_data(attrs, **span)
    return None if found is None else (found[0], dict(zip(COLUMNS[found[0]], found[1], strict=True)))


def row_tuple_from_span_data(
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
) -> tuple[str, tuple[Any, ...]] | None:
    """(table, row) for one finished span, the row a tuple in the order of its table's columns (`COLUMNS`), or
    None when the store does not keep this kind of span.

    `error` is True when the span's status is ERROR. Times are nanoseconds since the epoch (OpenTelemetry's
    unit); `start_time` columns are microseconds since the epoch (Parquet TIMESTAMP(us, UTC)).
    """
    table = classify(attrs, name, scope)
    if table is None:
        return None
    start_us = start_ns // 1000
    duration_ms = None if end_ns is None else (end_ns - start_ns) / 1e6
    get = attrs.get
    if table == "calls":
        cache_read = (v if type(v := get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)) is int else _int(v))
        cache_write = (v if type(v := get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)) is int else _int(v))
        uncached = (v if type(v := get(semconv.USAGE_UNCACHED_INPUT_TOKENS)) is int else _int(v))
        if uncached is None:
            total_in = (v if type(v := get(semconv.GEN_AI_USAGE_INPUT_TOKENS)) is int else _int(v))
            if total_in is not None:
                uncached = max(total_in - (cache_read or 0) - (cache_write or 0), 0)
        attempts = (v if type(v := get(semconv.CALL_ATTEMPTS)) is int else _int(v))
        if attempts is None:
            resend = (v if type(v := get(semconv.HTTP_REQUEST_RESEND_COUNT)) is int else _int(v))
            attempts = 1 if resend is None else resend + 1
        ttft = (v if type(v := get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)) is float else _float(v))
        if ttft is None:
            ttft = (v if type(v := get(semconv.CALL_TTFT_S)) is float else _float(v))
        streaming = get(semconv.CALL_STREAMING)
        if streaming is None:
            streaming = get(semconv.GEN_AI_REQUEST_STREAM)
        error_type = (v if type(v := get(semconv.ERROR_TYPE)) is str else _str(v))
        unpriced = bool(get(semconv.COST_UNPRICED, False))
        return table, (
            format(trace_id, "032x") if trace_id else None,  # trace_id
            format(span_id, "016x") if span_id else None,  # span_id
            start_us,  # start_time
            duration_ms,  # duration_ms
            (v if type(v := get(semconv.GEN_AI_OPERATION_NAME)) is str else _str(v)) or _OPERATION_BY_NAME.get(name, name),  # operation
            (v if type(v := get(semconv.GEN_AI_REQUEST_MODEL)) is str else _str(v)),  # model
            (v if type(v := get(semconv.GEN_AI_RESPONSE_MODEL)) is str else _str(v)),  # response_model
            bool(streaming),  # streaming
            "error" if (error or error_type is not None) else "ok",  # status
            error_type,  # error_type
            (v if type(v := get(semconv.HTTP_RESPONSE_STATUS_CODE)) is int else _int(v)),  # http_status
            attempts,  # attempts
            uncached,  # input_tokens
            cache_read,  # cache_read_tokens
            cache_write,  # cache_write_tokens
            _int(get(semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS)),  # cache_write_1h_tokens
            (v if type(v := get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)) is int else _int(v)),  # output_tokens
            (v if type(v := get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)) is int else _int(v)),  # thinking_tokens
            None if ttft is None else ttft * 1000.0,  # ttft_ms
            None if unpriced else _cost(attrs),  # cost_usd
            service_name,  # service_name
            _prefixed(attrs, semconv.TAG_PREFIX),  # tags
            format(parent_span_id, "016x") if parent_span_id else None,  # parent_span_id
            name,  # name
            (v if type(v := get(semconv.ANTHROPIC_REQUEST_ID)) is str else _str(v)),  # request_id
            (v if type(v := get(semconv.GEN_AI_RESPONSE_ID)) is str else _str(v)),  # response_id
            (v if type(v := get(semconv.ANTHROPIC_STOP_REASON)) is str else _str(v)),  # stop_reason
            (v if type(v := get(semconv.CALL_STREAM_END)) is str else _str(v)),  # stream_end
            (v if type(v := get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER)) is str else _str(v)),  # service_tier
            (v if type(v := get(semconv.USAGE_WEB_SEARCH_REQUESTS)) is int else _int(v)),  # web_search_requests
            bool(get(semconv.CALL_BATCH, False)),  # batch
            unpriced,  # unpriced
            (v if type(v := get(semconv.COST_PRICE_SOURCE)) is str else _str(v)),  # cost_source
            (v if type(v := get(semconv.CALL_SPAN_SOURCE)) is str else _str(v)),  # source
            (v if type(v := get(semconv.REFUSAL_CATEGORY)) is str else _str(v)),  # refusal_category
            None if (v := get(semconv.REFUSAL_BILLED)) is None else bool(v),  # refusal_billed
            (v if type(v := get(semconv.COST_ITERATIONS)) is str else _str(v)),  # cost_iterations
        )
    if table == "attempts":
        should_retry = get(semconv.ATTEMPT_SHOULD_RETRY)
        return table, (
            format(trace_id, "032x") if trace_id else None,  # trace_id
            format(span_id, "016x") if span_id else None,  # span_id
            format(parent_span_id, "016x") if parent_span_id else None,  # call_span_id
            start_us,  # start_time
            duration_ms,  # duration_ms
            (v if type(v := get(semconv.HTTP_REQUEST_RESEND_COUNT)) is int else _int(v)) or 0,  # attempt
            (v if type(v := get(semconv.HTTP_RESPONSE_STATUS_CODE)) is int else _int(v)),  # http_status
            (v if type(v := get(semconv.ERROR_TYPE)) is str else _str(v)),  # error_type
            (v if type(v := get(semconv.ATTEMPT_RETRY_AFTER_S)) is float else _float(v)),  # retry_after_s
            (v if type(v := get(_RL_REQ_REMAINING)) is int else _int(v)),  # ratelimit_requests_remaining
            (v if type(v := get(_RL_TOK_REMAINING)) is int else _int(v)),  # ratelimit_tokens_remaining
            (v if type(v := get(semconv.ANTHROPIC_REQUEST_ID)) is str else _str(v)),  # request_id
            (v if type(v := get(semconv.GEN_AI_REQUEST_MODEL)) is str else _str(v)),  # model
            (v if type(v := get(_RL_REQ_LIMIT)) is int else _int(v)),  # ratelimit_requests_limit
            (v if type(v := get(_RL_TOK_LIMIT)) is int else _int(v)),  # ratelimit_tokens_limit
            (v if type(v := get(_RL_IN_REMAINING)) is int else _int(v)),  # ratelimit_input_tokens_remaining
            (v if type(v := get(_RL_OUT_REMAINING)) is int else _int(v)),  # ratelimit_output_tokens_remaining
            None if should_retry is None else bool(should_retry in (True, "true", "True", 1)),  # should_retry
            service_name,  # service_name
        )
    return table, (
        start_us,  # time
        (v if type(v := get(semconv.EVENT_KIND)) is str else _str(v)),  # kind
        (v if type(v := get(semconv.EVENT_NAME)) is str else _str(v)),  # name
        (v if type(v := get(semconv.EVENT_FROM_STATE)) is str else _str(v)),  # from_state
        (v if type(v := get(semconv.EVENT_TO_STATE)) is str else _str(v)),  # to_state
        _prefixed(attrs, semconv.EVENT_ATTRIBUTE_PREFIX),  # attributes
        (v if type(v := get(semconv.EVENT_REASON)) is str else _str(v)),  # reason
        format(trace_id, "032x") if trace_id else None,  # trace_id
        format(span_id, "016x") if span_id else None,  # span_id
        format(parent_span_id, "016x") if parent_span_id else None,  # parent_span_id
        service_name,  # service_name
        _prefixed(attrs, semconv.TAG_PREFIX),  # tags
    )


def rows_from_spans(spans: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows per table for OpenTelemetry `ReadableSpan`s (anything with the same attributes). Never raises for
    one odd span: it is skipped."""
    return {table: [dict(zip(COLUMNS[table], row, strict=True)) for row in rows] for table, rows in row_tuples_from_spans(spans).items()}


def row_tuples_from_spans(spans: Iterable[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """`rows_from_spans` with each row a tuple in the order of `COLUMNS[table]`: what the store's exporter
    buffers (a tuple is built faster than a dict, and the columns come out of the rows with one `zip`)."""
    out: dict[str, list[tuple[Any, ...]]] = {"calls": [], "attempts": [], "events": []}
    resource_cache: dict[int, str | None] = {}
    for span in spans:
        try:
            # The SDK's spans keep what their public properties return in plain instance attributes: read those
            # (an attribute load each instead of a property call; about 1 us per span). Not through `__dict__`,
            # which makes CPython 3.11+ build a dict for each span, that the garbage collector then tracks.
            # Anything else is read through its public properties.
            try:
                resource, context, parent = span._resource, span._context, span._parent
                scope, status, name, start, end = span._instrumentation_scope, span._status, span._name, span._start_time, span._end_time
            except AttributeError:
                resource, context, parent, scope, status, name, start, end = _public_fields(span)
            key = id(resource)
            if key not in resource_cache:
                resource_cache[key] = None if resource is None else _str(resource.attributes.get(semconv.SERVICE_NAME))
            result = row_tuple_from_span_data(
                raw_attributes(span),
                name=name,
                trace_id=context.trace_id,
                span_id=context.span_id,
                parent_span_id=None if parent is None else parent.span_id,
                start_ns=start or 0,
                end_ns=end,
                error=status is not None and status.status_code is _ERROR,
                service_name=resource_cache[key],
                scope=None if scope is None else scope.name,
            )
        except Exception:
            continue
        if result is not None:
            out[result[0]].append(result[1])
    return out


def _public_fields(span: Any) -> tuple[Any, ...]:
    return (
        span.resource, span.context, span.parent, span.instrumentation_scope, span.status, span.name,
        span.start_time, span.end_time,
    )  # fmt: skip


def day_of(start_us: int) -> str:
    """The partition (UTC day, `YYYY-MM-DD`) a row with this start time (microseconds) goes in."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(start_us // _US_PER_DAY) * _US_PER_DAY)).strftime("%Y-%m-%d")
