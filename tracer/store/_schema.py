"""The columns of the store's three tables, as Arrow types, and the schema version segments are stamped with.

A segment records `tracer.store.schema_version` in its Parquet key-value metadata and `v<N>` in its file name.
Readers never trust a segment's layout to be the current one: each view selects the current columns from every
group of segments with the same columns, filling the ones a group lacks with NULL (an older segment) and
leaving out the ones the reader does not know (a newer one). Adding a column is therefore a version bump with
no migration; renaming one is not allowed (DESIGN.md's public contract).

History:
  1  calls / attempts / events as in DESIGN.md, plus the extra columns below.
  1+ calls: refusal_category, refusal_billed, cost_iterations (issue 18); the version bump is left to the store rewrite.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

SCHEMA_VERSION: Final = 1
META_VERSION: Final = b"tracer.store.schema_version"
META_TABLE: Final = b"tracer.store.table"
META_REPLACES: Final = b"tracer.store.replaces"  # a compacted segment: JSON list of the segment names it holds

TS = pa.timestamp("us", tz="UTC")
COST = pa.decimal128(38, 12)
TAGS = pa.map_(pa.string(), pa.string())

CALLS: Final = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("start_time", TS),
        ("duration_ms", pa.float64()),
        ("operation", pa.string()),
        ("model", pa.string()),
        ("response_model", pa.string()),
        ("streaming", pa.bool_()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("http_status", pa.int32()),
        ("attempts", pa.int32()),
        ("input_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("cache_write_1h_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("thinking_tokens", pa.int64()),
        ("ttft_ms", pa.float64()),
        ("cost_usd", COST),
        ("service_name", pa.string()),
        ("tags", TAGS),
        # beyond the public contract
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("request_id", pa.string()),
        ("response_id", pa.string()),
        ("stop_reason", pa.string()),
        ("stream_end", pa.string()),
        ("service_tier", pa.string()),
        ("web_search_requests", pa.int64()),
        ("batch", pa.bool_()),
        ("unpriced", pa.bool_()),
        ("cost_source", pa.string()),
        ("source", pa.string()),
        # v2 (issue 18, cost): a refusal met by the call (its own or a declined fallback hop's) and the priced
        # iterations (JSON, tracer.cost.iterations), which reconciliation splits by model
        ("refusal_category", pa.string()),
        ("refusal_billed", pa.bool_()),
        ("cost_iterations", pa.string()),
    ]
)

ATTEMPTS: Final = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("call_span_id", pa.string()),
        ("start_time", TS),
        ("duration_ms", pa.float64()),
        ("attempt", pa.int32()),
        ("http_status", pa.int32()),
        ("error_type", pa.string()),
        ("retry_after_s", pa.float64()),
        ("ratelimit_requests_remaining", pa.int64()),
        ("ratelimit_tokens_remaining", pa.int64()),
        ("request_id", pa.string()),
        # beyond the public contract
        ("model", pa.string()),
        ("ratelimit_requests_limit", pa.int64()),
        ("ratelimit_tokens_limit", pa.int64()),
        ("ratelimit_input_tokens_remaining", pa.int64()),
        ("ratelimit_output_tokens_remaining", pa.int64()),
        ("should_retry", pa.bool_()),
        ("service_name", pa.string()),
    ]
)

EVENTS: Final = pa.schema(
    [
        ("time", TS),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("from_state", pa.string()),
        ("to_state", pa.string()),
        ("attributes", TAGS),
        # beyond the public contract
        ("reason", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("service_name", pa.string()),
        ("tags", TAGS),
    ]
)

# Columns with few distinct values, dictionary-encoded in segments; ids and request ids are not (a dictionary of
# random ids is as big as the ids and costs time to build).
LOW_CARDINALITY: Final = frozenset(
    {
        "operation", "model", "response_model", "status", "error_type", "http_status", "service_name", "name",
        "stop_reason", "stream_end", "service_tier", "cost_source", "source", "refusal_category", "kind", "from_state", "to_state",
        "reason", "attempt", "attempts", "tags", "attributes",
    }
)

TABLES: Final[dict[str, pa.Schema]] = {"calls": CALLS, "attempts": ATTEMPTS, "events": EVENTS}
TIME_COLUMN: Final = {"calls": "start_time", "attempts": "start_time", "events": "time"}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a view casts a column to (used for the NULLs that fill a column an older segment lacks)."""
    if arrow_type == TS:
        return "TIMESTAMPTZ"
    if arrow_type == COST:
        return "DECIMAL(38,12)"
    if arrow_type == TAGS:
        return "MAP(VARCHAR, VARCHAR)"
    return {
        pa.string(): "VARCHAR",
        pa.float64(): "DOUBLE",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.bool_(): "BOOLEAN",
    }[arrow_type]
