"""The columns of the store's four tables, where each column's value comes from, and the schema version.

One column map (`CALLS`, `ATTEMPTS`, `EVENTS`, `SPANS`): each column's name, DuckDB type and source. The writer's
row builders are made from it once per table (`tracer.store._rows`), so every column is decided in one place and
read from one attribute (or one rule); readers select its columns by name. The map is plain data, so the writer,
which runs in the application's process, needs neither pyarrow nor DuckDB; the Arrow schemas the reading side uses
(`TABLES`) are built from it when first asked for.

A column's source is one of:

- an attribute name (`gen_ai.usage.output_tokens`): the span's attribute, as the column's type (a value of
  another type is stored as NULL and named in `damaged_fields`);
- `@field`: a field of the span itself (`@trace_id`, `@span_id`, `@parent_span_id`, `@start`, `@duration_ms`,
  `@name`, `@kind`, `@status`, `@service_name`, `@scope`, `@damaged`);
- `=rule`: one of the writer's rules (`_rows.RULES`), for a column made from more than one attribute.

A derived value (uncached input, output tokens per second, an attempt's outcome, unpriced and its reason, what cache
reads saved and cache writes cost beyond the input price) is
decided once, at capture (`tracer._derived`), and arrives as an attribute: the writer stores it, readers read it.

A segment records its schema version (`tracer.store.schema_version` in a Parquet segment's key-value metadata,
`version` in a row segment's header) and `v<N>` in its file name. Readers never trust a segment's layout to be
the current one: each view selects the current columns from every group of segments with the same columns,
filling the ones a group lacks with NULL (an older segment) and leaving out the ones the reader does not know (a
newer one). Adding a column is therefore a version bump with no migration; renaming one is not allowed
(DESIGN.md's public contract).

History:
  1  calls / attempts / events as in DESIGN.md, plus the extra columns below.
  2  calls: refusal_category, refusal_billed, cost_iterations.
  3  calls: conversation_id, tool_use_count, tool_names, content; a fourth table, spans: the other spans of every
     trace that has a Claude call (the application's, the SDK's tool-runner and tool spans).
  4  every table: damaged_fields (the columns whose value the writer found out of range, non-finite, negative or
     of the wrong type, and stored as NULL; NULL when none); calls: unpriced_reason.
  5  calls: output_tokens_per_s (capture's one definition, for every call that ended ok with output);
     attempts: outcome (ok, 429, 529, 5xx, timeout, connection, other: capture's one classification). Older
     segments lack both: the reader derives them for those rows alone, in one place.
  6  calls: cache_read_saved_usd, cache_write_premium_usd (capture's one definition, `tracer._derived`, at the
     rates the call was priced at). Older segments lack both and have no way to get them (the prices of the day are
     not in the store): NULL, which the pages count and show as "not known", never as 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

from tracer import semconv as s

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION: Final = 6
META_VERSION: Final = b"tracer.store.schema_version"
META_TABLE: Final = b"tracer.store.table"
META_REPLACES: Final = b"tracer.store.replaces"  # a compacted segment: JSON list of the segment names it holds

TS: Final = "TIMESTAMPTZ"
COST: Final = "DECIMAL(38,12)"
TAGS: Final = "MAP(VARCHAR, VARCHAR)"


class Column(NamedTuple):
    name: str
    type: str  # DuckDB's
    source: str  # an attribute name, `@field` or `=rule` (the module docstring)


def _rl(kind: str, field: str) -> str:
    return s.ratelimit_attribute(kind, field)


CALLS: Final = (
    Column("trace_id", "VARCHAR", "@trace_id"),
    Column("span_id", "VARCHAR", "@span_id"),
    Column("start_time", TS, "@start"),
    Column("duration_ms", "DOUBLE", "@duration_ms"),
    Column("operation", "VARCHAR", "=operation"),  # gen_ai.operation.name, else from the span's name
    Column("model", "VARCHAR", s.GEN_AI_REQUEST_MODEL),
    Column("response_model", "VARCHAR", s.GEN_AI_RESPONSE_MODEL),
    Column("streaming", "BOOLEAN", "=streaming"),  # ours, else the SDK's gen_ai.request.stream
    Column("status", "VARCHAR", "=call_status"),  # error when the span's status is ERROR or it has an error.type
    Column("error_type", "VARCHAR", s.ERROR_TYPE),
    Column("http_status", "INTEGER", s.HTTP_RESPONSE_STATUS_CODE),
    Column("attempts", "INTEGER", "=attempts"),  # ours, else the SDK's resend count + 1
    Column("input_tokens", "BIGINT", "=uncached_input"),  # UNCACHED: capture's tracer.usage.uncached_input_tokens
    Column("cache_read_tokens", "BIGINT", s.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    Column("cache_write_tokens", "BIGINT", s.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
    Column("cache_write_1h_tokens", "BIGINT", s.ANTHROPIC_CACHE_WRITE_1H_TOKENS),
    Column("output_tokens", "BIGINT", s.GEN_AI_USAGE_OUTPUT_TOKENS),
    Column("thinking_tokens", "BIGINT", s.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    Column("ttft_ms", "DOUBLE", "=ttft_ms"),  # the SDK's time to first chunk (s), else ours, in ms
    Column("cost_usd", COST, "=cost"),  # tracer.cost.usd_exact, else tracer.cost.usd; NULL when unpriced
    Column("service_name", "VARCHAR", "@service_name"),
    Column("tags", TAGS, "=tags"),  # tracer.tag.*
    # beyond the public contract
    Column("parent_span_id", "VARCHAR", "@parent_span_id"),
    Column("name", "VARCHAR", "@name"),
    Column("request_id", "VARCHAR", s.ANTHROPIC_REQUEST_ID),
    Column("response_id", "VARCHAR", s.GEN_AI_RESPONSE_ID),
    Column("stop_reason", "VARCHAR", s.ANTHROPIC_STOP_REASON),
    Column("stream_end", "VARCHAR", s.CALL_STREAM_END),
    Column("service_tier", "VARCHAR", s.ANTHROPIC_RESPONSE_SERVICE_TIER),
    Column("web_search_requests", "BIGINT", s.USAGE_WEB_SEARCH_REQUESTS),
    Column("batch", "BOOLEAN", "=batch"),
    Column("unpriced", "BOOLEAN", "=unpriced"),
    Column("cost_source", "VARCHAR", s.COST_PRICE_SOURCE),
    Column("source", "VARCHAR", s.CALL_SPAN_SOURCE),
    # a refusal met by the call (its own or a declined fallback hop's) and the priced iterations (JSON,
    # tracer.cost.iterations), which reconciliation splits by model
    Column("refusal_category", "VARCHAR", s.REFUSAL_CATEGORY),
    Column("refusal_billed", "BOOLEAN", s.REFUSAL_BILLED),
    Column("cost_iterations", "VARCHAR", s.COST_ITERATIONS),
    # the conversation (gen_ai.conversation.id), the tools the answer asked for (distinct names, comma-separated,
    # and the count of tool-use blocks), and the content when it was captured (a JSON object of the span's content
    # attributes, redacted in the application's process)
    Column("conversation_id", "VARCHAR", s.GEN_AI_CONVERSATION_ID),
    Column("tool_use_count", "INTEGER", s.TOOL_USE_COUNT),
    Column("tool_names", "VARCHAR", "=tool_names"),
    Column("content", "VARCHAR", "=content"),
    # why the call has no cost (`no_price`: its model or mode has no price; `malformed_usage`: its usage was
    # negative, fractional, not a number or out of range; `no_usage`: it ended ok with no usage at all)
    Column("unpriced_reason", "VARCHAR", "=unpriced_reason"),
    Column("damaged_fields", "VARCHAR", "@damaged"),
    # capture's tracer.call.output_tokens_per_second: output tokens over the time after the first token (the whole
    # call when not streamed), for calls that ended ok with output (schema 5)
    Column("output_tokens_per_s", "DOUBLE", s.CALL_OUTPUT_TOKENS_PER_S),
    # a priced call with cache tokens: what its cache reads saved against the input price, and what its cache writes
    # cost beyond it, USD at the rates of its cost; NULL without cache tokens, unpriced, or before schema 6
    Column("cache_read_saved_usd", "DOUBLE", s.COST_CACHE_READ_SAVED_USD),
    Column("cache_write_premium_usd", "DOUBLE", s.COST_CACHE_WRITE_PREMIUM_USD),
)

ATTEMPTS: Final = (
    Column("trace_id", "VARCHAR", "@trace_id"),
    Column("span_id", "VARCHAR", "@span_id"),
    Column("call_span_id", "VARCHAR", "@parent_span_id"),
    Column("start_time", TS, "@start"),
    Column("duration_ms", "DOUBLE", "@duration_ms"),
    Column("attempt", "INTEGER", "=attempt"),  # the resend count, 0 for the first
    Column("http_status", "INTEGER", s.HTTP_RESPONSE_STATUS_CODE),
    Column("error_type", "VARCHAR", s.ERROR_TYPE),
    Column("retry_after_s", "DOUBLE", s.ATTEMPT_RETRY_AFTER_S),
    Column("ratelimit_requests_remaining", "BIGINT", _rl("requests", "remaining")),
    Column("ratelimit_tokens_remaining", "BIGINT", _rl("tokens", "remaining")),
    Column("request_id", "VARCHAR", s.ANTHROPIC_REQUEST_ID),
    # beyond the public contract
    Column("model", "VARCHAR", s.GEN_AI_REQUEST_MODEL),
    Column("ratelimit_requests_limit", "BIGINT", _rl("requests", "limit")),
    Column("ratelimit_tokens_limit", "BIGINT", _rl("tokens", "limit")),
    Column("ratelimit_input_tokens_remaining", "BIGINT", _rl("input_tokens", "remaining")),
    Column("ratelimit_output_tokens_remaining", "BIGINT", _rl("output_tokens", "remaining")),
    Column("should_retry", "BOOLEAN", "=should_retry"),
    Column("service_name", "VARCHAR", "@service_name"),
    Column("damaged_fields", "VARCHAR", "@damaged"),
    Column("outcome", "VARCHAR", s.ATTEMPT_OUTCOME),  # capture's one classification, `tracer._derived` (schema 5)
)

EVENTS: Final = (
    Column("time", TS, "@start"),
    Column("kind", "VARCHAR", s.EVENT_KIND),
    Column("name", "VARCHAR", s.EVENT_NAME),
    Column("from_state", "VARCHAR", s.EVENT_FROM_STATE),
    Column("to_state", "VARCHAR", s.EVENT_TO_STATE),
    Column("attributes", TAGS, "=event_attributes"),  # tracer.event.attr.*
    # beyond the public contract
    Column("reason", "VARCHAR", s.EVENT_REASON),
    Column("trace_id", "VARCHAR", "@trace_id"),
    Column("span_id", "VARCHAR", "@span_id"),
    Column("parent_span_id", "VARCHAR", "@parent_span_id"),
    Column("service_name", "VARCHAR", "@service_name"),
    Column("tags", TAGS, "=tags"),
    Column("damaged_fields", "VARCHAR", "@damaged"),
)

# The other spans of a trace with a Claude call: the application's (a request handler, `agent.run`), the SDK's
# tool-runner (`invoke_agent`) and tool-execution (`execute_tool`) spans, sessions. Calls and attempts stay in their
# own tables; the reader's `trace_spans` view puts the three together as one tree.
SPANS: Final = (
    Column("trace_id", "VARCHAR", "@trace_id"),
    Column("span_id", "VARCHAR", "@span_id"),
    Column("parent_span_id", "VARCHAR", "@parent_span_id"),
    Column("start_time", TS, "@start"),
    Column("duration_ms", "DOUBLE", "@duration_ms"),
    Column("name", "VARCHAR", "@name"),
    Column("kind", "VARCHAR", "@kind"),  # internal, server, client, producer, consumer
    Column("status", "VARCHAR", "@status"),  # ok, error, unset
    Column("error_type", "VARCHAR", s.ERROR_TYPE),
    Column("operation", "VARCHAR", s.GEN_AI_OPERATION_NAME),  # invoke_agent, execute_tool, ...
    Column("tool_name", "VARCHAR", s.GEN_AI_TOOL_NAME),
    Column("tool_call_id", "VARCHAR", s.GEN_AI_TOOL_CALL_ID),
    Column("conversation_id", "VARCHAR", s.GEN_AI_CONVERSATION_ID),
    Column("scope", "VARCHAR", "@scope"),
    Column("service_name", "VARCHAR", "@service_name"),
    # a bounded set: at most MAX_SPAN_ATTRIBUTES, each value cut to MAX_ATTRIBUTE_CHARS, credentials left out
    Column("attributes", TAGS, "=span_attributes"),
    Column("content", "VARCHAR", "=content"),
    Column("damaged_fields", "VARCHAR", "@damaged"),
)

# The column map: per table, its columns in order (the order of the values in a row tuple and a row segment's line).
COLUMN_MAP: Final[dict[str, tuple[Column, ...]]] = {"calls": CALLS, "attempts": ATTEMPTS, "events": EVENTS, "spans": SPANS}

# Columns that segments written before them lack, derived on read for those segments alone (`tracer.read`'s
# `select_sql`; every newer segment has the column as capture decided it): SQL over the segment's other columns,
# `{name}` each, with the same definition as `tracer._derived` (tests/store/test_rows.py checks that they agree).
FOR_OLDER_SEGMENTS: Final[dict[str, dict[str, str]]] = {
    "calls": {
        "output_tokens_per_s": (
            "CASE WHEN {status} = 'ok' AND {output_tokens} > 0"
            " AND ({duration_ms} - coalesce({ttft_ms}, 0)) / 1000.0 >= 0.001"
            " THEN {output_tokens} / (({duration_ms} - coalesce({ttft_ms}, 0)) / 1000.0) END"
        ),
    },
    "attempts": {
        "outcome": (
            "CASE WHEN {error_type} IN ('timeout', 'stream_timeout') THEN 'timeout'"
            " WHEN {error_type} = 'connection' THEN 'connection'"
            " WHEN {http_status} IS NULL THEN 'other'"
            " WHEN {http_status} IN (429, 529) THEN {http_status}::VARCHAR"
            " WHEN {http_status} >= 500 THEN '5xx'"
            " WHEN {http_status} < 400 AND {error_type} IS NULL THEN 'ok'"
            " ELSE 'other' END"
        ),
    },
}

# (name, DuckDB type) per table, in column order.
COLUMN_TYPES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    table: tuple((c.name, c.type) for c in columns) for table, columns in COLUMN_MAP.items()
}
TABLE_NAMES: Final = tuple(COLUMN_TYPES)

# Columns with few distinct values, dictionary-encoded in Parquet segments; ids and request ids are not (a
# dictionary of random ids is as big as the ids and costs time to build).
LOW_CARDINALITY: Final = frozenset(
    {
        "operation", "model", "response_model", "status", "error_type", "http_status", "service_name", "name",
        "stop_reason", "stream_end", "service_tier", "cost_source", "source", "refusal_category", "kind", "from_state", "to_state",
        "reason", "attempt", "attempts", "tags", "attributes", "scope", "tool_name", "tool_names", "unpriced_reason",
        "outcome",
    }
)

TIME_COLUMN: Final = {"calls": "start_time", "attempts": "start_time", "events": "time", "spans": "start_time"}

_arrow: dict[str, Any] = {}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of `table` (the reading side's; imports pyarrow)."""
    if not _arrow:
        import pyarrow as pa

        kinds = {
            "VARCHAR": pa.string(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
            "BOOLEAN": pa.bool_(), TS: pa.timestamp("us", tz="UTC"), COST: pa.decimal128(38, 12),
            TAGS: pa.map_(pa.string(), pa.string()),
        }  # fmt: skip
        _arrow.update({name: pa.schema([(c, kinds[k]) for c, k in columns]) for name, columns in COLUMN_TYPES.items()})
    schema: pa.Schema = _arrow[table]
    return schema


def duckdb_type(table: str, column: str) -> str:
    """The DuckDB type a view casts `table.column` to."""
    return dict(COLUMN_TYPES[table])[column]


def __getattr__(name: str) -> Any:
    # `TABLES` (table -> Arrow schema) is built on first use: importing this module must not import pyarrow.
    if name == "TABLES":
        return {table: arrow_schema(table) for table in COLUMN_TYPES}
    raise AttributeError(name)
