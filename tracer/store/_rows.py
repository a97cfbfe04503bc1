"""Pure core of the writer: finished spans (or plain data shaped like them) to rows of calls, attempts, events.

No I/O and no OpenTelemetry SDK needed: `row_from_span_data` takes plain values, so the mapping from
semconv attributes to store columns is tested on its own (tests/store/test_rows.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from opentelemetry.trace import StatusCode

from tracer import semconv
from tracer._secrets import REDACTED, SECRET_NAMES, scrub_short
from tracer._spans import raw_attributes
from tracer.store.schema import COLUMN_TYPES

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
    if kind is None and (name in _CALL_SPAN_NAMES or (scope == semconv.ANTHROPIC_SCOPE and semconv.HTTP_REQUEST_METHOD in attrs)):
        return "calls"  # the SDK's call spans start with the request's method; its tool and agent spans do not
    return None


class _Wrong:
    """A value that does not fit its column's type (a token count that is a string, a float, a bool): the row
    builders put it in the row as it is found, and `checked` stores NULL in its place and names the column in
    `damaged_fields`. Never written: every column a builder can put it in is checked."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<wrong type>"


WRONG: Any = _Wrong()


def _int(value: Any) -> Any:
    """An integer column's value: the int, None for no value, `WRONG` for any other type (a float, even a whole
    one, is a wrong type for a count: it comes from a response that should not have sent it)."""
    if type(value) is int:  # the usual case, first: OpenTelemetry attributes arrive typed
        return value
    if value is None:
        return None
    return WRONG


def _float(value: Any) -> Any:
    """A DOUBLE column's value: the float (ints widened), None, or `WRONG`. Non-finite values are left for
    `checked` to find."""
    if type(value) is float:
        return value
    if value is None:
        return None
    if type(value) is int:
        return float(value) if -1e300 < value < 1e300 else WRONG
    return WRONG


def _n(value: Any) -> int:
    """A count to compute with: 0 for anything that is not an int (the column itself is checked on its own)."""
    return value if type(value) is int else 0


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


def _names(value: Any) -> str | None:
    """A sequence of names as one comma-separated string (tool names have no commas), or None."""
    if value is None or isinstance(value, str):
        return value
    try:
        return ",".join(str(v) for v in value) or None
    except TypeError:
        return None


def _content(attrs: Mapping[str, Any]) -> str | None:
    """The span's content attributes (only there when content capture is on, and already redacted) as one JSON
    object, or None: the common case, one dict lookup per attribute."""
    found = None
    for key in semconv.CONTENT_ATTRIBUTES:
        value = attrs.get(key)
        if value is not None:
            if found is None:
                found = {}
            found[key] = value if type(value) is str else str(value)
    return None if found is None else json.dumps(found, ensure_ascii=False)


MAX_SPAN_ATTRIBUTES = 32  # attributes kept per span of the `spans` table, beyond its columns
MAX_ATTRIBUTE_CHARS = 256  # each value cut to this length
_SPAN_COLUMNS_FROM = frozenset({
    semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_TOOL_NAME, semconv.GEN_AI_TOOL_CALL_ID,
    semconv.GEN_AI_CONVERSATION_ID, semconv.ERROR_TYPE, *semconv.CONTENT_ATTRIBUTES,
})  # fmt: skip
_KINDS = ("internal", "server", "client", "producer", "consumer")


def _bounded_attributes(attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The application's attributes as the store keeps them: at most `MAX_SPAN_ATTRIBUTES`, names and values cut,
    credentials left out (by name: `authorization`, `api_key`, `cookie`, ...) or scrubbed (by look: `sk-ant-...`,
    bearer tokens)."""
    out = []
    for key, value in attrs.items():
        if key in _SPAN_COLUMNS_FROM:
            continue
        if SECRET_NAMES.search(key):
            out.append((key[:MAX_ATTRIBUTE_CHARS], REDACTED))
            continue
        text = value if type(value) is str else (",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value))
        out.append((key[:MAX_ATTRIBUTE_CHARS], scrub_short(text[:MAX_ATTRIBUTE_CHARS])))
        if len(out) >= MAX_SPAN_ATTRIBUTES:
            break
    return tuple(out) or None


def span_row(
    attrs: Mapping[str, Any],
    *,
    name: str,
    kind: int,
    trace_id: int,
    span_id: int,
    parent_span_id: int | None,
    start_ns: int,
    end_ns: int | None,
    status_code: int,
    service_name: str | None,
    scope: str | None,
) -> tuple[Any, ...]:
    """The `spans` row of one of the application's or the SDK's other spans (`COLUMNS["spans"]` order). Pure.

    `kind` is the SpanKind's value (0 internal .. 4 consumer), `status_code` the StatusCode's (0 unset, 1 ok,
    2 error).

    >>> span_row({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, name="tool search",
    ...     kind=0, trace_id=1, span_id=2, parent_span_id=None, start_ns=0, end_ns=2_000_000, status_code=1,
    ...     service_name="api", scope="com.anthropic.sdk.python")[4:11]
    (2.0, 'tool search', 'internal', 'ok', None, 'execute_tool', 'search')
    """
    get = attrs.get
    error_type = _str(get(semconv.ERROR_TYPE))
    status = "error" if status_code == 2 or error_type is not None else ("ok" if status_code == 1 else "unset")
    return (
        format(trace_id, "032x") if trace_id else None,  # trace_id
        format(span_id, "016x") if span_id else None,  # span_id
        format(parent_span_id, "016x") if parent_span_id else None,  # parent_span_id
        start_ns // 1000,  # start_time
        None if end_ns is None else (end_ns - start_ns) / 1e6,  # duration_ms
        name,  # name
        _KINDS[kind] if 0 <= kind < len(_KINDS) else None,  # kind
        status,  # status
        error_type,  # error_type
        _str(get(semconv.GEN_AI_OPERATION_NAME)),  # operation
        _str(get(semconv.GEN_AI_TOOL_NAME)),  # tool_name
        _str(get(semconv.GEN_AI_TOOL_CALL_ID)),  # tool_call_id
        _str(get(semconv.GEN_AI_CONVERSATION_ID)),  # conversation_id
        scope,  # scope
        service_name,  # service_name
        _bounded_attributes(attrs),  # attributes
        _content(attrs),  # content
        None,  # damaged_fields
    )


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


# -- every value against its column ---------------------------------------------------------------------------------
# A value its column cannot hold (a token count of 10**30 or -10, a rate-limit header of 10**23, NaN, a string where a
# count goes) would make the reader's cast fail for the whole segment: every row of a flush lost for one number. The
# writer stores NULL in its place instead and names the column in the row's `damaged_fields`: one bad value costs
# that value alone. Strings, booleans and maps need no check: the builders above make them of their type.

_MIN_US = -62_135_596_800_000_000  # 0001-01-01: `day_of` (Python's datetime) has no day outside years 1 to 9999
_MAX_US = 253_402_300_799_999_999  # 9999-12-31 23:59:59.999999
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
# Signed columns: a duration is end minus start, two wall-clock readings that a clock step can put in either order.
_SIGNED = frozenset({"duration_ms"})
# The usage a call is priced from: one of them damaged leaves the call unpriced (`malformed_usage`), never priced
# from what is left.
USAGE_COLUMNS = frozenset({
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
    "thinking_tokens", "web_search_requests",
})  # fmt: skip


def _condition(name: str, kind: str, var: str) -> str | None:
    """A Python expression true when `var` fits column `name` of DuckDB type `kind` (None fits every column), or
    None for a column that needs no check."""
    if kind == "TIMESTAMPTZ":
        return f"({var} is None or (type({var}) is int and {_MIN_US} <= {var} <= {_MAX_US}))"
    if kind == "INTEGER":
        return f"({var} is None or (type({var}) is int and 0 <= {var} <= {_INT32_MAX}))"
    if kind == "BIGINT":
        return f"({var} is None or (type({var}) is int and 0 <= {var} <= {_INT64_MAX}))"
    if kind == "DOUBLE":
        low = "-1e308" if name in _SIGNED else "0.0"
        return f"({var} is None or (type({var}) is float and {low} <= {var} <= 1e308))"  # NaN fails both
    if kind.startswith("DECIMAL"):
        return f"({var} is None or (type({var}) is Decimal and {var} >= 0))"
    return None


def _checker(table: str) -> tuple[Callable[[tuple[Any, ...]], bool], tuple[tuple[int, str, Callable[[Any], bool]], ...]]:
    """(whether a whole row fits, (index, name, whether a value fits) per checked column) for `table`: generated
    once from its columns, so the usual row, where everything fits, costs one call of a single expression."""
    columns = COLUMN_TYPES[table]
    checks = [(i, name, kind) for i, (name, kind) in enumerate(columns) if _condition(name, kind, "v") is not None]
    unpack = ", ".join(f"c{i}" for i in range(len(columns)))
    body = " and ".join(str(_condition(name, kind, f"c{i}")) for i, name, kind in checks) or "True"
    scope: dict[str, Any] = {"Decimal": Decimal}
    exec(f"def fits(row):\n    ({unpack},) = row\n    return {body}\n", scope)  # the text comes from the schema alone
    one = []
    for i, name, kind in checks:
        exec(f"def fit(v):\n    return {_condition(name, kind, 'v')}\n", scope)
        one.append((i, name, scope["fit"]))
    return scope["fits"], tuple(one)


_CHECKERS = {table: _checker(table) for table in COLUMN_TYPES}
_CALL_AT = {name: i for i, name in enumerate(COLUMNS["calls"])}
_C_INPUT, _C_OUTPUT, _C_COST, _C_UNPRICED, _C_REASON, _C_DAMAGED = (
    _CALL_AT[n] for n in ("input_tokens", "output_tokens", "cost_usd", "unpriced", "unpriced_reason", "damaged_fields")
)
_C_STATUS, _C_OPERATION, _C_BATCH, _C_STREAMING = (_CALL_AT[n] for n in ("status", "operation", "batch", "streaming"))


def checked(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` (in `COLUMNS[table]` order, `damaged_fields` last) with every value its column cannot hold (out of
    range, not finite, negative where the column counts something, of the wrong type) replaced by None and named
    in `damaged_fields`. A call's row also gets why it has no cost (`unpriced_reason`, `_settle_call`). Pure; the
    usual row comes back as it is.

    >>> row = checked("attempts", (None,) * 9 + (10**23,) + (None,) * 10)
    >>> row[9], row[-1]
    (None, 'ratelimit_requests_remaining')
    """
    fits, columns = _CHECKERS[table]
    if fits(row):
        if table == "calls" and (row[_C_INPUT] is None or row[_C_OUTPUT] is None):
            return _settle_call(list(row), ())
        return row
    values = list(row)
    damaged = []
    for i, name, fit in columns:
        if not fit(values[i]):
            values[i] = None
            damaged.append(name)
    values[-1] = ",".join(damaged)
    return _settle_call(values, damaged) if table == "calls" else tuple(values)


def _settle_call(values: list[Any], damaged: Sequence[str]) -> tuple[Any, ...]:
    """A call row's `unpriced` and `unpriced_reason`, decided once, here, for every reader.

    A chat call that ended ok was answered, so it was billed; when its usage cannot be priced its cost is unknown,
    not zero: `malformed_usage` (a count damaged, or output tokens without input tokens: the SDK leaves out an input
    count that is not a number, or a body answered in full without an output count), `no_usage` (none at all). Failed calls, token counts and batch submissions are not
    billed per call; a cost that capture did work out stands. Otherwise capture's `unpriced` stands, as `no_price`
    (its model or mode has no price)."""
    billable = values[_C_STATUS] == "ok" and values[_C_OPERATION] == "chat" and not values[_C_BATCH]
    reason = None
    if not USAGE_COLUMNS.isdisjoint(damaged):
        reason = "malformed_usage"
    elif billable and values[_C_COST] is None:
        if values[_C_INPUT] is None:
            reason = "no_usage" if values[_C_OUTPUT] is None else "malformed_usage"
        elif values[_C_OUTPUT] is None and not values[_C_STREAMING]:
            reason = "malformed_usage"  # a stream closed early has no output count; an answered body always has one
    if reason is not None:
        values[_C_COST], values[_C_UNPRICED], values[_C_REASON] = None, True, reason
    return tuple(values)


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


def row_tuple_from_span_data(attrs: Mapping[str, Any], **span: Any) -> tuple[str, tuple[Any, ...]] | None:
    """(table, row) for one finished span, the row a tuple in the order of its table's columns (`COLUMNS`), or
    None when the store does not keep this kind of span. The span's fields as keywords (`name`, `trace_id`,
    `span_id`, `parent_span_id`, `start_ns`, `end_ns`, `error`, `service_name`, `scope`).

    `error` is True when the span's status is ERROR. Times are nanoseconds since the epoch (OpenTelemetry's
    unit); `start_time` columns are microseconds since the epoch (Parquet TIMESTAMP(us, UTC)). Every value is
    checked against its column (`checked`): one that does not fit is stored as NULL and named in `damaged_fields`.
    """
    found = _row_tuple(attrs, **span)
    return None if found is None else (found[0], checked(found[0], found[1]))


def _row_tuple(
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
    """`row_tuple_from_span_data` before its values are checked."""
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
            if type(total_in) is int:
                # A negative total stays negative (and is then found damaged); a total below the cached part does not.
                uncached = total_in if total_in < 0 else max(total_in - _n(cache_read) - _n(cache_write), 0)
            else:
                uncached = total_in
        attempts = (v if type(v := get(semconv.CALL_ATTEMPTS)) is int else _int(v))
        if attempts is None:
            resend = (v if type(v := get(semconv.HTTP_REQUEST_RESEND_COUNT)) is int else _int(v))
            attempts = 1 if resend is None else (resend + 1 if type(resend) is int else WRONG)
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
            ttft * 1000.0 if type(ttft) is float else ttft,  # ttft_ms
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
            (v if type(v := get(semconv.GEN_AI_CONVERSATION_ID)) is str else _str(v)),  # conversation_id
            _int(get(semconv.TOOL_USE_COUNT)),  # tool_use_count
            _names(get(semconv.TOOL_USE_NAMES)),  # tool_names
            _content(attrs),  # content
            "no_price" if unpriced else None,  # unpriced_reason (`checked` settles it)
            None,  # damaged_fields
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
            None,  # damaged_fields
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
        None,  # damaged_fields
    )


def rows_from_spans(spans: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows per table for OpenTelemetry `ReadableSpan`s (anything with the same attributes). Never raises for
    one odd span: it is skipped."""
    return {table: [dict(zip(COLUMNS[table], row, strict=True)) for row in rows] for table, rows in row_tuples_from_spans(spans).items()}


def row_tuples_from_spans(
    spans: Iterable[Any], keeper: TraceKeeper | None = None, damaged: dict[str, int] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """`rows_from_spans` with each row a tuple in the order of `COLUMNS[table]`: what the store's exporter
    buffers (a tuple is built faster than a dict, and the columns come out of the rows with one `zip`).

    With a `keeper`, the other spans (the application's, the SDK's tool and agent spans) become `spans` rows when
    their trace has a Claude call (`TraceKeeper`); without one they are left out. Every row is `checked`; with
    `damaged`, the rows that had a value stored as NULL are counted in it by table."""
    out: dict[str, list[tuple[Any, ...]]] = {"calls": [], "attempts": [], "events": [], "spans": []}
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
            attrs = raw_attributes(span)
            trace_id = context.trace_id
            result = _row_tuple(
                attrs,
                name=name,
                trace_id=trace_id,
                span_id=context.span_id,
                parent_span_id=None if parent is None else parent.span_id,
                start_ns=start or 0,
                end_ns=end,
                error=status is not None and status.status_code is _ERROR,
                service_name=resource_cache[key],
                scope=None if scope is None else scope.name,
            )
            if result is not None:
                row = checked(result[0], result[1])
                if row[-1] is not None and damaged is not None:
                    damaged[result[0]] = damaged.get(result[0], 0) + 1
                out[result[0]].append(row)
                # Calls decide (attempts are made on capture's worker thread and may end after their call).
                if keeper is not None and result[0] == "calls":
                    keeper.call(trace_id)
                    if parent is None or parent.is_remote:  # a call of its own: its trace is over here
                        keeper.done(trace_id)
            elif keeper is not None and trace_id:
                local_root = parent is None or parent.is_remote
                if keeper.wants(trace_id, local_root):
                    row = checked("spans", span_row(
                            attrs,
                            name=name,
                            kind=_kind_value(span),
                            trace_id=trace_id,
                            span_id=context.span_id,
                            parent_span_id=None if parent is None else parent.span_id,
                            start_ns=start or 0,
                            end_ns=end,
                            status_code=0 if status is None else status.status_code.value,
                            service_name=resource_cache[key],
                            scope=None if scope is None else scope.name,
                        ))  # fmt: skip
                    if row[-1] is not None and damaged is not None:
                        damaged["spans"] = damaged.get("spans", 0) + 1
                    out["spans"].append(row)
                elif not local_root:
                    keeper.hold(trace_id, span)
        except Exception:
            continue
    if keeper is not None and keeper.released:
        out["spans"].extend(row_tuples_from_spans(keeper.take_released(), keeper, damaged)["spans"])
    return out


class TraceKeeper:
    """Which of the other spans the store keeps: those of traces with a Claude call, and nothing of the rest.

    Spans arrive in the order they end, so a span can end before its trace's first call (a retrieval step before
    the model is asked). Such spans are held, by trace, until the trace shows a call (then they are kept) or its
    local root ends without one (then they are let go). Memory stays bounded whatever the application does: at most `max_held` spans are held (the oldest trace's are let go
    first) and at most `max_traces` trace ids remembered; a trace's id is forgotten when its local root ends, so
    in a steady state only the traces in flight are remembered. A span that ends after its local root (a task left
    running) is treated like one of a trace not seen before. Used by one thread at a time (the store exporter's lock).

    Each process decides for its own part of a trace: a process whose part has no call keeps nothing of it.
    """

    def __init__(self, max_held: int = 10_000, max_traces: int = 100_000) -> None:
        self.max_held = max_held
        self.max_traces = max_traces
        self.let_go = 0  # spans not kept: their trace had no call here, or they were held too long
        self.released: list[Any] = []  # held spans whose trace showed a call, still to be turned into rows
        self._kept: dict[int, None] = {}  # trace ids with a call, oldest first
        self._held: dict[int, list[Any]] = {}  # trace id -> spans that ended before it showed a call
        self._held_count = 0

    def call(self, trace_id: int) -> None:
        """A call of `trace_id` ended: keep the trace; its held spans go to `released`."""
        kept = self._kept
        if trace_id not in kept:
            kept[trace_id] = None
            if len(kept) > self.max_traces:
                del kept[next(iter(kept))]
            held = self._held.pop(trace_id, None)
            if held:
                self._held_count -= len(held)
                self.released.extend(held)

    def wants(self, trace_id: int, local_root: bool) -> bool:
        """Whether a span of `trace_id` that just ended is kept now. A local root of a trace without a call lets the
        trace's held spans go (the trace is over here)."""
        if trace_id in self._kept:
            if local_root:
                self.done(trace_id)
            return True
        if local_root:
            held = self._held.pop(trace_id, None)
            self.let_go += 1 + (len(held) if held else 0)
            if held:
                self._held_count -= len(held)
        return False

    def done(self, trace_id: int) -> None:
        """The trace's local root ended: nothing more is expected of it here, so its id is forgotten (a span that
        still comes later is treated like one of a trace not seen before)."""
        self._kept.pop(trace_id, None)

    def hold(self, trace_id: int, span: Any) -> None:
        held = self._held.get(trace_id)
        if held is None:
            self._held[trace_id] = [span]
        else:
            held.append(span)
        self._held_count += 1
        while self._held_count > self.max_held and self._held:
            oldest = self._held.pop(next(iter(self._held)))
            self._held_count -= len(oldest)
            self.let_go += len(oldest)

    def take_released(self) -> list[Any]:
        taken, self.released = self.released, []
        return taken

    @property
    def held(self) -> int:
        return self._held_count


def _kind_value(span: Any) -> int:
    kind = getattr(span, "_kind", None) or getattr(span, "kind", None)
    return 0 if kind is None else kind.value


def _public_fields(span: Any) -> tuple[Any, ...]:
    return (
        span.resource, span.context, span.parent, span.instrumentation_scope, span.status, span.name,
        span.start_time, span.end_time,
    )  # fmt: skip


def day_of(start_us: int) -> str:
    """The partition (UTC day, `YYYY-MM-DD`) a row with this start time (microseconds) goes in."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(start_us // _US_PER_DAY) * _US_PER_DAY)).strftime("%Y-%m-%d")
