"""Every span, attribute and metric name claude-tracer reads or writes, in one place.

The store, the dashboard, `tracer report`, the Grafana dashboards and the collector/Tempo configs all refer
to these names; `tests/grafana` checks the Grafana side against this module so that a rename cannot silently
blank a panel. Change a name here and every reader in the same change.

Where the OpenTelemetry GenAI semantic conventions or the anthropic SDK's own tracing (`anthropic/_tracing.py`)
already name a thing, we use their name, so that a call span reads the same whether the SDK made it or we did.
Our own names live under the `tracer.` namespace.

Which GenAI conventions (checked 2026-11-29, see docs/production.md for the pages read):

- By default, the last *released* GenAI conventions: semantic-conventions v1.41.0 (tagged 2026-04-28), the last
  release of open-telemetry/semantic-conventions that still held them (v1.42.0 onwards says "Moved"). Their
  metrics are `gen_ai.client.operation.duration`, `gen_ai.client.token.usage` (a histogram by `gen_ai.token.type`
  input/output) and `gen_ai.client.operation.time_to_first_chunk`.
- With `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental` (the GenAI SIG's token, v1.41.0
  docs/gen-ai/README.md), the newest names of open-telemetry/semantic-conventions-genai (main, no tagged release
  yet; read at the commit that merged PR #374, docs/gen-ai/gen-ai-token-metrics.md): token usage as one counter
  per kind (`gen_ai.client.inference.usage.*`, by `gen_ai.token.modality`) and per-operation histograms
  (`gen_ai.client.inference.operation.*`) in place of `gen_ai.client.token.usage`; and, since PR #521 (read
  2026-12-07: "Use `gen_ai.client.inference.duration` metric instead of `gen_ai.client.operation.duration` and move
  inference signals to one file", a breaking change merged 2026-10-06), inference latency as
  `gen_ai.client.inference.duration` (`gen_ai.client.operation.duration` stays for the other operations, such as
  `count_tokens`) and stream timing as `gen_ai.client.inference.time_to_first_chunk`. Its
  `gen_ai.client.inference.time_per_output_chunk` (one point per chunk after the first) is not emitted: timing
  every SSE event on the application's thread costs more than it tells next to the call's own tokens per second.
  `gen_ai_latest_experimental/dup` emits both sets (the `/dup` form the HTTP and database transitions use; the
  GenAI SIG defines no `/dup`).
- HTTP client span attributes: semantic-conventions v1.41.0 docs/http/http-spans.md (stable).
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------------------------------
# Instrumentation scopes
# --------------------------------------------------------------------------------------------------------------

SCOPE: Final = "claude_tracer"
"""Scope of every span and metric claude-tracer creates itself."""

ANTHROPIC_SCOPE: Final = "com.anthropic.sdk.python"
"""Scope of the SDK's native call spans (anthropic/_tracing.py INSTRUMENTATION_SCOPE)."""

# --------------------------------------------------------------------------------------------------------------
# Span classification: set on every span we create or adopt (on_start), so readers never guess from names.
# --------------------------------------------------------------------------------------------------------------

SPAN_TYPE: Final = "tracer.span.type"
SPAN_TYPE_CALL: Final = "call"  # one per API call (the SDK's native span, or ours when that is off)
SPAN_TYPE_ATTEMPT: Final = "attempt"  # one per HTTP attempt, child of its call span
SPAN_TYPE_EVENT: Final = "event"  # a resilience event (breaker transition, budget trip, deadline, retry, ...)

CALL_SPAN_SOURCE: Final = "tracer.call.source"
"""`anthropic` when the call span is the SDK's native one, `tracer` when we created it."""

# Span names. The SDK names its call spans after the resource method; we use the same names for ours.
SPAN_MESSAGES_CREATE: Final = "anthropic.messages.create"
SPAN_MESSAGES_COUNT_TOKENS: Final = "anthropic.messages.count_tokens"
SPAN_ATTEMPT: Final = "anthropic.http.attempt"
SPAN_EVENT_PREFIX: Final = "tracer.event."  # + kind, e.g. "tracer.event.breaker_transition"

# --------------------------------------------------------------------------------------------------------------
# GenAI semantic conventions (and the names the SDK's native spans already use)
# --------------------------------------------------------------------------------------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"  # "chat", "count_tokens", "batch", ...
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"  # the client's: anthropic, aws.bedrock, gcp.vertex_ai
PROVIDER_ANTHROPIC: Final = "anthropic"  # when a span does not say (the SDK's clients always do)
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"  # semconv: uncached + cache read + cache write
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"  # includes thinking
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"  # thinking tokens
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # only with capture_content
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # only with capture_content
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"  # only with capture_content
# Agent runs. The SDK puts the conversation id of a client's `open_telemetry={"conversation_id": ...}`
# option on its call, tool-runner and tool spans; `tracer.conversation(id)` puts it there for a shared client.
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"  # on the SDK's tool-execution spans
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"  # gen_ai.operation.name of a tool execution span
OPERATION_INVOKE_AGENT: Final = "invoke_agent"  # gen_ai.operation.name of the SDK's tool-runner span
# Attributes whose values are message content, on the SDK's call, tool and agent spans (only with content capture).
CONTENT_ATTRIBUTES: Final = (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "anthropic.tool_result.content",
)
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # metric attribute: "input" | "output"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"  # latest conventions' counters; "unknown": no breakdown
TOKEN_MODALITY_UNKNOWN: Final = "unknown"  # the Messages API's usage is not broken down by modality

ERROR_TYPE: Final = "error.type"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_METHOD: Final = "http.request.method"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
URL_FULL: Final = "url.full"  # credentials and signed-URL query values redacted (see _attempts.safe_url)
SERVICE_NAME: Final = "service.name"  # resource attribute

# Names the SDK's native spans use, outside the GenAI conventions.
ANTHROPIC_REQUEST_ID: Final = "anthropic.request.id"
ANTHROPIC_REQUEST_SERVICE_TIER: Final = "anthropic.request.service_tier"
ANTHROPIC_RESPONSE_SERVICE_TIER: Final = "anthropic.response.service_tier"
ANTHROPIC_STOP_REASON: Final = "anthropic.message.stop_reason"
ANTHROPIC_CACHE_WRITE_5M_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_WRITE_1H_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS: Final = "anthropic.message.count_tokens.input_tokens"

# --------------------------------------------------------------------------------------------------------------
# Our call-span attributes (filled in what the SDK's span lacks)
# --------------------------------------------------------------------------------------------------------------

USAGE_UNCACHED_INPUT_TOKENS: Final = "tracer.usage.uncached_input_tokens"  # the API's usage.input_tokens
USAGE_WEB_SEARCH_REQUESTS: Final = "tracer.usage.web_search_requests"
# The tools a response asked for: its `tool_use`, `server_tool_use` and `mcp_tool_use` blocks (no convention yet).
TOOL_USE_NAMES: Final = "tracer.tool_use.names"  # the distinct names, in the order the blocks came
TOOL_USE_COUNT: Final = "tracer.tool_use.count"  # how many blocks
USAGE_WEB_FETCH_REQUESTS: Final = "tracer.usage.web_fetch_requests"
USAGE_INFERENCE_GEO: Final = "tracer.usage.inference_geo"
USAGE_SPEED: Final = "tracer.usage.speed"  # "fast" for fast mode
CALL_ATTEMPTS: Final = "tracer.call.attempts"  # HTTP attempts made, 1 = no retry
CALL_STREAMING: Final = "tracer.call.streaming"
CALL_TTFT_S: Final = "tracer.call.time_to_first_token"  # seconds; read as a fallback only: capture keeps the SDK's gen_ai.response.time_to_first_chunk
CALL_OUTPUT_TOKENS_PER_S: Final = "tracer.call.output_tokens_per_second"
CALL_STREAM_END: Final = "tracer.call.stream_end"  # "completed" | "closed_early" | "error" | "dropped"
CALL_BATCH: Final = "tracer.call.batch"  # True for a Message Batches result priced at the batch rate
TAG_PREFIX: Final = "tracer.tag."  # tracer.tags(feature="search") -> tracer.tag.feature = "search"
TAGS_DROPPED: Final = "tracer.tags.dropped"  # int: tags in force that the span does not carry (over a bound, unprintable)
TAGS_TRUNCATED: Final = "tracer.tags.truncated"  # int: tag keys and values the span carries cut to their bound

# Cost (the semantic conventions define no cost attribute).
COST_USD: Final = "tracer.cost.usd"  # float, for TraceQL/Tempo
COST_USD_EXACT: Final = "tracer.cost.usd_exact"  # the Decimal as a string; the store reads this one
COST_UNPRICED: Final = "tracer.cost.unpriced"  # True when the model has no price: cost is NULL, never 0
COST_PRICE_SOURCE: Final = "tracer.cost.source"  # "genai-prices", "override:<file>", ...
# A call with cache tokens, priced: what its cache reads saved against the input price, and what its cache writes
# cost beyond the input price, USD floats at the rates of its cost (`tracer._derived.cache_read_saving`,
# `cache_write_premium`). Absent without cache tokens or without a price.
COST_CACHE_READ_SAVED_USD: Final = "tracer.cost.cache_read_saved_usd"
COST_CACHE_WRITE_PREMIUM_USD: Final = "tracer.cost.cache_write_premium_usd"

# Billed iterations and refusals (docs/cost.md). JSON attributes are compact lists, bounded in length.
USAGE_ITERATIONS: Final = "tracer.usage.iterations"  # JSON: the response's usage.iterations, declined hops marked
USAGE_FALLBACK_HOPS: Final = "tracer.usage.fallback_hops"  # JSON: client-side fallback's refused responses
USAGE_FALLBACK_CREDIT: Final = "tracer.usage.fallback_credit"  # "redeemed" or "not_applied:<reason>"
COST_ITERATIONS: Final = "tracer.cost.iterations"  # JSON: per iteration kind, model, tokens, usd, billed, why
COST_REGIONAL: Final = "tracer.cost.regional"  # True: priced with the Bedrock/Vertex regional-endpoint premium
REFUSAL_CATEGORY: Final = "tracer.refusal.category"  # a refused call's stop_details.category ("null": none named)
REFUSAL_BILLED: Final = "tracer.refusal.billed"  # whether that refusal was billed
METRIC_REFUSALS: Final = "tracer.client.refusals"  # {call}, counter, by model, category and billed

# --------------------------------------------------------------------------------------------------------------
# Attempt-span attributes (also: HTTP_REQUEST_RESEND_COUNT, HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE,
# ANTHROPIC_REQUEST_ID)
# --------------------------------------------------------------------------------------------------------------

ATTEMPT_RETRY_AFTER_S: Final = "tracer.attempt.retry_after"  # seconds, from retry-after-ms / retry-after
ATTEMPT_SHOULD_RETRY: Final = "tracer.attempt.should_retry"  # the x-should-retry header, when sent
# What the attempt came to: ok, 429, 529, 5xx, timeout, connection, other (`tracer._derived.attempt_outcome`)
ATTEMPT_OUTCOME: Final = "tracer.attempt.outcome"
RATELIMIT_PREFIX: Final = "anthropic.ratelimit."  # + f"{kind}.{field}" below
RATELIMIT_KINDS: Final = ("requests", "tokens", "input_tokens", "output_tokens")
RATELIMIT_FIELDS: Final = ("limit", "remaining", "reset")


def ratelimit_attribute(kind: str, field: str) -> str:
    """`anthropic.ratelimit.tokens.remaining` from the header `anthropic-ratelimit-tokens-remaining`."""
    return f"{RATELIMIT_PREFIX}{kind}.{field}"


# error.type values on attempts and calls besides the HTTP status code as a string ("429", "529", ...)
ERROR_TYPE_TIMEOUT: Final = "timeout"
ERROR_TYPE_CONNECTION: Final = "connection"
ERROR_TYPE_STREAM_ERROR: Final = "stream_error"  # an SSE `error` event mid-stream
ERROR_TYPE_STREAM_TIMEOUT: Final = "stream_timeout"
ERROR_TYPE_UNFINISHED: Final = "unfinished"  # a streamed body still open when recording stopped (exit, uninstrument)
# A stream whose body ended cleanly without `message_stop`: the call is an error (its answer is incomplete) that the
# application did not see raised.
ERROR_TYPE_INCOMPLETE_STREAM: Final = "incomplete_stream"
ERROR_TYPE_CANCELLED: Final = "cancelled"  # the application cancelled the call (an asyncio task, say)

# --------------------------------------------------------------------------------------------------------------
# Resilience events (spans of type "event", see tracer/_events.py)
# --------------------------------------------------------------------------------------------------------------

EVENT_KIND: Final = "tracer.event.kind"
EVENT_NAME: Final = "tracer.event.name"  # the breaker / budget / limiter it concerns, e.g. "claude-opus-4-5"
EVENT_FROM_STATE: Final = "tracer.event.from_state"
EVENT_TO_STATE: Final = "tracer.event.to_state"
EVENT_REASON: Final = "tracer.event.reason"
EVENT_ATTRIBUTE_PREFIX: Final = "tracer.event.attr."  # free-form attributes of an event

EVENT_KIND_BREAKER_TRANSITION: Final = "breaker_transition"
EVENT_KIND_BREAKER_REJECTED: Final = "breaker_rejected"
EVENT_KIND_RETRY: Final = "retry"
EVENT_KIND_RETRY_EXHAUSTED: Final = "retry_exhausted"  # a retryable failure given up on (attempts or total time)
EVENT_KIND_DEADLINE: Final = "deadline"  # a stream deadline or idle timeout hit
EVENT_KIND_BUDGET_TRIP: Final = "budget_trip"
EVENT_KIND_BUDGET_WARNING: Final = "budget_warning"
EVENT_KIND_LIMITER_WAIT: Final = "limiter_wait"
EVENT_KIND_QUEUE_FLUSH: Final = "queue_flush"
EVENT_KIND_SUMMARISED: Final = "conversation_summarised"

# --------------------------------------------------------------------------------------------------------------
# Metrics. GenAI names with the semantic conventions' units and explicit bucket boundaries; ours under tracer.*.
# Prometheus exposition turns dots into underscores and appends the unit and `_total` for counters.
# --------------------------------------------------------------------------------------------------------------

METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"  # s, histogram
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"  # {token}, histogram, by gen_ai.token.type
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"  # s, histogram

DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

# The newest GenAI names (semantic-conventions-genai main), only with OTEL_SEMCONV_STABILITY_OPT_IN (see the top).
METRIC_INFERENCE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"  # counter, incl. cached
METRIC_INFERENCE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"  # counter, incl. reasoning
METRIC_INFERENCE_CACHE_READ_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"  # counter
METRIC_INFERENCE_CACHE_WRITE_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"  # counter
METRIC_INFERENCE_REASONING_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"  # counter
METRIC_INFERENCE_OPERATION_INPUT_TOKENS: Final = "gen_ai.client.inference.operation.input_tokens"  # histogram
METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS: Final = "gen_ai.client.inference.operation.output_tokens"  # histogram
METRIC_INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"  # s, histogram: inference operations only
METRIC_INFERENCE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"  # s, histogram
# The operations whose latency goes to gen_ai.client.inference.duration under the opt-in (#521's inference
# operation names); any other (count_tokens, batch) stays on gen_ai.client.operation.duration.
INFERENCE_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})

SEMCONV_OPT_IN_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
SEMCONV_GEN_AI_LATEST: Final = "gen_ai_latest_experimental"  # the newest names instead of the released ones
SEMCONV_GEN_AI_LATEST_DUP: Final = "gen_ai_latest_experimental/dup"  # both

# Every billed token, by what it is billed as: the kinds partition a call's tokens (their sum is all it billed).
METRIC_TOKENS: Final = "tracer.client.tokens"  # {token}, counter, by model, provider and tracer.token.kind
TOKEN_KIND: Final = "tracer.token.kind"
TOKEN_KINDS: Final = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "thinking")
# "input" is uncached input; "output" is output other than thinking (both billed at the output rate).

METRIC_ATTEMPTS: Final = "tracer.client.attempts"  # {attempt}, counter, by model and tracer.attempt.outcome
METRIC_RETRIES: Final = "tracer.client.retries"  # {retry}, counter, by model and the status that caused it
METRIC_COST: Final = "tracer.client.cost"  # USD, counter, by model and the tag keys chosen as labels (none by default)
TAG_LABEL_OVERFLOW: Final = "_other"  # a tag label's value past the cap of distinct values per key
METRIC_UNPRICED_CALLS: Final = "tracer.client.unpriced_calls"  # {call}, counter, by model
METRIC_RATELIMIT_REMAINING: Final = "tracer.ratelimit.remaining"  # gauge, by model and kind
METRIC_RATELIMIT_LIMIT: Final = "tracer.ratelimit.limit"  # gauge, by model and kind: headroom = remaining / limit
METRIC_RESILIENCE_EVENTS: Final = "tracer.resilience.events"  # {event}, counter, by kind and name
METRIC_BREAKER_STATE: Final = "tracer.breaker.state"  # gauge 0 closed, 1 half-open, 2 open, by name
METRIC_QUEUE_WAIT: Final = "tracer.queue.wait"  # s, histogram, limiter and batch queue wait, by name
METRIC_QUEUE_DEPTH: Final = "tracer.queue.depth"  # gauge, by name
METRIC_STORE_DROPPED_SPANS: Final = "tracer.store.dropped_spans"  # {span}, counter
METRIC_STORE_DAMAGED_ROWS: Final = "tracer.store.damaged_rows"  # {row}, counter: rows kept with a value as NULL
# Everything the pipeline dropped before an exporter had it (tracer/_drops.py), cumulative per process: spans at a
# batch processor's full queue, deferred items (an attempt span, a call's metrics) at the worker's full deque, spans
# the store's exporter could not keep or write. By stage, and for a processor or exporter what it feeds.
METRIC_DROPPED: Final = "tracer.dropped"  # {item}, counter, by tracer.drop.stage and tracer.drop.exporter
DROP_STAGE: Final = "tracer.drop.stage"
DROP_STAGES: Final = ("processor_queue", "worker_queue", "exporter")
DROP_EXPORTER: Final = "tracer.drop.exporter"  # "store" | "otlp"; absent for the worker, which feeds both

# Metric attribute keys beyond the span attribute names above.
METRIC_ATTR_MODEL: Final = GEN_AI_REQUEST_MODEL
METRIC_ATTR_RATELIMIT_KIND: Final = "tracer.ratelimit.kind"

# Instrument kind and unit of every metric above. The Prometheus name is derived from (name, unit, kind): dots to
# underscores, the unit's Prometheus word appended ("s" -> "_seconds", "USD" -> "_USD", "{token}" -> nothing), and
# "_total" for counters; tests/grafana/promnames.py holds that translation and checks the dashboards with it.
# Never give a gauge the unit "1": the collector's exporter appends "_ratio" where the Python exporter does not.
METRIC_INSTRUMENTS: Final[dict[str, tuple[str, str]]] = {
    METRIC_OPERATION_DURATION: ("histogram", "s"),
    METRIC_TOKEN_USAGE: ("histogram", "{token}"),
    METRIC_TIME_TO_FIRST_CHUNK: ("histogram", "s"),
    METRIC_INFERENCE_INPUT_TOKENS: ("counter", "{token}"),
    METRIC_INFERENCE_OUTPUT_TOKENS: ("counter", "{token}"),
    METRIC_INFERENCE_CACHE_READ_TOKENS: ("counter", "{token}"),
    METRIC_INFERENCE_CACHE_WRITE_TOKENS: ("counter", "{token}"),
    METRIC_INFERENCE_REASONING_TOKENS: ("counter", "{token}"),
    METRIC_INFERENCE_OPERATION_INPUT_TOKENS: ("histogram", "{token}"),
    METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS: ("histogram", "{token}"),
    METRIC_INFERENCE_DURATION: ("histogram", "s"),
    METRIC_INFERENCE_TIME_TO_FIRST_CHUNK: ("histogram", "s"),
    METRIC_TOKENS: ("counter", "{token}"),
    METRIC_ATTEMPTS: ("counter", "{attempt}"),
    METRIC_RETRIES: ("counter", "{retry}"),
    METRIC_COST: ("counter", "USD"),
    METRIC_UNPRICED_CALLS: ("counter", "{call}"),
    METRIC_RATELIMIT_REMAINING: ("gauge", "{count}"),
    METRIC_RATELIMIT_LIMIT: ("gauge", "{count}"),
    METRIC_RESILIENCE_EVENTS: ("counter", "{event}"),
    METRIC_BREAKER_STATE: ("gauge", "{state}"),
    METRIC_QUEUE_WAIT: ("histogram", "s"),
    METRIC_QUEUE_DEPTH: ("gauge", "{item}"),
    METRIC_STORE_DROPPED_SPANS: ("counter", "{span}"),
    METRIC_STORE_DAMAGED_ROWS: ("counter", "{row}"),
    METRIC_DROPPED: ("counter", "{item}"),
    METRIC_REFUSALS: ("counter", "{call}"),
}
