"""Spans shaped like capture's, made with a real OpenTelemetry SDK TracerProvider (for store tests that must not
depend on tracer.capture): a call span with `n` attempt children, and resilience event spans."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from tracer import semconv

MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5")


def provider(exporter: SpanExporter, *, service: str = "store-tests", batch: bool = True, **bsp: int) -> TracerProvider:
    tp = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: service}))
    tp.add_span_processor(BatchSpanProcessor(exporter, **bsp) if batch else SimpleSpanProcessor(exporter))
    return tp


def call(tracer, key: str, *, attempts: int = 1, model: str = MODELS[0], error: bool = False, cost: str | None = "0.0105") -> None:
    """One call span (`tracer.tag.key=<key>`, so a test can find it) whose attempts 0..n-1 are its children:
    all but the last answered 429."""
    attrs = {
        semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL,
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_RESPONSE_MODEL: model,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 1300,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 200,
        semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 250,
        semconv.HTTP_REQUEST_RESEND_COUNT: attempts - 1,
        semconv.TAG_PREFIX + "key": key,
    }
    if cost is None:
        attrs[semconv.COST_UNPRICED] = True
    else:
        attrs[semconv.COST_USD_EXACT] = cost
        attrs[semconv.COST_USD] = float(cost)
    with tracer.start_as_current_span(semconv.SPAN_MESSAGES_CREATE, attributes=attrs) as span:
        for i in range(attempts):
            last = i == attempts - 1
            status = 529 if (last and error) else (200 if last else 429)
            a = {
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT,
                semconv.HTTP_REQUEST_RESEND_COUNT: i,
                semconv.HTTP_RESPONSE_STATUS_CODE: status,
                semconv.GEN_AI_REQUEST_MODEL: model,
                semconv.ratelimit_attribute("requests", "remaining"): 100 - i,
            }
            if status != 200:
                a[semconv.ERROR_TYPE] = str(status)
            with tracer.start_as_current_span(semconv.SPAN_ATTEMPT, attributes=a):
                pass
        if error:
            span.set_attribute(semconv.ERROR_TYPE, "529")
            span.set_status(Status(StatusCode.ERROR))
        span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, 529 if error else 200)
