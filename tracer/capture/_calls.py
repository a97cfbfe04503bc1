"""Call spans: one per API call, the SDK's own or ours, classified when they start and completed as they end.

`CallSpanProcessor.on_start` marks a call span (`tracer.span.type=call`, its source, the `tracer.tags` in force)
and wraps its `end`, so that just before the span ends (however it ends: a response, an error, a stream read to
the end, closed early, or dropped) `call_attributes` adds what the SDK's span lacks: uncached input tokens,
attempts, streaming, output tokens per second (those two by their one definition, `tracer._derived`), how the
stream ended, and the cost. Adding
them before the end (and not in `on_end`, where a span can no longer change) lets every exporter on the
provider see them, the application's own included.

`call_attributes` is a pure function of the span's attributes, tested without I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from tracer import _compat, semconv
from tracer._derived import output_tokens_per_s, uncached_input
from tracer._spans import add_attributes, attribute_room, before_end, ours_or_sdks, raw_attributes
from tracer._tags import current_conversation, fit_tags, tag_attributes
from tracer.capture import _metrics
from tracer.capture._processor import BeforeEndProcessor
from tracer.cost import PriceTable, TokenCounts
from tracer.cost._billed import Iteration, counts_of, iterations_from, iterations_of, price_iterations

log = logging.getLogger("tracer.capture")

_NOT_CALLS = frozenset({semconv.SPAN_ATTEMPT})
_PRICED_OPERATIONS = frozenset({"chat"})


def _count_or_zero(value: Any) -> int:
    """A usage count to price with: the int, or 0 for no value (or one that is not an int: `malformed_usage`
    has already left such a call unpriced)."""
    return value if type(value) is int else 0


def call_attributes(
    attrs: Mapping[str, Any],
    *,
    duration_s: float,
    prices: PriceTable | None,
    status_code: StatusCode | None = None,
    scope: str | None = None,
) -> dict[str, Any]:
    """What a finished call span gets on top of the SDK's attributes. Pure; raises nothing for odd input.

    >>> call_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-5",
    ...     "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200}, duration_s=1.0,
    ...     prices=None)["tracer.usage.uncached_input_tokens"]
    1000
    """
    get = attrs.get
    out: dict[str, Any] = {semconv.CALL_ATTEMPTS: _count_or_zero(get(semconv.HTTP_REQUEST_RESEND_COUNT)) + 1}
    if status_code is StatusCode.UNSET and get(semconv.HTTP_RESPONSE_STATUS_CODE) is None and get(semconv.ERROR_TYPE) is None:
        # The SDK ends a call span that got no response with its status unset only when the call was stopped by the
        # application (asyncio's CancelledError, KeyboardInterrupt: not an Exception, so not an error to the SDK).
        # The application saw its call fail: the call is an error, `cancelled`, not ok.
        out[semconv.ERROR_TYPE] = semconv.ERROR_TYPE_CANCELLED
    stop_reason = get(semconv.ANTHROPIC_STOP_REASON)
    if isinstance(stop_reason, str):  # the conventions' list, one per generation; the API's own words
        out[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = (stop_reason,)
    streaming = get(semconv.GEN_AI_REQUEST_STREAM) is True
    out[semconv.CALL_STREAMING] = streaming
    ttft = get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)  # the SDK's; not copied under a name of ours
    output = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if streaming:
        if status_code is StatusCode.ERROR:
            out[semconv.CALL_STREAM_END] = "error"
        elif output is not None and get(semconv.ANTHROPIC_STOP_REASON) is not None:
            out[semconv.CALL_STREAM_END] = "completed"
        else:
            out[semconv.CALL_STREAM_END] = "closed_early"

    ended_ok = status_code is not StatusCode.ERROR and get(semconv.ERROR_TYPE) is None and semconv.ERROR_TYPE not in out
    speed = output_tokens_per_s(output, duration_s, ttft if streaming else None, ok=ended_ok)
    if speed is not None:
        out[semconv.CALL_OUTPUT_TOKENS_PER_S] = speed

    total_in = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    if malformed_usage(attrs):
        # A count that is negative or not a whole number (the SDK records what the response said): pricing what is
        # left would under-count the call, so it is unpriced, never 0 (the store says why: `malformed_usage`).
        if get(semconv.GEN_AI_OPERATION_NAME) in _PRICED_OPERATIONS and status_code is not StatusCode.ERROR:
            out[semconv.COST_UNPRICED] = True
        return out
    if type(total_in) is not int:
        return out  # no usage (a failed call, count_tokens, batches): nothing to price
    cache_read = _count_or_zero(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
    cache_write = _count_or_zero(get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS))
    uncached = uncached_input(total_in, cache_read, cache_write)
    out[semconv.USAGE_UNCACHED_INPUT_TOKENS] = uncached
    if prices is None or get(semconv.GEN_AI_OPERATION_NAME) not in _PRICED_OPERATIONS:
        return out
    model = get(semconv.GEN_AI_RESPONSE_MODEL) or get(semconv.GEN_AI_REQUEST_MODEL)
    if not isinstance(model, str):
        return out
    write_1h = _count_or_zero(get(semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS))
    write_5m = max(cache_write - write_1h, 0)
    thinking = _count_or_zero(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS))
    counts = TokenCounts(
        uncached,
        write_5m,
        write_1h,
        cache_read,
        max(_count_or_zero(output), thinking),
        thinking,
        _count_or_zero(get(semconv.USAGE_WEB_SEARCH_REQUESTS)),
        get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER),
        get(semconv.USAGE_INFERENCE_GEO),
        get(semconv.USAGE_SPEED),
    )
    regional = _regional(scope, get(semconv.GEN_AI_REQUEST_MODEL), get(semconv.SERVER_ADDRESS))
    refusal = get(semconv.REFUSAL_CATEGORY)
    if (
        refusal is None
        and not regional
        and semconv.USAGE_ITERATIONS not in attrs
        and semconv.USAGE_FALLBACK_HOPS not in attrs
    ):
        # The common case: one model's usage, one quote (the hot path; see benchmarks/cost.py).
        quote = prices.quote(model, counts)
        if quote is None:
            out[semconv.COST_UNPRICED] = True
            return out
        out[semconv.COST_USD_EXACT], out[semconv.COST_USD], out[semconv.COST_PRICE_SOURCE], cache = quote
        if cache is not None:
            out[semconv.COST_CACHE_READ_SAVED_USD], out[semconv.COST_CACHE_WRITE_PREMIUM_USD] = cache
        return out
    out.update(_billed_attributes(attrs, model, counts, prices, regional, refusal))
    return out


_USAGE_ATTRIBUTES = (
    semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, semconv.USAGE_WEB_SEARCH_REQUESTS,
)  # fmt: skip


def malformed_usage(attrs: Mapping[str, Any]) -> bool:
    """Whether the usage on a call span cannot be priced as it is: a count that is negative or not an int, output
    tokens without input tokens or, not streamed, input without output (the SDK leaves out a count that is not a
    number). Pure.

    >>> malformed_usage({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": -10})
    True
    >>> malformed_usage({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
    False
    """
    get = attrs.get
    for name in _USAGE_ATTRIBUTES:
        value = get(name)
        if value is not None and (type(value) is not int or value < 0):
            return True
    total_in, output = get(semconv.GEN_AI_USAGE_INPUT_TOKENS), get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if total_in is None:
        return output is not None
    # A stream closed early has no output count yet; a body answered in full always has one.
    return output is None and get(semconv.GEN_AI_REQUEST_STREAM) is not True


def _regional(scope: str | None, requested: Any, server: Any) -> bool:
    """Whether the call went to a regional or multi-region endpoint, from what its client was configured with: a
    Bedrock client (its span's scope) with a model ID that is not a `global.` inference profile, or a Vertex client
    whose base URL (the span's `server.address`) is not the global `aiplatform.googleapis.com`.

    >>> _regional("com.anthropic.sdk.python.vertex", "claude-sonnet-4-5", "us-east5-aiplatform.googleapis.com")
    True
    """
    if scope is None or not isinstance(requested, str):
        return False
    if scope.endswith(".bedrock"):
        return not requested.startswith("global.")
    if scope.endswith(".vertex"):
        return isinstance(server, str) and server != _VERTEX_GLOBAL
    return False


_VERTEX_GLOBAL = "aiplatform.googleapis.com"  # region "global"; us/eu multi-regions and regions have other hosts


def _rows(value: Any) -> list[Any]:
    if not isinstance(value, str):
        return []
    try:
        rows = json.loads(value)
    except ValueError:
        return []
    return rows if isinstance(rows, list) else []


def _billed_attributes(
    attrs: Mapping[str, Any], model: str, counts: TokenCounts, prices: PriceTable, regional: bool, refusal: Any
) -> dict[str, Any]:
    """The call's cost as the sum of its billed iterations (docs/cost.md), and the breakdown on the span."""
    rows = _rows(attrs.get(semconv.USAGE_ITERATIONS))
    stop_reason = attrs.get(semconv.ANTHROPIC_STOP_REASON)
    if stop_reason is not None and stop_reason != "refusal":
        refusal = None  # the category an earlier (declined) hop's response left on the span: not this message's
    if rows:
        iterations = iterations_of(rows, counts)
    else:
        iterations = [Iteration("message", model, counts, refusal if isinstance(refusal, str) else None)]
    # Client-side fallback: the refused responses before the one returned, each its own request and bill.
    response_id = attrs.get(semconv.GEN_AI_RESPONSE_ID)
    hops = [h for h in _rows(attrs.get(semconv.USAGE_FALLBACK_HOPS)) if isinstance(h, dict) and h.get("id") != response_id]
    declined = [
        Iteration("hop", h.get("model"), counts_of(h, counts.service_tier, counts.inference_geo, counts.speed),
                  h.get("refusal") or "null")
        for h in hops
    ]  # fmt: skip
    bill = price_iterations(
        prices,
        [*declined, *iterations],
        default_model=model,
        refusal_rules=prices.refusal_rules,
        regional=regional,
        day=dt.datetime.now(dt.UTC).date(),
    )
    out: dict[str, Any] = {semconv.COST_ITERATIONS: bill.breakdown_json()}
    if regional:
        out[semconv.COST_REGIONAL] = True
    refused = [line for line in bill.lines if line.refusal is not None]
    if refused:
        # The call met a refusal: its own, or a declined fallback hop's (the first one, for counting by category).
        out[semconv.REFUSAL_CATEGORY] = refused[0].refusal
        out[semconv.REFUSAL_BILLED] = refused[0].billed
    if bill.total is None:
        out[semconv.COST_UNPRICED] = True
        return out
    out[semconv.COST_USD_EXACT] = str(bill.total)
    out[semconv.COST_USD] = float(bill.total)
    out[semconv.COST_PRICE_SOURCE] = bill.source or ""
    if bill.cache_usd is not None:
        out[semconv.COST_CACHE_READ_SAVED_USD], out[semconv.COST_CACHE_WRITE_PREMIUM_USD] = bill.cache_usd
    return out


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _plain(entry: Any) -> dict[str, Any]:
    """A `usage.iterations` entry (a dict from JSON, or an SDK model) as a dict of what pricing reads."""
    if isinstance(entry, dict):
        return entry
    creation = getattr(entry, "cache_creation", None)
    return {
        "type": getattr(entry, "type", None),
        "model": getattr(entry, "model", None),
        "input_tokens": getattr(entry, "input_tokens", None),
        "cache_creation_input_tokens": getattr(entry, "cache_creation_input_tokens", None),
        "cache_read_input_tokens": getattr(entry, "cache_read_input_tokens", None),
        "output_tokens": getattr(entry, "output_tokens", None),
        "cache_creation": None
        if creation is None
        else {"ephemeral_1h_input_tokens": getattr(creation, "ephemeral_1h_input_tokens", None)},
    }


def billing_attributes(message: Any) -> dict[str, Any]:
    """What a Message (a decoded body, or the SDK's model) tells the call span about its bill beyond the top-level
    usage: its iterations (declined hops marked with their refusal category, from the `fallback` blocks), its own
    refusal category, and the fallback credit's outcome. Pure; raises nothing for odd input.

    >>> billing_attributes({"stop_reason": "refusal", "stop_details": {"category": None}, "usage": {}})
    {'tracer.refusal.category': 'null'}
    """
    out: dict[str, Any] = {}
    try:
        usage = _get(message, "usage")
        entries = _get(usage, "iterations")
        if isinstance(entries, list) and entries:
            seams = []
            for block in _get(message, "content") or ():
                if _get(block, "type") == "fallback":
                    origin = block.get("from") if isinstance(block, dict) else getattr(block, "from_", None)
                    trigger = _get(block, "trigger")
                    seams.append((_get(origin, "model"), _get(trigger, "category")))
            rows = iterations_from([_plain(e) for e in entries], seams)
            out[semconv.USAGE_ITERATIONS] = json.dumps(rows, separators=(",", ":"))
        if _get(message, "stop_reason") == "refusal":
            out[semconv.REFUSAL_CATEGORY] = _get(_get(message, "stop_details"), "category") or "null"
        status = _get(_get(usage, "fallback_credit"), "status")
        kind = _get(status, "type")
        if isinstance(kind, str):
            reason = _get(status, "reason")
            out[semconv.USAGE_FALLBACK_CREDIT] = kind if reason is None else f"{kind}:{reason}"
    except Exception:
        log.debug("could not read a message's billing fields", exc_info=True)
    return out


_TOOL_USE_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
MAX_TOOL_NAMES = 32  # distinct names kept on a span (each cut to 128 characters); the count counts every block


def tool_use_attributes(message: Any) -> dict[str, Any]:
    """The tools a Message (a decoded body, or the SDK's model) asked for: its `tool_use`, `server_tool_use` and
    `mcp_tool_use` blocks' distinct names in order, and how many blocks. Empty when it asked for none. Pure; raises
    nothing for odd input.

    >>> tool_use_attributes({"content": [{"type": "text", "text": "..."}, {"type": "tool_use", "name": "search"},
    ...     {"type": "server_tool_use", "name": "web_search"}, {"type": "tool_use", "name": "search"}]})
    {'tracer.tool_use.names': ('search', 'web_search'), 'tracer.tool_use.count': 3}
    """
    try:
        names: dict[str, None] = {}
        count = 0
        for block in _get(message, "content") or ():
            if _get(block, "type") in _TOOL_USE_BLOCKS:
                count += 1
                name = _get(block, "name")
                if isinstance(name, str) and len(names) < MAX_TOOL_NAMES:
                    names[name[:128]] = None
        if count:
            return {semconv.TOOL_USE_NAMES: tuple(names), semconv.TOOL_USE_COUNT: count}
    except Exception:
        log.debug("could not read a message's tool use", exc_info=True)
    return {}


_MAX_HOPS = 8  # a fallback chain is at most a few models long; a runaway loop must not grow the span without end


def hop_attributes(message: dict[str, Any], hops: Any) -> dict[str, Any]:
    """For a refused, not-streamed response: `hops` (the call span's JSON list so far) with this response added,
    so that a client-side fallback's declined hops are billed even though the message returned lacks them. Pure.

    >>> hop_attributes({"id": "msg_1", "model": "m", "stop_reason": "refusal", "stop_details": {"category": "bio"},
    ...     "usage": {"input_tokens": 5, "output_tokens": 0}}, None)["tracer.usage.fallback_hops"]
    '[{"id":"msg_1","model":"m","refusal":"bio","input_tokens":5,"output_tokens":0}]'
    """
    if message.get("stop_reason") != "refusal":
        return {}
    raw = message.get("usage")
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    hop = {"id": message.get("id"), "model": message.get("model"),
           "refusal": _get(message.get("stop_details"), "category") or "null"}  # fmt: skip
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"):
        if key in usage:
            hop[key] = usage[key]
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):
        hop["cache_creation"] = {"ephemeral_1h_input_tokens": creation.get("ephemeral_1h_input_tokens")}
    rows = _rows(hops)[-(_MAX_HOPS - 1) :]
    return {semconv.USAGE_FALLBACK_HOPS: json.dumps([*rows, hop], separators=(",", ":"))}


def streamed_usage_attributes(usage: Any, *, final: bool) -> dict[str, Any]:
    """What a streamed Message's `usage` (a model) tells its call span beyond the SDK's attributes. Pure.

    The same fields that `body_usage_attributes` reads from a non-streamed body: inference geography and speed
    (from `message_start` on), web search and fetch requests (counts that are final only once `message_delta` has
    come, so only with `final`).

    >>> from anthropic.types import Usage
    >>> streamed_usage_attributes(Usage(input_tokens=5, output_tokens=9, inference_geo="us",
    ...     server_tool_use={"web_search_requests": 2, "web_fetch_requests": 0}), final=True)
    {'tracer.usage.inference_geo': 'us', 'tracer.usage.web_search_requests': 2, 'tracer.usage.web_fetch_requests': 0}
    """
    out: dict[str, Any] = {}
    geo = getattr(usage, "inference_geo", None)
    if isinstance(geo, str):
        out[semconv.USAGE_INFERENCE_GEO] = geo
    speed = getattr(usage, "speed", None)
    if isinstance(speed, str):
        out[semconv.USAGE_SPEED] = speed
    tools = getattr(usage, "server_tool_use", None) if final else None
    if tools is not None:
        for field, attribute in (("web_search_requests", semconv.USAGE_WEB_SEARCH_REQUESTS),
                                 ("web_fetch_requests", semconv.USAGE_WEB_FETCH_REQUESTS)):  # fmt: skip
            count = getattr(tools, field, None)
            if type(count) is int:
                out[attribute] = count
    return out


def record_streamed_usage(recorder: Any) -> None:
    """Before the SDK's `StreamedMessage` ends a stream's call span: add `streamed_usage_attributes`. Never raises.

    It reads the Message as the SDK's `end` is about to: the stream helper's shared snapshot, else the one built
    from the events; final once `message_delta` has come and the helper did not withhold its snapshot.
    """
    try:
        state = _compat.streamed_message_state(recorder)
        if state is None:
            return
        span, message, final = state
        if message is None or not span.is_recording():
            return
        extra = streamed_usage_attributes(getattr(message, "usage", None), final=final)
        if final:
            extra.update(billing_attributes(message))
        extra.update(tool_use_attributes(message))  # the blocks that came, also of a stream closed early
        if extra:
            span.set_attributes(extra)
    except Exception:
        log.debug("could not record a stream's usage", exc_info=True)


def is_call_span(span: Any) -> bool:
    """Whether a span that just started is an API call span: the SDK's, or one of ours made the SDK's way.

    Every call span the SDK's code starts has `http.request.method` among its start attributes and a name
    `anthropic.<resource>.<method>`; its other spans (tool runs, sessions) do not.
    """
    if not ours_or_sdks(span):
        return False
    name = span.name
    if not name.startswith("anthropic.") or name in _NOT_CALLS:
        return False
    attrs = raw_attributes(span)  # a miss through the SDK's mapping raises and catches a KeyError inside
    return semconv.HTTP_REQUEST_METHOD in attrs and semconv.SPAN_TYPE not in attrs


class CallSpanProcessor(BeforeEndProcessor):
    """Marks call spans on start and completes them just before they end (see the module docstring)."""

    def __init__(self, prices: Callable[[], PriceTable | None]) -> None:
        self._prices = prices

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if not self.active:
            return
        try:
            conversation = current_conversation()
            # `tracer.conversation(...)` for the SDK's call, tool-runner and tool spans; a client's own option,
            # already on the span, wins.
            if (conversation is not None and ours_or_sdks(span)
                    and semconv.GEN_AI_CONVERSATION_ID not in raw_attributes(span)):  # fmt: skip
                span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, conversation)
            if is_call_span(span):
                # Only what must be read now: the tags in force where the call starts (a stream may end outside the
                # `with tracer.tags(...)` block). Everything is set once, as the span ends.
                self._wrap_end(span, tag_attributes())
        except Exception:
            log.debug("could not mark a call span", exc_info=True)

    def _wrap_end(self, span: Any, tags: dict[str, str]) -> None:
        prices = self._prices

        def complete(end_time: int | None) -> None:
            if span.is_recording():
                _complete(span, prices, end_time, tags)

        before_end(span, complete)



def _complete(span: Any, prices: Callable[[], PriceTable | None], end_time: int | None, tags: dict[str, str]) -> None:
    """Zone 2 of a call span's end: add our attributes and record the call's metrics. Never raises."""
    try:
        attrs = raw_attributes(span)
        end_ns = end_time if end_time is not None else time.time_ns()
        duration_s = (end_ns - (span.start_time or end_ns)) / 1e9
        scope = span.instrumentation_scope.name
        extra = call_attributes(
            attrs, duration_s=duration_s, prices=prices(), status_code=span.status.status_code, scope=scope
        )
        extra[semconv.SPAN_TYPE] = semconv.SPAN_TYPE_CALL
        extra[semconv.CALL_SPAN_SOURCE] = "tracer" if scope == semconv.SCOPE else "anthropic"
        if _compat.body_was_read(span) and attrs.get(semconv.ERROR_TYPE) == "api_error":
            # The SDK fails a stream whose bytes ended cleanly before `message_stop` with `api_error`, the same as an
            # `error` event; but the application saw no error here, only an answer cut short.
            extra[semconv.ERROR_TYPE] = semconv.ERROR_TYPE_INCOMPLETE_STREAM
        if tags:  # the call's own attributes first: the tags get the room the span's attribute limit leaves
            extra.update(fit_tags(tags, attribute_room(span, attrs, extra)))
        add_attributes(span, attrs, extra)
        _metrics.record_call(attrs, extra, duration_s, span.get_span_context())
    except Exception:
        log.debug("could not complete a call span", exc_info=True)


def hop_attempt_attributes(body: bytes) -> dict[str, Any]:
    """The attempt span of one client-side fallback hop: the model that answered it, its tokens and its own cost
    (refusal rules applied). On the worker thread. Never raises.

    >>> hop_attempt_attributes(b'{"model": "claude-haiku-4-5", "stop_reason": "end_turn",'
    ...     b' "usage": {"input_tokens": 1000, "output_tokens": 0}}')["tracer.cost.usd_exact"]
    '0.001'
    """
    try:
        message = json.loads(body)
        model = message.get("model")
        usage = message.get("usage")
        if not isinstance(model, str) or not isinstance(usage, dict):
            return {}
        from tracer import cost

        table = cost.default_table()
        refusal = None
        if message.get("stop_reason") == "refusal":
            refusal = _get(message.get("stop_details"), "category") or "null"
        counts = counts_of(usage, usage.get("service_tier"), usage.get("inference_geo"), usage.get("speed"))
        bill = price_iterations(table, [Iteration("hop", model, counts, refusal)], refusal_rules=table.refusal_rules)
        out: dict[str, Any] = {
            semconv.GEN_AI_RESPONSE_MODEL: model,
            semconv.GEN_AI_USAGE_INPUT_TOKENS: counts.prompt_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: counts.output,
        }
        if refusal is not None:
            out[semconv.REFUSAL_CATEGORY] = refusal
            out[semconv.REFUSAL_BILLED] = bill.lines[0].billed
        if bill.total is None:
            out[semconv.COST_UNPRICED] = True
        else:
            out[semconv.COST_USD_EXACT] = str(bill.total)
            out[semconv.COST_USD] = float(bill.total)
        return out
    except Exception:
        log.debug("could not price a fallback hop's attempt", exc_info=True)
        return {}


# -- calls the sampler dropped ------------------------------------------------------------------------------------
# A call whose span is not recording (a sampler kept another trace) is still billed: its tokens and cost must count
# in the metrics and in the store's totals. The attempt wrapper (`_attempts`) sees its response; on the caller's
# thread it only keeps the body (or, for a stream, the chunks as they pass); the rest happens on the worker.

_store_sink: list[Any] = []  # the store's span processor (a _Switch), set by instrument()


def set_unsampled_sink(processor: Any) -> None:
    """Where the call rows of unsampled calls go: the store's span processor, or None (no store)."""
    _store_sink[:] = [] if processor is None else [processor]


class Unsampled:
    """One sampled-out call's answer as it arrives: made on the caller's thread, finished on the worker."""

    __slots__ = ("call_span", "chunks", "model", "start_ns", "tags")

    def __init__(self, call_span: Any, model: str | None, start_ns: int) -> None:
        self.call_span = call_span
        self.model = model
        self.start_ns = start_ns
        self.tags = tag_attributes()  # the tags in force now, where the call is made
        self.chunks: list[Any] = []  # a stream's message_start, content_block_start and message_delta events

    def finish(self, body: bytes | None) -> None:
        """Queue the worker's part: `body` for a non-streamed answer, None when the kept events are the stream."""
        from tracer.capture import _worker

        _worker.defer(_record_unsampled, self, body, time.time_ns())


def _streamed_message(events: list[Any]) -> dict[str, Any] | None:
    """The Message a stream's events amount to, as far as its bill goes: id, model, usage (message_start's, then
    message_delta's cumulative counts over it), stop reason and details, and the `fallback` blocks."""
    message: dict[str, Any] | None = None
    for event in events:
        payload = event.to_dict() if hasattr(event, "to_dict") else event
        kind = payload.get("type")
        if kind == "message_start":
            message = dict(payload.get("message") or {})
            message["content"] = []
        elif message is not None and kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "fallback" or block.get("type") in _TOOL_USE_BLOCKS:
                message["content"].append(block)
        elif message is not None and kind == "message_delta":
            delta = payload.get("delta") or {}
            message["stop_reason"] = delta.get("stop_reason")
            message["stop_details"] = delta.get("stop_details")
            message["usage"] = {**(message.get("usage") or {}), **(payload.get("usage") or {})}
    return message


def message_span_attributes(message: dict[str, Any], requested: str | None, streaming: bool) -> dict[str, Any]:
    """The attributes a recorded call span would carry for this Message (the SDK's names and ours). Pure.

    >>> a = message_span_attributes({"id": "msg_1", "model": "m", "stop_reason": "end_turn",
    ...     "usage": {"input_tokens": 3, "cache_read_input_tokens": 2, "output_tokens": 5}}, "m", False)
    >>> a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]
    (5, 5)
    """
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    read = _count_or_zero(usage.get("cache_read_input_tokens"))
    write = _count_or_zero(usage.get("cache_creation_input_tokens"))
    creation = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else {}
    details = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_STREAM: streaming,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: _count_or_zero(usage.get("input_tokens")) + read + write,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: _count_or_zero(usage.get("output_tokens")),
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: read,
        semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: write,
        semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS: _count_or_zero((creation or {}).get("ephemeral_1h_input_tokens")),
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: _count_or_zero((details or {}).get("thinking_tokens")),
    }
    for attribute, value in (
        (semconv.GEN_AI_REQUEST_MODEL, requested),
        (semconv.GEN_AI_RESPONSE_MODEL, message.get("model")),
        (semconv.GEN_AI_RESPONSE_ID, message.get("id")),
        (semconv.ANTHROPIC_STOP_REASON, message.get("stop_reason")),
        (semconv.ANTHROPIC_RESPONSE_SERVICE_TIER, usage.get("service_tier")),
        (semconv.USAGE_INFERENCE_GEO, usage.get("inference_geo")),
        (semconv.USAGE_SPEED, usage.get("speed")),
    ):
        if isinstance(value, str):
            attrs[attribute] = value
    tools = usage.get("server_tool_use")
    if isinstance(tools, dict) and type(tools.get("web_search_requests")) is int:
        attrs[semconv.USAGE_WEB_SEARCH_REQUESTS] = tools["web_search_requests"]
    attrs.update(billing_attributes(message))
    attrs.update(tool_use_attributes(message))
    return attrs


def _record_unsampled(call: Unsampled, body: bytes | None, end_ns: int) -> None:
    """On the worker: price the call, record its metrics (no latency: it is not one the sampler kept), and hand a
    finished call span, never exported elsewhere, to the store. Never raises."""
    try:
        message = json.loads(body) if body is not None else _streamed_message(call.chunks)
        if not isinstance(message, dict) or message.get("type") != "message":  # count_tokens, batches, models: not calls to bill
            return
        from tracer import cost

        attrs = message_span_attributes(message, call.model, body is None)
        extra = call_attributes(attrs, duration_s=(end_ns - call.start_ns) / 1e9, prices=cost.default_table())
        extra[semconv.SPAN_TYPE] = semconv.SPAN_TYPE_CALL
        extra[semconv.CALL_SPAN_SOURCE] = "unsampled"
        extra.update(call.tags)
        attrs.update(extra)
        _metrics._record_call(attrs, extra, None)
        if _store_sink:
            _store_sink[0].on_end(_finished_span(call, attrs, end_ns))
    except Exception:
        log.debug("could not record a sampled-out call", exc_info=True)


def _finished_span(call: Unsampled, attrs: dict[str, Any], end_ns: int) -> ReadableSpan:
    from opentelemetry import trace
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    context = call.call_span.get_span_context()
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    extra: dict[str, Any] = {} if resource is None else {"resource": resource}
    return ReadableSpan(
        name=semconv.SPAN_MESSAGES_CREATE,
        # The call's own ids, flagged sampled for the store's batch processor, which drops spans that are not: this
        # row goes to the store alone, never to an exporter the sampler governs.
        context=SpanContext(context.trace_id, context.span_id, False, TraceFlags(TraceFlags.SAMPLED)),
        attributes=attrs,
        **extra,
        kind=SpanKind.CLIENT,
        start_time=call.start_ns,
        end_time=end_ns,
        instrumentation_scope=InstrumentationScope(semconv.ANTHROPIC_SCOPE),
    )
