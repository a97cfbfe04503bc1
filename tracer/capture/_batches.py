"""Message Batches results, priced per result at the batch rate.

A batch's messages are billed when they are created, at half the token prices, and the application learns their
usage only by reading `client.messages.batches.results(id)`, a JSON Lines stream. As the application reads it,
each succeeded result becomes a call span of its own (`anthropic.messages.batches.result`, operation `batch`,
`tracer.call.batch=true`) with the message's usage and its cost at the batch rate, so batch spend appears per
model and tag like any other call. Errored, canceled and expired results are not billed and record nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from opentelemetry.trace import SpanKind, Tracer

from tracer import semconv
from tracer._tags import tag_attributes
from tracer.capture import _metrics, _worker
from tracer.cost import PriceTable, token_counts

log = logging.getLogger("tracer.capture")

SPAN_BATCH_RESULT = "anthropic.messages.batches.result"
BATCH_CUSTOM_ID = "anthropic.message.batch.custom_id"


def batch_result_attributes(item: Any, prices: PriceTable | None) -> dict[str, Any] | None:
    """Call-span attributes for one line of a batch's results, or None when it was not billed. Pure."""
    result: Any = getattr(item, "result", None)
    if getattr(result, "type", None) != "succeeded":
        return None
    message = result.message
    usage = message.usage
    counts = token_counts(usage)
    model = message.model
    attrs: dict[str, Any] = {
        semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL,
        semconv.CALL_SPAN_SOURCE: "tracer",
        semconv.GEN_AI_OPERATION_NAME: "batch",
        semconv.GEN_AI_PROVIDER_NAME: "anthropic",
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_RESPONSE_MODEL: model,
        semconv.GEN_AI_RESPONSE_ID: message.id,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: counts.prompt_tokens,
        semconv.USAGE_UNCACHED_INPUT_TOKENS: counts.input,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: counts.cache_read,
        semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: counts.cache_write_5m + counts.cache_write_1h,
        semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS: counts.cache_write_1h,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: counts.output,
        semconv.CALL_BATCH: True,
        semconv.CALL_STREAMING: False,
        semconv.CALL_ATTEMPTS: 1,
        BATCH_CUSTOM_ID: str(item.custom_id),
    }
    if counts.thinking:
        attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = counts.thinking
    if message.stop_reason is not None:
        attrs[semconv.ANTHROPIC_STOP_REASON] = message.stop_reason
    if counts.web_search:
        attrs[semconv.USAGE_WEB_SEARCH_REQUESTS] = counts.web_search
    if prices is not None:
        cost = prices.cost_of(model, counts, batch=True)
        if cost is None:
            attrs[semconv.COST_UNPRICED] = True
        else:
            attrs[semconv.COST_USD_EXACT] = str(cost)
            attrs[semconv.COST_USD] = float(cost)
            cache = prices.cache_usd(model, counts, batch=True)
            if cache is not None:
                attrs[semconv.COST_CACHE_READ_SAVED_USD], attrs[semconv.COST_CACHE_WRITE_PREMIUM_USD] = cache
    return attrs


class BatchResultRecorder:
    """Records the billed lines of batch results as the application reads them. Never raises."""

    def __init__(self, tracer: Tracer, prices: Callable[[], PriceTable | None]) -> None:
        self.tracer = tracer
        self.prices = prices
        self.active = True

    def item(self, item: Any) -> None:
        """On the application's thread, as it reads a line: note the tags in force; the rest is the worker's."""
        if not self.active:
            return
        try:
            _worker.defer(self._record, item, tag_attributes())
        except Exception:
            log.debug("could not record a batch result", exc_info=True)

    def _record(self, item: Any, tags: dict[str, str]) -> None:
        """On the worker thread: the result's priced call span (zero length, at the time it is recorded)."""
        attrs = batch_result_attributes(item, self.prices())
        if attrs is None:
            return
        attrs.update(tags)
        # Marked as a call on start, so the call processor does not adopt it a second time.
        now = time.time_ns()
        span = self.tracer.start_span(SPAN_BATCH_RESULT, kind=SpanKind.INTERNAL, attributes=attrs, start_time=now)
        span.end(end_time=now)
        _metrics.record_call(attrs, attrs, None)

    def wrap_sync(self, original: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
        recorder = self

        def __decode__(decoder: Any) -> Iterator[Any]:
            for item in original(decoder):
                recorder.item(item)
                yield item

        return __decode__

    def wrap_async(self, original: Callable[[Any], AsyncIterator[Any]]) -> Callable[[Any], AsyncIterator[Any]]:
        recorder = self

        async def __decode__(decoder: Any) -> AsyncIterator[Any]:
            async for item in original(decoder):
                recorder.item(item)
                yield item

        return __decode__
