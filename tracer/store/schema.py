"""The columns of the store's four tables and the schema version segments are stamped with.

The columns are plain data (name, DuckDB type), so that the writer, which runs in the application's process,
needs neither pyarrow nor DuckDB; the Arrow schemas the reading side uses (`TABLES`) are built from them when
first asked for.

A segment records its schema version (`tracer.store.schema_version` in a Parquet segment's key-value metadata,
`version` in a row segment's header) and `v<N>` in its file name. Readers never trust a segment's layout to be
the current one: each view selects the current columns from every group of segments with the same columns,
filling the ones a group lacks with NULL (an older segment) and leaving out the ones the reader does not know (a
newer one). Adding a column is therefore a version bump with no migration; renaming one is not allowed
(DESIGN.md's public contract).

History:
  1  calls / attempts / events as in DESIGN.md, plus the extra columns below.
  2  calls: refusal_category, refusal_billed, cost_iterations (issue 18).
  3  calls: conversation_id, tool_use_count, tool_names, content; a fourth table, spans: the other spans of every
     trace that has a Claude call (the application's, the SDK's tool-runner and tool spans), issue 15.
  4  every table: damaged_fields (the columns whose value the writer found out of range, non-finite, negative or
     of the wrong type, and stored as NULL; NULL when none); calls: unpriced_reason (issue 24).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION: Final = 4
META_VERSION: Final = b"tracer.store.schema_version"
META_TABLE: Final = b"tracer.store.table"
META_REPLACES: Final = b"tracer.store.replaces"  # a compacted segment: JSON list of the segment names it holds

TS: Final = "TIMESTAMPTZ"
COST: Final = "DECIMAL(38,12)"
TAGS: Final = "MAP(VARCHAR, VARCHAR)"

CALLS: Final = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("start_time", TS),
    ("duration_ms", "DOUBLE"),
    ("operation", "VARCHAR"),
    ("model", "VARCHAR"),
    ("response_model", "VARCHAR"),
    ("streaming", "BOOLEAN"),
    ("status", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("http_status", "INTEGER"),
    ("attempts", "INTEGER"),
    ("input_tokens", "BIGINT"),
    ("cache_read_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("cache_write_1h_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("thinking_tokens", "BIGINT"),
    ("ttft_ms", "DOUBLE"),
    ("cost_usd", COST),
    ("service_name", "VARCHAR"),
    ("tags", TAGS),
    # beyond the public contract
    ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("response_id", "VARCHAR"),
    ("stop_reason", "VARCHAR"),
    ("stream_end", "VARCHAR"),
    ("service_tier", "VARCHAR"),
    ("web_search_requests", "BIGINT"),
    ("batch", "BOOLEAN"),
    ("unpriced", "BOOLEAN"),
    ("cost_source", "VARCHAR"),
    ("source", "VARCHAR"),
    # issue 18 (cost): a refusal met by the call (its own or a declined fallback hop's) and the priced iterations
    # (JSON, tracer.cost.iterations), which reconciliation splits by model
    ("refusal_category", "VARCHAR"),
    ("refusal_billed", "BOOLEAN"),
    ("cost_iterations", "VARCHAR"),
    # issue 15 (agent runs): the conversation (gen_ai.conversation.id), the tools the answer asked for (distinct
    # names, comma-separated, and the count of tool-use blocks), and the content when it was captured (a JSON
    # object of the span's content attributes, redacted in the application's process)
    ("conversation_id", "VARCHAR"),
    ("tool_use_count", "INTEGER"),
    ("tool_names", "VARCHAR"),
    ("content", "VARCHAR"),
    # issue 24: why the call has no cost (`no_price`: its model or mode has no price; `malformed_usage`: its usage
    # was negative, fractional, not a number or out of range; `no_usage`: it ended ok with no usage at all)
    ("unpriced_reason", "VARCHAR"),
    ("damaged_fields", "VARCHAR"),
)

ATTEMPTS: Final = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("call_span_id", "VARCHAR"),
    ("start_time", TS),
    ("duration_ms", "DOUBLE"),
    ("attempt", "INTEGER"),
    ("http_status", "INTEGER"),
    ("error_type", "VARCHAR"),
    ("retry_after_s", "DOUBLE"),
    ("ratelimit_requests_remaining", "BIGINT"),
    ("ratelimit_tokens_remaining", "BIGINT"),
    ("request_id", "VARCHAR"),
    # beyond the public contract
    ("model", "VARCHAR"),
    ("ratelimit_requests_limit", "BIGINT"),
    ("ratelimit_tokens_limit", "BIGINT"),
    ("ratelimit_input_tokens_remaining", "BIGINT"),
    ("ratelimit_output_tokens_remaining", "BIGINT"),
    ("should_retry", "BOOLEAN"),
    ("service_name", "VARCHAR"),
    ("damaged_fields", "VARCHAR"),
)

EVENTS: Final = (
    ("time", TS),
    ("kind", "VARCHAR"),
    ("name", "VARCHAR"),
    ("from_state", "VARCHAR"),
    ("to_state", "VARCHAR"),
    ("attributes", TAGS),
    # beyond the public contract
    ("reason", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("tags", TAGS),
    ("damaged_fields", "VARCHAR"),
)

# The other spans of a trace with a Claude call: the application's (a request handler, `agent.run`), the SDK's
# tool-runner (`invoke_agent`) and tool-execution (`execute_tool`) spans, sessions. Calls and attempts stay in their
# own tables; the reader's `trace_spans` view puts the three together as one tree.
SPANS: Final = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("start_time", TS),
    ("duration_ms", "DOUBLE"),
    ("name", "VARCHAR"),
    ("kind", "VARCHAR"),  # internal, server, client, producer, consumer
    ("status", "VARCHAR"),  # ok, error, unset
    ("error_type", "VARCHAR"),
    ("operation", "VARCHAR"),  # gen_ai.operation.name: invoke_agent, execute_tool, ...
    ("tool_name", "VARCHAR"),
    ("tool_call_id", "VARCHAR"),
    ("conversation_id", "VARCHAR"),
    ("scope", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("attributes", TAGS),  # a bounded set: at most MAX_SPAN_ATTRIBUTES, each value cut to MAX_ATTRIBUTE_CHARS
    ("content", "VARCHAR"),
    ("damaged_fields", "VARCHAR"),
)

# (name, DuckDB type) per table, in column order: the order of the values in a row tuple and a row segment's line.
COLUMN_TYPES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "calls": CALLS, "attempts": ATTEMPTS, "events": EVENTS, "spans": SPANS,
}  # fmt: skip
TABLE_NAMES: Final = tuple(COLUMN_TYPES)

# Columns with few distinct values, dictionary-encoded in Parquet segments; ids and request ids are not (a
# dictionary of random ids is as big as the ids and costs time to build).
LOW_CARDINALITY: Final = frozenset(
    {
        "operation", "model", "response_model", "status", "error_type", "http_status", "service_name", "name",
        "stop_reason", "stream_end", "service_tier", "cost_source", "source", "refusal_category", "kind", "from_state", "to_state",
        "reason", "attempt", "attempts", "tags", "attributes", "scope", "tool_name", "tool_names", "unpriced_reason",
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
