"""One span per HTTP attempt, made where the SDK sends it (`_attempt_request`, reached through `_compat`).

The SDK sends each HTTP request of an API call (the first, every retry, every fallback hop) from inside the call
span it made, and hands the attempt that call (`call=`); the span started here is therefore a child of the call
span. The wrapper sees every response, 4xx and 5xx included; timeouts and connection failures raise through it.

Zone 1 is the SDK's own `_attempt_request`: its result or exception goes back to the SDK untouched. Everything else
is zone 2: guarded, logged at debug level, never raising.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from anthropic import APIConnectionError, APITimeoutError
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracer import _compat, semconv
from tracer._spans import add_attributes, raw_attributes
from tracer.capture import _metrics, _worker

log = logging.getLogger("tracer.capture")

_ERROR = Status(StatusCode.ERROR)
UNTRACED = "_claude_tracer_untraced"  # on a response of a call the SDK did not trace
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


# Query keys whose values the URL conventions say to redact (semantic-conventions v1.41.0, url.full): signed-URL
# credentials. Matched case-sensitively, as those conventions say.
_SECRET_QUERY_KEYS = frozenset({"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"})
_HTTP_FROM_CALL = (semconv.HTTP_REQUEST_METHOD, semconv.SERVER_ADDRESS, semconv.SERVER_PORT)


def safe_url(url: str) -> str:
    """`url.full` with what the conventions forbid redacted: credentials in the authority, and the values of
    signed-URL query keys. Pure.

    >>> safe_url("https://user:pw@api.example.com/v1/messages?sig=abc&beta=true")
    'https://REDACTED:REDACTED@api.example.com/v1/messages?sig=REDACTED&beta=true'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "REDACTED:REDACTED@" + authority.rpartition("@")[2]
    path, q, query = tail.partition("?")
    if q:
        pairs = []
        for pair in query.split("&"):
            key, eq, _value = pair.partition("=")
            pairs.append(f"{key}=REDACTED" if eq and key in _SECRET_QUERY_KEYS else pair)
        query = "&".join(pairs)
    return f"{scheme}://{authority}{slash}{path}{q}{query}"


def exception_error_type(exc: BaseException) -> str:
    """`error.type` of an attempt that raised: `timeout`, `connection`, or the exception's class name."""
    if isinstance(exc, APITimeoutError):
        return semconv.ERROR_TYPE_TIMEOUT
    if isinstance(exc, APIConnectionError):
        return semconv.ERROR_TYPE_CONNECTION
    return type(exc).__name__


class _BodyObserver:
    """Records an attempt when its streamed body ends (the SDK's stream-observer protocol). Never raises.

    It sits inside the SDK's own observer of the call span (which wraps the body after the middleware returns),
    so `Stream` reports events to that one; this one only learns how the bytes ended.
    """

    __slots__ = ("emit",)

    def __init__(self, emit: Callable[[int, str | None], None]) -> None:
        self.emit = emit

    def begin(self) -> None:
        pass

    def item(self, item: object) -> None:
        pass

    def end(self, how: str, error: BaseException | None = None) -> None:
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


class AttemptRecorder:
    """Records each HTTP attempt of a traced API call as a span, by wrapping the SDK's per-attempt send.

    The SDK sends every HTTP request of an API call through its client's `_attempt_request` (the first, each
    retry, each fallback hop of a middleware; with or without the application's middleware), and passes it the
    call whose span it made (`call=`). So an attempt span is a child of the SDK's call span, and a call the SDK
    does not trace (`call=None`: its client opted out of traces) records nothing. Nothing of the request is
    changed: no middleware is added to a client (a middleware chain changes how the SDK treats a generic
    `cast_to=httpx.Response` request and adds a header), so the SDK behaves exactly as without claude-tracer.
    One instance serves every client; after `uninstrument()` it passes everything straight through.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.active = True

    def wrap_sync(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def _attempt_request(client: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            call = kwargs.get("call")
            if call is None or not recorder.active:
                return recorder._untraced(original(client, options, *args, **kwargs), options)
            started = recorder._start(options, kwargs, call)
            try:
                result = original(client, options, *args, **kwargs)
            except BaseException as exc:
                recorder._failed(started, exc)
                raise
            recorder._answered(started, result)
            return result

        return _attempt_request

    def wrap_async(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        async def _attempt_request(client: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            call = kwargs.get("call")
            if call is None or not recorder.active:
                return recorder._untraced(await original(client, options, *args, **kwargs), options)
            started = recorder._start(options, kwargs, call)
            try:
                result = await original(client, options, *args, **kwargs)
            except BaseException as exc:
                recorder._failed(started, exc)
                raise
            recorder._answered(started, result)
            return result

        return _attempt_request

    # -- zone 2 -------------------------------------------------------------------------------------------------
    # The caller's thread only notes times, status and the headers object; the span (start time, parent, every
    # attribute at once) is made on the worker thread (see `_worker` for the measurements behind that).

    @staticmethod
    def _untraced(result: Any, options: Any) -> Any:
        """An attempt of a call the SDK does not trace: returned as it is. Batch results read through such a client
        are not priced either (the decoder sees only the response), so their response is marked."""
        try:
            url = options.url
            if isinstance(url, str) and url.endswith("/results"):
                setattr(result[0], UNTRACED, True)
        except Exception:
            log.debug("could not mark an untraced response", exc_info=True)
        return result

    def _start(self, options: Any, kwargs: dict[str, Any], call: Any) -> tuple[int, Any, str | None, int] | None:
        try:
            body = options.json_data
            model = body.get("model") if isinstance(body, dict) else None
            call_span = call.span
            # The SDK counts each request it sends for the call (retries and fallback hops): this one's index.
            attempt = getattr(call, "requests_sent", None)
            if type(attempt) is not int:
                attempt = kwargs.get("retries_taken", 0)
            if kwargs.get("retries_taken"):
                # The previous attempt's outcome is why this one happens: that is the retry's cause.
                _metrics.record_retry(model, getattr(call_span, "_tracer_last_outcome", None))
            return time.time_ns(), call_span, model, attempt
        except Exception:
            log.debug("could not start an attempt span", exc_info=True)
            return None

    def _answered(self, started: tuple[int, Any, str | None, int] | None, result: Any) -> None:
        if started is None:
            return
        try:
            call_span = started[1]
            http = result[0]
            status = http.status_code
            raw = http.headers  # read on the worker thread (`.raw` builds a list)
            outcome = str(status) if status >= 400 else None
            found = _compat.parts()
            body = _compat.response_body(http)
            if outcome is not None:
                if call_span.is_recording():
                    # Only a failed attempt is retried, so only a failure is noted on the call span: the next
                    # attempt's retry cause. A success leaves the span's instance dict alone.
                    call_span._tracer_last_outcome = outcome
            elif body:
                if call_span.is_recording():
                    extra = body_usage_attributes(body)
                    if extra:
                        call_span.set_attributes(extra)
            elif found.span_ending_stream is not None and not http.is_closed:
                # A streamed body is part of its attempt: it ends when the body is read, closed or dropped, and a
                # stall past the read timeout or a broken connection shows on the attempt that suffered it.
                def emit(end_ns: int, error_type: str | None) -> None:
                    _worker.defer(self._emit, started, end_ns, status, raw, error_type)

                http.stream = found.span_ending_stream(http.stream, found.first_end(_BodyObserver(emit)))
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
        headers_type = _compat.parts().headers_type
        if headers_type is not None and isinstance(raw_headers, headers_type):
            raw_headers = raw_headers.raw
        headers = header_attributes(raw_headers if isinstance(raw_headers, (list, tuple)) else ())
        attrs = dict(headers)
        # The HTTP client conventions' required attributes. Every attempt of a call goes to the URL its call span
        # recorded (the SDK's own, from the first request, with only the query parameters the endpoint defines);
        # read here, on the worker thread, and not on the caller's.
        call_attrs = raw_attributes(call_span) if isinstance(call_span, ReadableSpan) else {}
        for key in _HTTP_FROM_CALL:
            value = call_attrs.get(key)
            if value is not None:
                attrs[key] = value
        url = call_attrs.get(semconv.URL_FULL)
        if isinstance(url, str):
            attrs[semconv.URL_FULL] = safe_url(url)
        if attempt:  # the conventions: "if and only if the request was retried"
            attrs[semconv.HTTP_REQUEST_RESEND_COUNT] = attempt
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
