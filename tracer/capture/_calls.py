"""Call spans: one per API call, the SDK's own or ours, classified when they start and completed as they end.

`CallSpanProcessor.on_start` marks a call span (`tracer.span.type=call`, its source, the `tracer.tags` in force)
and wraps its `end`, so that just before the span ends (however it ends: a response, an error, a stream read to
the end, closed early, or dropped) `call_attributes` adds what the SDK's span lacks: uncached input tokens,
attempts, streaming, time to first token, output tokens per second, how the stream ended, and the cost. Adding
them before the end (and not in `on_end`, where a span can no longer change) lets every exporter on the
provider see them, the application's own included.

`call_attributes` is a pure function of the span's attributes, tested without I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from tracer import semconv
from tracer._spans import add_attributes, raw_attributes
from tracer._tags import tag_attributes
from tracer.capture import _metrics
from tracer.cost import PriceTable, TokenCounts

log = logging.getLogger("tracer.capture")

_NOT_CALLS = frozenset({semconv.SPAN_ATTEMPT})
_PRICED_OPERATIONS = frozenset({"chat"})


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def call_attributes(
    attrs: Mapping[str, Any], *, duration_s: float, prices: PriceTable | None, status_code: StatusCode | None = None
) -> dict[str, Any]:
    """What a finished call span gets on top of the SDK's attributes. Pure; raises nothing for odd input.

    >>> call_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-5",
    ...     "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200}, duration_s=1.0,
    ...     prices=None)["tracer.usage.uncached_input_tokens"]
    1000
    """
    get = attrs.get
    out: dict[str, Any] = {semconv.CALL_ATTEMPTS: _int(get(semconv.HTTP_REQUEST_RESEND_COUNT)) + 1}
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
        # Over the generation after the first token; a window under a millisecond (a whole short answer arriving
        # at once) gives no meaningful rate.
        if type(output) is int and isinstance(ttft, float) and duration_s - ttft >= 0.001:
            out[semconv.CALL_OUTPUT_TOKENS_PER_S] = output / (duration_s - ttft)

    total_in = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    if type(total_in) is not int:
        return out  # no usage (a failed call, count_tokens, batches): nothing to price
    cache_read = _int(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
    cache_write = _int(get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS))
    uncached = max(total_in - cache_read - cache_write, 0)
    out[semconv.USAGE_UNCACHED_INPUT_TOKENS] = uncached
    if prices is None or get(semconv.GEN_AI_OPERATION_NAME) not in _PRICED_OPERATIONS:
        return out
    model = get(semconv.GEN_AI_RESPONSE_MODEL) or get(semconv.GEN_AI_REQUEST_MODEL)
    if not isinstance(model, str):
        return out
    write_1h = _int(get(semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS))
    write_5m = max(cache_write - write_1h, 0)
    thinking = _int(get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS))
    counts = TokenCounts(
        uncached,
        write_5m,
        write_1h,
        cache_read,
        max(_int(output), thinking),
        thinking,
        _int(get(semconv.USAGE_WEB_SEARCH_REQUESTS)),
        get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER),
        get(semconv.USAGE_INFERENCE_GEO),
        get(semconv.USAGE_SPEED),
    )
    quote = prices.quote(model, counts)
    if quote is None:
        out[semconv.COST_UNPRICED] = True
        return out
    out[semconv.COST_USD_EXACT], out[semconv.COST_USD], out[semconv.COST_PRICE_SOURCE] = quote
    return out


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
        span = recorder._span
        if not span.is_recording():
            return
        shared = recorder._shared_snapshot
        message = recorder._snapshot if shared is None else shared()
        if message is None:
            return
        final = recorder._has_message_delta is True and recorder._snapshot_withheld is False
        extra = streamed_usage_attributes(getattr(message, "usage", None), final=final)
        if extra:
            span.set_attributes(extra)
    except Exception:
        log.debug("could not record a stream's usage", exc_info=True)


def is_call_span(span: Any) -> bool:
    """Whether a span that just started is an API call span: the SDK's, or one of ours made the SDK's way.

    Every call span the SDK's code starts has `http.request.method` among its start attributes and a name
    `anthropic.<resource>.<method>`; its other spans (tool runs, sessions) do not.
    """
    scope = span.instrumentation_scope
    # The Bedrock and Vertex clients name their scopes `com.anthropic.sdk.python.bedrock` / `.vertex`.
    if scope is None or not (scope.name == semconv.SCOPE or scope.name.startswith(semconv.ANTHROPIC_SCOPE)):
        return False
    name = span.name
    if not name.startswith("anthropic.") or name in _NOT_CALLS:
        return False
    attrs = raw_attributes(span)  # a miss through the SDK's mapping raises and catches a KeyError inside
    return semconv.HTTP_REQUEST_METHOD in attrs and semconv.SPAN_TYPE not in attrs


class CallSpanProcessor(SpanProcessor):
    """Marks call spans on start and completes them just before they end (see the module docstring)."""

    def __init__(self, prices: Callable[[], PriceTable | None]) -> None:
        self._prices = prices
        self.active = True

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if not self.active:
            return
        try:
            if is_call_span(span):
                # Only what must be read now: the tags in force where the call starts (a stream may end outside the
                # `with tracer.tags(...)` block). Everything is set once, as the span ends.
                self._wrap_end(span, tag_attributes())
        except Exception:
            log.debug("could not mark a call span", exc_info=True)

    def _wrap_end(self, span: Any, tags: dict[str, str]) -> None:
        original_end = span.end
        prices = self._prices

        def end(end_time: int | None = None) -> None:
            if span.is_recording():
                _complete(span, prices, end_time, tags)
            original_end(end_time)
            # span -> end -> span is a reference cycle: break it as soon as the span has ended, so that spans are
            # freed by reference counting and not left to the cyclic garbage collector (measured: +30 us a call).
            # `del`, not `span.__dict__.pop`: reading `__dict__` would turn the span's inline attributes into a dict.
            try:  # noqa: SIM105 - contextlib.suppress costs a context manager on every call
                del span.end
            except AttributeError:
                pass

        span.end = end

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        self.active = False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _complete(span: Any, prices: Callable[[], PriceTable | None], end_time: int | None, tags: dict[str, str]) -> None:
    """Zone 2 of a call span's end: add our attributes and record the call's metrics. Never raises."""
    try:
        attrs = raw_attributes(span)
        end_ns = end_time if end_time is not None else time.time_ns()
        duration_s = (end_ns - (span.start_time or end_ns)) / 1e9
        extra = call_attributes(attrs, duration_s=duration_s, prices=prices(), status_code=span.status.status_code)
        extra[semconv.SPAN_TYPE] = semconv.SPAN_TYPE_CALL
        extra[semconv.CALL_SPAN_SOURCE] = "tracer" if span.instrumentation_scope.name == semconv.SCOPE else "anthropic"
        if tags:
            extra.update(tags)
        add_attributes(span, attrs, extra)
        _metrics.record_call(attrs, extra, duration_s, span.get_span_context())
    except Exception:
        log.debug("could not complete a call span", exc_info=True)
