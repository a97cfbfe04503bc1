"""One span per HTTP attempt, through the SDK's client middleware (`anthropic._middleware`).

The SDK runs client middleware inside its retry loop, once per attempt, with the call span current; a span
started here is therefore a child of the call span, whoever made it (the SDK or us). The middleware sees every
response, 4xx and 5xx included; timeouts and connection failures raise through it.

Zone 1 is `call_next(request)`: its response or exception goes back to the SDK untouched. Everything else is
zone 2: guarded, logged at debug level, never raising.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from anthropic import APIConnectionError, APITimeoutError
from anthropic._middleware import Middleware
from anthropic._tracing import FirstEnd, span_ending_stream
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracer import semconv
from tracer.capture import _metrics

log = logging.getLogger("tracer.capture")

_ERROR = Status(StatusCode.ERROR)

# Response header (lower-case bytes) -> (attribute, kind). One pass over the raw headers reads them all: httpx2's
# Headers.get scans the whole list on every call, and an attempt would need a dozen of them.
_HEADERS: dict[bytes, tuple[str, str]] = {
    b"request-id": (semconv.ANTHROPIC_REQUEST_ID, "str"),
    b"retry-after-ms": (semconv.ATTEMPT_RETRY_AFTER_S, "ms"),
    b"retry-after": (semconv.ATTEMPT_RETRY_AFTER_S, "s"),
    b"x-should-retry": (semconv.ATTEMPT_SHOULD_RETRY, "bool"),
}
for _kind in semconv.RATELIMIT_KINDS:
    for _field in semconv.RATELIMIT_FIELDS:
        _header = f"anthropic-ratelimit-{_kind.replace('_', '-')}-{_field}".encode()
        _HEADERS[_header] = (semconv.ratelimit_attribute(_kind, _field), "str" if _field == "reset" else "int")

# Usage fields the SDK's own call span does not record but the price depends on, read from a non-streamed body
# without decoding it again (the SDK decodes it once, for the application). A quote preceded by a backslash is
# inside a JSON string (message text), so it never matches.
_WEB_SEARCH = re.compile(rb'(?<!\\)"web_search_requests"\s*:\s*(\d+)')
_WEB_FETCH = re.compile(rb'(?<!\\)"web_fetch_requests"\s*:\s*(\d+)')
_GEO = re.compile(rb'(?<!\\)"inference_geo"\s*:\s*"([^"\\]*)"')
_SPEED = re.compile(rb'(?<!\\)"speed"\s*:\s*"([^"\\]*)"')


def header_attributes(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Attempt attributes from response headers: request id, retry-after (seconds), rate-limit values. Pure.

    `retry-after-ms` wins over `retry-after`, as in the SDK. Unparseable values are left out.

    >>> header_attributes([(b"retry-after", b"2"), (b"anthropic-ratelimit-requests-remaining", b"41")])
    {'tracer.attempt.retry_after': 2.0, 'anthropic.ratelimit.requests.remaining': 41}
    """
    out: dict[str, Any] = {}
    retry_after_ms = False
    for name, value in raw_headers:
        spec = _HEADERS.get(name.lower())
        if spec is None:
            continue
        attribute, kind = spec
        text = value.decode("latin-1").strip()
        try:
            if kind == "str":
                out[attribute] = text
            elif kind == "int":
                out[attribute] = int(text)
            elif kind == "bool":
                out[attribute] = text.lower() == "true"
            elif kind == "ms":
                out[attribute] = float(text) / 1000.0
                retry_after_ms = True
            elif not retry_after_ms:  # retry-after in seconds (an HTTP date is left out)
                out[attribute] = float(text)
        except ValueError:
            continue
    return out


def body_usage_attributes(body: bytes) -> dict[str, Any]:
    """Call attributes from a Messages response body that the SDK's span lacks: web search and fetch requests,
    inference geography, speed. Pure; cheap when the body has none of them."""
    out: dict[str, Any] = {}
    if b"server_tool_use" in body:
        if m := _WEB_SEARCH.search(body):
            out[semconv.USAGE_WEB_SEARCH_REQUESTS] = int(m.group(1))
        if m := _WEB_FETCH.search(body):
            out[semconv.USAGE_WEB_FETCH_REQUESTS] = int(m.group(1))
    if b"inference_geo" in body and (m := _GEO.search(body)):
        out[semconv.USAGE_INFERENCE_GEO] = m.group(1).decode()
    if b'"speed"' in body and (m := _SPEED.search(body)):
        out[semconv.USAGE_SPEED] = m.group(1).decode()
    return out


def exception_error_type(exc: BaseException) -> str:
    """`error.type` of an attempt that raised: `timeout`, `connection`, or the exception's class name."""
    if isinstance(exc, APITimeoutError):
        return semconv.ERROR_TYPE_TIMEOUT
    if isinstance(exc, APIConnectionError):
        return semconv.ERROR_TYPE_CONNECTION
    return type(exc).__name__


class _BodyObserver:
    """Ends an attempt span when its streamed body ends (the SDK's stream-observer protocol). Never raises.

    It sits inside the SDK's own observer of the call span (which wraps the body after the middleware returns),
    so `Stream` reports events to that one; this one only learns how the bytes ended.
    """

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def begin(self) -> None:
        pass

    def item(self, item: object) -> None:
        pass

    def end(self, how: str, error: BaseException | None = None) -> None:
        span = self.span
        if error is not None:
            span.set_attribute(semconv.ERROR_TYPE, stream_error_type(error))
            span.set_status(_ERROR)
        span.end()


def stream_error_type(exc: BaseException) -> str:
    """`error.type` of an attempt whose streamed body failed: `stream_timeout` for a stall past the read timeout,
    `connection` for a broken connection, else the exception's class name."""
    name = type(exc).__name__
    if "Timeout" in name:
        return semconv.ERROR_TYPE_STREAM_TIMEOUT
    if name in ("RemoteProtocolError", "ReadError", "NetworkError", "ConnectError", "CloseError"):
        return semconv.ERROR_TYPE_CONNECTION
    return name


class AttemptMiddleware(Middleware):
    """Client middleware that records each HTTP attempt as a span (sync `handle`, async `handle_async`).

    One instance serves every client. After `uninstrument()` it passes requests straight through, so a client
    copied while it was installed keeps working unchanged.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.active = True

    def handle(self, request: Any, call_next: Any) -> Any:
        if not self.active:
            return call_next(request)
        started = self._start(request)
        try:
            response = call_next(request)
        except BaseException as exc:
            self._failed(started, exc)
            raise
        self._answered(started, request, response)
        return response

    async def handle_async(self, request: Any, call_next: Any) -> Any:
        if not self.active:
            return await call_next(request)
        started = self._start(request)
        try:
            response = await call_next(request)
        except BaseException as exc:
            self._failed(started, exc)
            raise
        self._answered(started, request, response)
        return response

    # -- zone 2 -------------------------------------------------------------------------------------------------

    def _start(self, request: Any) -> tuple[Any, Any, str | None] | None:
        try:
            body = request.options.json_data
            model = body.get("model") if isinstance(body, dict) else None
            attempt = request.retries_taken
            attrs: dict[str, Any] = {
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT,
                semconv.HTTP_REQUEST_RESEND_COUNT: attempt,
                semconv.HTTP_REQUEST_METHOD: request.options.method.upper(),
            }
            if model is not None:
                attrs[semconv.GEN_AI_REQUEST_MODEL] = model
            call_span = trace.get_current_span()
            span = self.tracer.start_span(semconv.SPAN_ATTEMPT, kind=SpanKind.CLIENT, attributes=attrs)
            if attempt:
                # The previous attempt's outcome is why this one happens: that is the retry's cause.
                _metrics.record_retry(model, getattr(call_span, "_tracer_last_outcome", None))
            return span, call_span, model
        except Exception:
            log.debug("could not start an attempt span", exc_info=True)
            return None

    def _answered(self, started: tuple[Any, Any, str | None] | None, request: Any, response: Any) -> None:
        if started is None:
            return
        span, call_span, model = started
        try:
            http = response.http_response
            status = http.status_code
            attrs = header_attributes(http.headers.raw)
            attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status
            outcome = None
            if status >= 400:
                outcome = str(status)
                attrs[semconv.ERROR_TYPE] = outcome
                span.set_status(_ERROR)
            elif not request.stream:
                body = getattr(http, "_content", None)  # read already unless the caller streams the raw body
                if body and call_span.is_recording():
                    extra = body_usage_attributes(body)
                    if extra:
                        call_span.set_attributes(extra)
            span.set_attributes(attrs)
            if call_span.is_recording():
                call_span._tracer_last_outcome = outcome or str(status)
            _metrics.record_attempt(model, status, outcome, attrs)
            if outcome is None and request.stream and not http.is_closed:
                # A streamed body is part of its attempt: the span ends when the body is read, closed or dropped,
                # and a stall past the read timeout or a broken connection shows on the attempt that suffered it.
                http.stream = span_ending_stream(http.stream, FirstEnd(_BodyObserver(span)))
                return
            span.end()
        except Exception:
            log.debug("could not record an attempt's response", exc_info=True)

    def _failed(self, started: tuple[Any, Any, str | None] | None, exc: BaseException) -> None:
        if started is None:
            return
        span, call_span, model = started
        try:
            error_type = exception_error_type(exc)
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.set_status(_ERROR)
            if call_span.is_recording():
                call_span._tracer_last_outcome = error_type
            span.end()
            _metrics.record_attempt(model, None, error_type, None)
        except Exception:
            log.debug("could not record a failed attempt", exc_info=True)
