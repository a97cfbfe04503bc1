"""Pure core of the writer: finished spans (or plain data shaped like them) to rows of calls, attempts, events and
the other spans of a trace.

Each table's row builder is made once, from the column map in `tracer.store._schema` (`COLUMN_MAP`): a column
read from an attribute is read from that one attribute, as its column's type; a column made from more than one is
one of `RULES` below. The builder is generated Python (one expression per column, the attribute names as
constants), so a span costs one dict lookup per column and no scan for attributes it does not have.

No I/O and no OpenTelemetry SDK needed: `row_from_span_data` takes plain values, so the mapping from
semconv attributes to store columns is tested on its own (tests/store/test_rows.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from tracer import semconv
from tracer._compat import finished_span_fields, span_parts
from tracer._derived import uncached_input
from tracer._secrets import REDACTED, SECRET_NAMES, scrub_short
from tracer.store.schema import COLUMN_MAP, COLUMN_TYPES

# Each table's column names in schema order: the order of the values in a row tuple (`row_tuples_from_spans`).
COLUMNS: dict[str, tuple[str, ...]] = {table: tuple(c for c, _ in columns) for table, columns in COLUMN_TYPES.items()}

# Where each table's `damaged_fields` is in its rows (`checked` names the columns it stored as NULL there).
DAMAGED_AT: dict[str, int] = {table: columns.index("damaged_fields") for table, columns in COLUMNS.items()}
_US_PER_DAY = 86_400_000_000
_PICODOLLAR = Decimal("1e-12")  # the cost column's step: DECIMAL(38,12)
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


# -- one value as its column's type (the builders inline the usual case, a value already of that type) --------------


def _count_or_wrong(value: Any) -> Any:
    """An INTEGER/BIGINT column's value: the int, None for no value, `WRONG` for any other type (a float, even a
    whole one, is a wrong type for a count: it comes from a response that should not have sent it)."""
    if type(value) is int or value is None:
        return value
    return WRONG


def _double_or_wrong(value: Any) -> Any:
    """A DOUBLE column's value: the float (ints widened), None, or `WRONG`. Non-finite values are left for
    `checked` to find."""
    if type(value) is float or value is None:
        return value
    if type(value) is int:
        return float(value) if -1e300 < value < 1e300 else WRONG
    return WRONG


def _text(value: Any) -> str | None:
    """A VARCHAR column's value: the string, None, or any other value as its `str`."""
    return value if type(value) is str else (None if value is None else str(value))


# -- the rules: columns made from more than one attribute ------------------------------------------------------------


def _attempts(ours: Any, resend: Any) -> Any:
    """A call's HTTP attempts: capture's count, else the SDK's resend count + 1 (1 when it has none)."""
    if ours is not None:
        return _count_or_wrong(ours)
    if resend is None:
        return 1
    return resend + 1 if type(resend) is int else WRONG


def _uncached(ours: Any, get: Callable[[str], Any]) -> Any:
    """A call's uncached input tokens: capture's attribute; for a span capture did not complete (a provider with
    the SDK's tracing but not ours), the same definition (`tracer._derived.uncached_input`) applied here."""
    if ours is not None:
        return _count_or_wrong(ours)
    total = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    if type(total) is not int:
        return _count_or_wrong(total)
    if total < 0:
        return total  # stays negative, and `checked` finds it damaged
    return uncached_input(total, get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS), get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS))


def _ttft_ms(sdk: Any, ours: Any) -> Any:
    """Time to first token in ms: the SDK's `gen_ai.response.time_to_first_chunk` (s), else ours."""
    value = _double_or_wrong(sdk if sdk is not None else ours)
    return value * 1000.0 if type(value) is float else value


def _cost(get: Callable[[str], Any]) -> Decimal | None:
    exact = get(semconv.COST_USD_EXACT)
    if exact is None:
        approx = get(semconv.COST_USD)
        if approx is None or isinstance(approx, bool):
            return None
        exact = repr(float(approx))
    try:
        value = Decimal(exact if type(exact) is str else str(exact)).quantize(_PICODOLLAR)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and abs(value) < Decimal("1e26") else None


def _names(value: Any) -> str | None:
    """A sequence of names as one comma-separated string (tool names have no commas), or None."""
    if value is None or isinstance(value, str):
        return value
    try:
        return ",".join(str(v) for v in value) or None
    except TypeError:
        return None


class _Shape:
    """What a set of attribute names holds beyond the columns read by name: which names carry tags, event
    attributes and content. Spans of one kind carry the same names over and over, so this is decided once per set
    of names (a tuple of strings hashes from their cached hashes), not name by name for every span."""

    __slots__ = ("content", "event_attributes", "tags")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.tags = tuple(n for n in names if n.startswith(semconv.TAG_PREFIX))
        self.event_attributes = tuple(n for n in names if n.startswith(semconv.EVENT_ATTRIBUTE_PREFIX))
        self.content = tuple(n for n in names if n in _CONTENT)


_CONTENT = frozenset(semconv.CONTENT_ATTRIBUTES)
_shapes: dict[tuple[str, ...], _Shape] = {}


def _shape_of(attrs: Mapping[str, Any]) -> _Shape:
    names = tuple(attrs)
    shape = _shapes.get(names)
    if shape is None:
        if len(_shapes) > 4096:  # bounded: names that never repeat must not grow it forever
            _shapes.clear()
        shape = _shapes[names] = _Shape(names)
    return shape


def _pairs(attrs: Mapping[str, Any], names: tuple[str, ...], prefix: str) -> tuple[tuple[str, str], ...] | None:
    if not names:
        return None
    n = len(prefix)
    # A tuple of tuples of strings, not a list: the garbage collector stops tracking such a row once it has seen
    # it, so thousands of buffered rows cost its full passes nothing.
    return tuple([(name[n:], value if type(value := attrs[name]) is str else str(value)) for name in names])


def _content(attrs: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The span's content attributes (only there when content capture is on, and already redacted) as one JSON
    object, or None."""
    if not names:
        return None
    return json.dumps({k: v if type(v := attrs[k]) is str else str(v) for k in names}, ensure_ascii=False)


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


def _k(name: str) -> str:
    return repr(name)


# Each rule: a Python expression over `get` (the attributes' `.get`), `attrs`, `shape`, the span's fields and the
# columns already made (`c_<name>`), in the order they are evaluated: every attribute column and span field first,
# then the rules in this order.
RULES: dict[str, str] = {
    "operation": f"((v if type(v := get({_k(semconv.GEN_AI_OPERATION_NAME)})) is str else _text(v)) or _OPERATION_BY_NAME.get(name, name))",
    "streaming": f"bool(v if (v := get({_k(semconv.CALL_STREAMING)})) is not None else get({_k(semconv.GEN_AI_REQUEST_STREAM)}))",
    "call_status": '("error" if (error or c_error_type is not None) else "ok")',
    "attempts": f"(v if type(v := get({_k(semconv.CALL_ATTEMPTS)})) is int else _attempts(v, get({_k(semconv.HTTP_REQUEST_RESEND_COUNT)})))",
    "uncached_input": f"(v if type(v := get({_k(semconv.USAGE_UNCACHED_INPUT_TOKENS)})) is int else _uncached(v, get))",
    "ttft_ms": f"(v * 1000.0 if type(v := get({_k(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)})) is float else _ttft_ms(v, get({_k(semconv.CALL_TTFT_S)})))",
    "batch": f"bool(get({_k(semconv.CALL_BATCH)}))",
    "unpriced": f"bool(get({_k(semconv.COST_UNPRICED)}))",
    "cost": "(None if c_unpriced else _cost(get))",
    "unpriced_reason": '("no_price" if c_unpriced else None)',  # `checked` settles it (`_settle_call`)
    "tags": f"_pairs(attrs, shape.tags, {_k(semconv.TAG_PREFIX)})",
    "event_attributes": f"_pairs(attrs, shape.event_attributes, {_k(semconv.EVENT_ATTRIBUTE_PREFIX)})",
    "tool_names": f"_names(get({_k(semconv.TOOL_USE_NAMES)}))",
    "content": "_content(attrs, shape.content)",
    "span_attributes": "_bounded_attributes(attrs)",
    "attempt": f"((v if type(v := get({_k(semconv.HTTP_REQUEST_RESEND_COUNT)})) is int else _count_or_wrong(v)) or 0)",
    "should_retry": f'(None if (v := get({_k(semconv.ATTEMPT_SHOULD_RETRY)})) is None else v in (True, "true", "True", 1))',
}

_FIELDS = {
    "@trace_id": '(format(trace_id, "032x") if trace_id else None)',
    "@span_id": '(format(span_id, "016x") if span_id else None)',
    "@parent_span_id": '(format(parent_span_id, "016x") if parent_span_id else None)',
    "@start": "start_ns // 1000",
    "@duration_ms": "(None if end_ns is None else (end_ns - start_ns) / 1e6)",
    "@name": "name",
    "@service_name": "service_name",
    "@scope": "scope",
    "@kind": "(_KINDS[kind] if 0 <= kind < 5 else None)",
    "@status": '("error" if status_code == 2 or c_error_type is not None else ("ok" if status_code == 1 else "unset"))',
    "@damaged": "None",
}
# The usual values (of the column's type, or absent) are taken as they are, without a call.
_BY_TYPE = {
    "VARCHAR": "(v if type(v := get({key})) is str or v is None else str(v))",
    "INTEGER": "(v if type(v := get({key})) is int or v is None else WRONG)",
    "BIGINT": "(v if type(v := get({key})) is int or v is None else WRONG)",
    "DOUBLE": "(v if type(v := get({key})) is float or v is None else _double_or_wrong(v))",
    "BOOLEAN": "(None if (v := get({key})) is None else bool(v))",
}
_SIGNATURE = "attrs, name, trace_id, span_id, parent_span_id, start_ns, end_ns, error, status_code, kind, service_name, scope"


def _builder_source(table: str) -> str:
    """The source of `table`'s row builder, made from its columns in `COLUMN_MAP` (see the module docstring)."""
    columns = COLUMN_MAP[table]
    first, fields, rules = [], [], []
    for column in columns:
        target = f"c_{column.name}"
        if column.source.startswith("="):
            rule = column.source[1:]
            rules.append((list(RULES).index(rule), f"{target} = {RULES[rule]}"))
        elif column.source.startswith("@"):
            fields.append(f"{target} = {_FIELDS[column.source]}")
        else:
            first.append(f"{target} = {_BY_TYPE[column.type].format(key=_k(column.source))}")
    lines = ["get = attrs.get", *first, *fields, *(line for _, line in sorted(rules))]
    if any("shape." in line for line in lines):
        lines.insert(1, "shape = _shape_of(attrs)")
    body = "\n    ".join(lines)
    values = ", ".join(f"c_{c.name}" for c in columns)
    return f"def build_{table}({_SIGNATURE}):\n    {body}\n    return ({values},)\n"


def _make_builders() -> dict[str, Callable[..., tuple[Any, ...]]]:
    scope: dict[str, Any] = {
        name: value for name, value in globals().items() if name.startswith("_") and not name.startswith("__")
    }
    scope["WRONG"] = WRONG
    builders = {}
    for table in COLUMN_MAP:
        exec(_builder_source(table), scope)  # the text comes from the column map and RULES alone
        builders[table] = scope[f"build_{table}"]
    return builders


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
    return _BUILDERS["spans"](attrs, name, trace_id, span_id, parent_span_id, start_ns, end_ns, False, status_code,
                              kind, service_name, scope)  # fmt: skip


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
# DOUBLE columns that may be below 0: a cache saving or premium is, where an override file prices a cache read above
# the input price or a write below it.
_SIGNED = frozenset({"duration_ms", "cache_read_saved_usd", "cache_write_premium_usd"})
# The usage a call is priced from: one of them damaged leaves the call unpriced (`malformed_usage`), never priced
# from what is left.
_BUILDERS = _make_builders()
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
    """`row` (in `COLUMNS[table]` order) with every value its column cannot hold (out of
    range, not finite, negative where the column counts something, of the wrong type) replaced by None and named
    in `damaged_fields`. A call's row also gets why it has no cost (`unpriced_reason`, `_settle_call`). Pure; the
    usual row comes back as it is.

    >>> row = checked("attempts", (None,) * 9 + (10**23,) + (None,) * 11)
    >>> row[9], row[DAMAGED_AT["attempts"]]
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
    values[DAMAGED_AT[table]] = ",".join(damaged)
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
    return table, _BUILDERS[table](attrs, name, trace_id, span_id, parent_span_id, start_ns, end_ns, error, 0, 0,
                                   service_name, scope)  # fmt: skip


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
    builders = _BUILDERS
    span_parts()  # the spans' own fields, where the OpenTelemetry SDK's shape allows (resolved once)
    for span in spans:
        try:
            attrs, resource, context, parent, scope, status, name, start, end, kind = finished_span_fields(span)
            key = id(resource)
            if key not in resource_cache:
                resource_cache[key] = None if resource is None else _text(resource.attributes.get(semconv.SERVICE_NAME))
            trace_id = context.trace_id
            parent_span_id = None if parent is None else parent.span_id
            scope_name = None if scope is None else scope.name
            status_code = 0 if status is None else status.status_code.value
            table = classify(attrs, name, scope_name)
            if table is not None:
                row = checked(table, builders[table](
                    attrs, name, trace_id, context.span_id, parent_span_id, start or 0, end, status_code == 2,
                    status_code, 0, resource_cache[key], scope_name,
                ))  # fmt: skip
                if row[DAMAGED_AT[table]] is not None and damaged is not None:
                    damaged[table] = damaged.get(table, 0) + 1
                out[table].append(row)
                # Calls decide (attempts are made on capture's worker thread and may end after their call).
                if keeper is not None and table == "calls":
                    keeper.call(trace_id)
                    if parent is None or parent.is_remote:  # a call of its own: its trace is over here
                        keeper.done(trace_id)
            elif keeper is not None and trace_id:
                local_root = parent is None or parent.is_remote
                if keeper.wants(trace_id, local_root):
                    row = checked("spans", builders["spans"](
                        attrs, name, trace_id, context.span_id, parent_span_id, start or 0, end, status_code == 2,
                        status_code, 0 if kind is None else kind.value, resource_cache[key], scope_name,
                    ))  # fmt: skip
                    if row[DAMAGED_AT["spans"]] is not None and damaged is not None:
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


def day_of(start_us: int) -> str:
    """The partition (UTC day, `YYYY-MM-DD`) a row with this start time (microseconds) goes in."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(start_us // _US_PER_DAY) * _US_PER_DAY)).strftime("%Y-%m-%d")
