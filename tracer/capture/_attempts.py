"""One span per HTTP attempt, made where the SDK sends it (`_attempt_request`, reached through `_compat`).

The SDK sends each HTTP request of an API call (the first, every retry, every fallback hop) from inside the call
span it made, and hands the attempt that call (`call=`); the span started here is therefore a child of the call
span. The wrapper sees every response, 4xx and 5xx included; timeouts and connection failures raise through it.

Zone 1 is the SDK's own `_attempt_request`: its result or exception goes back to the SDK untouched. Everything else
is zone 2: guarded, logged at debug level, never raising.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from anthropic import APIConnectionError, APITimeoutError
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracer import _compat, semconv
from tracer._derived import attempt_outcome
from tracer._spans import add_attributes, raw_attributes
from tracer.capture import _metrics, _worker
from tracer.capture._calls import (
    MAX_TOOL_NAMES,
    Unsampled,
    billing_attributes,
    hop_attempt_attributes,
    hop_attributes,
    tool_use_attributes,
)

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
# without decoding it again (the SDK decodes it once, for the application).
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


# A tool-use block as the API writes it (type, id, name, in that order): its name read without decoding the body on
# the caller's thread. A block written otherwise is found by the first pattern alone, and the body is decoded.
_TOOL_USE_BLOCK = re.compile(rb'"type"\s*:\s*"(?:server_|mcp_)?tool_use"')
_TOOL_USE_NAME = re.compile(rb'"type"\s*:\s*"(?:server_|mcp_)?tool_use"\s*,\s*"id"\s*:\s*"[^"\\]*"\s*,\s*"name"\s*:\s*"([^"\\]{1,128})"')


def _tool_use_from_body(body: bytes) -> dict[str, Any] | None:
    """`tool_use_attributes` of a body, by pattern; None when only decoding the body can tell."""
    blocks = len(_TOOL_USE_BLOCK.findall(body))
    if not blocks:
        return {}
    names = _TOOL_USE_NAME.findall(body)
    if len(names) != blocks:
        return None
    distinct = tuple(dict.fromkeys(n.decode("utf-8", "replace") for n in names))[:MAX_TOOL_NAMES]
    return {semconv.TOOL_USE_NAMES: distinct, semconv.TOOL_USE_COUNT: blocks}


def body_usage_attributes(body: bytes, call_span: Any = None) -> dict[str, Any]:
    """Call attributes from a Messages response body that the SDK's span lacks: web search and fetch requests,
    inference geography, speed; and, for the rare body that has them, what it was billed beyond its top-level usage
    (iterations, a refusal, a client-side fallback's declined hop added to those `call_span` has seen, the fallback
    credit: `_calls.billing_attributes`), and the tools it asked for (`_calls.tool_use_attributes`). Pure but for reading `call_span`'s attributes; a `find` (memchr speed) per
    field, a regex or a decode only at a hit.

    >>> body_usage_attributes(b'{"usage": {"server_tool_use": {"web_search_requests": 2}, "inference_geo": "us"}}')
    {'tracer.usage.web_search_requests': 2, 'tracer.usage.inference_geo': 'us'}
    """
    out: dict[str, Any] = {}
    for needle, pattern, attribute, convert in _BODY_FIELDS:
        at = body.find(needle)
        if at > 0 and (m := pattern.match(body, at - 1)):
            out[attribute] = convert(m.group(1))
    tools = _tool_use_from_body(body) if b'tool_use"' in body else {}
    if tools:
        out.update(tools)
    billed = b'"iterations"' in body or b'"refusal"' in body or b'"fallback_credit"' in body
    if billed or tools is None:
        # Fallback, advisor, compaction, refusals, odd tool-use blocks: decoded once more, never for a plain answer.
        try:
            message = json.loads(body)
        except ValueError:
            return out
        if tools is None and isinstance(message, dict):
            out.update(tool_use_attributes(message))
        if billed and isinstance(message, dict):
            out.update(billing_attributes(message))
            if message.get("stop_reason") == "refusal":
                hops = call_span.attributes.get(semconv.USAGE_FALLBACK_HOPS) if call_span is not None else None
                out.update(hop_attributes(message, hops))
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


# The events of a stream its bill is read from (the SDK hands the observer its parsed events).
_BILLING_EVENTS = frozenset({"message_start", "content_block_start", "message_delta"})

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

    It sits inside the SDK's own observer of the call span (which wraps the body after `_attempt_request` returns),
    so `Stream` reports events to that one; this one only learns how the bytes ended.
    """

    __slots__ = ("call_span", "emit", "unsampled")

    def __init__(
        self, emit: Callable[[int, str | None], None], unsampled: Unsampled | None = None, call_span: Any = None
    ) -> None:
        self.emit = emit
        self.unsampled = unsampled  # a sampled-out call: its chunks are kept for its bill
        self.call_span = call_span
        _open_bodies[id(self)] = self

    def begin(self) -> None:
        pass

    def item(self, item: object) -> None:
        if self.unsampled is not None and getattr(item, "type", None) in _BILLING_EVENTS:
            self.unsampled.chunks.append(item)

    def end(self, how: str, error: BaseException | None = None) -> None:
        if how == "read" and error is None and self.call_span is not None:
            # The bytes ended cleanly: the application saw no error. This end runs before the SDK's (`first_end`),
            # so the call span, which the SDK then fails when no `message_stop` came, can say so (`_calls`).
            try:
                _compat.mark_body_read(self.call_span)
            except Exception:
                log.debug("could not mark a call span's body as read", exc_info=True)
        if _open_bodies.pop(id(self), None) is None:
            return  # recorded already, as unfinished
        self.emit(time.time_ns(), None if error is None else stream_error_type(error))


def stream_error_type(exc: BaseException) -> str:
    """`error.type` of an attempt whose streamed body failed: `stream_timeout` for a stall past the read timeout,
    `connection` for a broken connection, else the exception's class name. The same for both generations of the
    SDK: before 2.15.0 a stream read raised httpx2's own error; from 2.15.0 on, `APITimeoutError` /
    `APIConnectionError` with the httpx2 error as its cause (docs/compatibility.md)."""
    name = type(exc).__name__
    if "Timeout" in name:
        return semconv.ERROR_TYPE_STREAM_TIMEOUT
    if isinstance(exc, APIConnectionError) or name in (
        "RemoteProtocolError", "ReadError", "NetworkError", "ConnectError", "CloseError",
    ):  # fmt: skip
        return semconv.ERROR_TYPE_CONNECTION
    return name


# (start time in ns, the call span, the request's model, the attempt's index in its call)
_Started = tuple[int, Any, str | None, int]
_NOT_RECORDED: _Started = (0, None, None, -1)  # `_begin`'s answer for an attempt nobody records


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

    # The two faces: zone 1 (the SDK's send, called or awaited) between the same three steps of zone 2.

    def wrap_sync(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def _attempt_request(client: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            started = recorder._begin(options, kwargs)
            try:
                result = original(client, options, *args, **kwargs)
            except BaseException as exc:
                recorder._failed(started, exc)
                raise
            return recorder._end(started, result, options)

        return _attempt_request

    def wrap_async(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        async def _attempt_request(client: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            started = recorder._begin(options, kwargs)
            try:
                result = await original(client, options, *args, **kwargs)
            except BaseException as exc:
                recorder._failed(started, exc)
                raise
            return recorder._end(started, result, options)

        return _attempt_request

    # -- zone 2 -------------------------------------------------------------------------------------------------
    # The caller's thread only notes times, status and the headers object; the span (start time, parent, every
    # attribute at once) is made on the worker thread (see `_worker` for the measurements behind that).

    def _begin(self, options: Any, kwargs: dict[str, Any]) -> _Started | None:
        """What an attempt's span needs, noted as it is sent (None if that failed), or `_NOT_RECORDED` for an attempt
        nobody records: its call is not traced (`call=None`: the client opted out), claude-tracer was uninstrumented,
        or the application suppressed instrumentation (OpenTelemetry's `suppress_instrumentation`)."""
        call = kwargs.get("call")
        if call is None or not self.active or not is_instrumentation_enabled():
            return _NOT_RECORDED
        return self._start(options, kwargs, call)

    def _end(self, started: _Started | None, result: Any, options: Any) -> Any:
        """The SDK's result, unchanged, once the attempt's response is noted."""
        if started is _NOT_RECORDED:
            return self._untraced(result, options)
        self._answered(started, result)
        return result

    @staticmethod
    def _untraced(result: Any, options: Any) -> Any:
        """An attempt of a call the SDK does not trace: returned as it is. Batch results read through such a client
        are not priced either (the decoder sees only the response), so their response is marked."""
        try:
            url = options.url
            if isinstance(url, str) and url.endswith("/results"):
                _compat.mark_untraced(result[0])
        except Exception:
            log.debug("could not mark an untraced response", exc_info=True)
        return result

    def _start(self, options: Any, kwargs: dict[str, Any], call: Any) -> _Started | None:
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
                _metrics.record_retry(model, _compat.last_failed_attempt(call_span))
            return time.time_ns(), call_span, model, attempt
        except Exception:
            log.debug("could not start an attempt span", exc_info=True)
            return None

    def _answered(self, started: _Started | None, result: Any) -> None:
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
            recording = call_span.is_recording()
            # Sampled out: the call is still billed, so its answer is kept for the worker to count.
            unsampled = Unsampled(call_span, started[2], started[0]) if outcome is None and not recording else None
            hop = None
            if outcome is not None:
                if recording:
                    # Only a failed attempt is retried, so only a failure is noted on the call span: the next
                    # attempt's retry cause. A success leaves the span's instance dict alone.
                    _compat.note_failed_attempt(call_span, outcome)
            elif body:
                if recording:
                    extra = body_usage_attributes(body, call_span)
                    if extra:
                        call_span.set_attributes(extra)
                    # A client-side fallback's hop: its attempt span is priced (on the worker) from its own body.
                    hop = body if semconv.USAGE_FALLBACK_HOPS in raw_attributes(call_span) else None
                elif unsampled is not None:
                    unsampled.finish(body)
            elif found.span_ending_stream is not None and not http.is_closed:
                # A streamed body is part of its attempt: it ends when the body is read, closed or dropped, and a
                # stall past the read timeout or a broken connection shows on the attempt that suffered it.
                def emit(end_ns: int, error_type: str | None) -> None:
                    _worker.defer(self._emit, started, end_ns, status, raw, error_type)
                    if unsampled is not None:
                        unsampled.finish(None)

                http.stream = found.span_ending_stream(http.stream, found.first_end(_BodyObserver(emit, unsampled, call_span if recording else None)))
                return
            _worker.defer(self._emit, started, time.time_ns(), status, raw, outcome, hop)
        except Exception:
            log.debug("could not record an attempt's response", exc_info=True)

    def _failed(self, started: _Started | None, exc: BaseException) -> None:
        if started is None or started is _NOT_RECORDED:
            return
        try:
            error_type = exception_error_type(exc)
            if started[1].is_recording():
                _compat.note_failed_attempt(started[1], error_type)
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
        hop_body: bytes | None = None,
    ) -> None:
        """On the worker thread: the attempt's span, child of its call span, and its metrics."""
        start_ns, call_span, model, attempt = started
        # What says this is an attempt goes to `start_span` (samplers and processors see it); the rest (str, int,
        # float and bool values) is added as it is: the SDK's cleaning checks each value against abstract base
        # classes, a large share of this function's time when every attribute went through it.
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
        attrs[semconv.ATTEMPT_OUTCOME] = outcome = attempt_outcome(status, error_type)
        if hop_body is not None:
            attrs.update(hop_attempt_attributes(hop_body))  # cost: a fallback hop's own bill
        add_attributes(span, raw_attributes(span), attrs)
        if error_type is not None:
            span.set_status(_ERROR)
        span.end(end_time=end_ns)
        # The counter's status and error type as before the outcome label existed (a stream that failed after its 200
        # is a 200 attempt there), so that queries written against them count the same; the outcome is the span's.
        _metrics.record_attempt(model, status, error_type if status is None or status >= 400 else None, outcome, headers)
