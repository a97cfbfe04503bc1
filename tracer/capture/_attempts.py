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
import time
from collections.abc import Callable, Iterable
from typing import Any

from anthropic import APIConnectionError, APITimeoutError
from anthropic._middleware import Middleware
from anthropic._tracing import FirstEnd, span_ending_stream
from httpx2 import Headers
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracer import semconv
from tracer._spans import add_attributes, raw_attributes
from tracer.capture import _metrics, _worker

log = logging.getLogger("tracer.capture")

_ERROR = Status(StatusCode.ERROR)
_ATTEMPT = {semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT}

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
# (needle, pattern matched from the byte before the needle, attribute, conversion). The byte before must not be a
# backslash: an escaped quote is inside a JSON string (message text), so text that quotes a field never matches.
_BODY_FIELDS: tuple[tuple[bytes, re.Pattern[bytes], str, Any], ...] = (
    (b'"web_search_requests"', re.compile(rb'[^\\]"web_search_requests"\s*:\s*(\d+)'), semconv.USAGE_WEB_SEARCH_REQUESTS, int),
    (b'"web_fetch_requests"', re.compile(rb'[^\\]"web_fetch_requests"\s*:\s*(\d+)'), semconv.USAGE_WEB_FETCH_REQUESTS, int),
    (b'"inference_geo"', re.compile(rb'[^\\]"inference_geo"\s*:\s*"([^"\\]*)"'), semconv.USAGE_INFERENCE_GEO, bytes.decode),
    (b'"speed"', re.compile(rb'[^\\]"speed"\s*:\s*"([^"\\]*)"'), semconv.USAGE_SPEED, bytes.decode),
)


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
    inference geography, speed. Pure; a `find` (memchr speed) per field, a regex only at a hit.

    >>> body_usage_attributes(b'{"usage": {"server_tool_use": {"web_search_requests": 2}, "inference_geo": "us"}}')
    {'tracer.usage.web_search_requests': 2, 'tracer.usage.inference_geo': 'us'}
    """
    out: dict[str, Any] = {}
    for needle, pattern, attribute, convert in _BODY_FIELDS:
        at = body.find(needle)
        if at > 0 and (m := pattern.match(body, at - 1)):
            out[attribute] = convert(m.group(1))
    return out


def exception_error_type(exc: BaseException) -> str:
    """`error.type` of an attempt that raised: `timeout`, `connection`, or the exception's class name."""
    if isinstance(exc, APITimeoutError):
        return semconv.ERROR_TYPE_TIMEOUT
    if isinstance(exc, APIConnectionError):
        return semconv.ERROR_TYPE_CONNECTION
    return type(exc).__name__


# Streamed bodies whose attempt is not recorded yet, by id of their observer. At exit and at `uninstrument()` the
# ones still open (a stall the application still waits on, a stream dropped but not yet collected) are recorded as
# `unfinished`, rather than never: nothing would record them once the exporters are shut down.
_open_bodies: dict[int, _BodyObserver] = {}


def end_open_bodies() -> int:
    """Record the attempt of every streamed body still open, as `unfinished`, now. How many. Never raises."""
    ended = 0
    for observer in list(_open_bodies.values()):
        # pop() is the claim: the application's thread ending the same body at this moment records it only once.
        if _open_bodies.pop(id(observer), None) is not None:
            try:
                observer.emit(time.time_ns(), semconv.ERROR_TYPE_UNFINISHED)
                ended += 1
            except Exception:
                log.debug("could not record an unfinished attempt", exc_info=True)
    return ended


class _BodyObserver:
    """Records an attempt when its streamed body ends (the SDK's stream-observer protocol), once. Never raises.

    It sits inside the SDK's own observer of the call span (which wraps the body after the middleware returns),
    so `Stream` reports events to that one; this one only learns how the bytes ended.
    """

    __slots__ = ("emit",)

    def __init__(self, emit: Callable[[int, str | None], None]) -> None:
        self.emit = emit
        _open_bodies[id(self)] = self

    def begin(self) -> None:
        pass

    def item(self, item: object) -> None:
        pass

    def end(self, how: str, error: BaseException | None = None) -> None:
        if _open_bodies.pop(id(self), None) is None:
            return  # recorded already, as unfinished
        self.emit(time.time_ns(), None if error is None else stream_error_type(error))


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
    # The caller's thread only notes times, status and the headers object; the span (start time, parent, every
    # attribute at once) is made on the worker thread (see `_worker` for the measurements behind that).

    def _start(self, request: Any) -> tuple[int, Any, str | None, int] | None:
        try:
            body = request.options.json_data
            model = body.get("model") if isinstance(body, dict) else None
            attempt = request.retries_taken
            call_span = trace.get_current_span()
            if attempt:
                # The previous attempt's outcome is why this one happens: that is the retry's cause.
                _metrics.record_retry(model, getattr(call_span, "_tracer_last_outcome", None))
            return time.time_ns(), call_span, model, attempt
        except Exception:
            log.debug("could not start an attempt span", exc_info=True)
            return None

    def _answered(self, started: tuple[int, Any, str | None, int] | None, request: Any, response: Any) -> None:
        if started is None:
            return
        try:
            call_span = started[1]
            http = response.http_response
            status = http.status_code
            raw = http.headers  # read on the worker thread (`.raw` builds a list)
            outcome = str(status) if status >= 400 else None
            if outcome is None and not request.stream:
                body = getattr(http, "_content", None)  # read already unless the caller streams the raw body
                if body and call_span.is_recording():
                    extra = body_usage_attributes(body)
                    if extra:
                        call_span.set_attributes(extra)
            if outcome is not None and call_span.is_recording():
                # Only a failed attempt is retried, so only a failure is noted on the call span: the next attempt's
                # retry cause. A success leaves the span's instance dict alone (one less key on the hot path).
                call_span._tracer_last_outcome = outcome
            if outcome is None and request.stream and not http.is_closed:
                # A streamed body is part of its attempt: it ends when the body is read, closed or dropped, and a
                # stall past the read timeout or a broken connection shows on the attempt that suffered it.
                def emit(end_ns: int, error_type: str | None) -> None:
                    _worker.defer(self._emit, started, end_ns, status, raw, error_type)

                http.stream = span_ending_stream(http.stream, FirstEnd(_BodyObserver(emit)))
                return
            _worker.defer(self._emit, started, time.time_ns(), status, raw, outcome)
        except Exception:
            log.debug("could not record an attempt's response", exc_info=True)

    def _failed(self, started: tuple[int, Any, str | None, int] | None, exc: BaseException) -> None:
        if started is None:
            return
        try:
            error_type = exception_error_type(exc)
            if started[1].is_recording():
                started[1]._tracer_last_outcome = error_type
            _worker.defer(self._emit, started, time.time_ns(), None, (), error_type)
        except Exception:
            log.debug("could not record a failed attempt", exc_info=True)

    def _emit(
        self,
        started: tuple[int, Any, str | None, int],
        end_ns: int,
        status: int | None,
        raw_headers: Any,
        error_type: str | None,
    ) -> None:
        """On the worker thread: the attempt's span, child of its call span, and its metrics."""
        start_ns, call_span, model, attempt = started
        # What says this is an attempt goes to `start_span` (samplers and processors see it); the rest (str, int,
        # float and bool values) is added as it is: the SDK's cleaning checks each value against abstract base
        # classes, a quarter of this function's time when every attribute went through it (measured).
        span = self.tracer.start_span(
            semconv.SPAN_ATTEMPT,
            context=trace.set_span_in_context(call_span),
            kind=SpanKind.CLIENT,
            attributes=_ATTEMPT,
            start_time=start_ns,
        )
        headers = header_attributes(raw_headers.raw if isinstance(raw_headers, Headers) else raw_headers)
        attrs = {**headers, semconv.HTTP_REQUEST_RESEND_COUNT: attempt}
        if model is not None:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = model
        if status is not None:
            attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status
        if error_type is not None:
            attrs[semconv.ERROR_TYPE] = error_type
        add_attributes(span, raw_attributes(span), attrs)
        if error_type is not None:
            span.set_status(_ERROR)
        span.end(end_time=end_ns)
        # The HTTP outcome counts (a stream that failed after its 200 is still a 200 attempt in the counter).
        _metrics.record_attempt(model, status, error_type if status is None or status >= 400 else None, headers)
