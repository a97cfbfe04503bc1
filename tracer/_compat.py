"""The one door to the private parts of the anthropic SDK, its HTTP library and the OpenTelemetry SDK.

claude-tracer needs a few things no public API offers: the SDK's per-attempt send (`_attempt_request`), the
helpers its own tracing uses for streams, and the OpenTelemetry SDK's attribute dict. Every one of them is named
here, and nowhere else. `check()` resolves them all once, when `instrument()` runs, before anything is patched:

- a part that is there is handed to the code that uses it (`parts().attempt_owners`, `parts().span_ending_stream`...);
- a part that is missing or has another shape is `None`, the feature that needs it falls back to what still works
  (the table below), and `instrument()` logs one warning naming the SDK version and each missing part.

| part | without it |
|---|---|
| `SyncAPIClient._attempt_request`, `AsyncAPIClient._attempt_request` (`call=` argument) | no attempt spans (call spans, tokens and cost still recorded) |
| `anthropic._tracing.span_ending_stream`, `FirstEnd` | a streamed attempt ends when its headers arrive, not its body |
| `BaseClient._tracer`, `_open_telemetry`, `_set_open_telemetry` | `capture_content=True` is not applied to clients |
| `JSONLDecoder.__decode__` (sync and async), `.http_response` | batch results are not priced per line |
| `anthropic._tracing.dig`, `lib._tracing._streaming.accumulator` | the SDK's slower helpers are used (same spans) |
| `anthropic._tracing.record_response` (and the `set_response_attributes` it calls); httpx2 `Headers._list` | the same (same spans) |
| `StreamedMessage.end` and its `_span`, `_snapshot`, ... fields | streamed calls lack web search/fetch counts, geography, speed |
| the HTTP library's `Headers.raw`, `Response._content` | attempts lack headers / non-streamed calls lack those usage fields |
| OpenTelemetry SDK span `_attributes._dict`, `_lock`, `_end_time` | attributes are read and set through the public API (slower) |
| `ReadableSpan`'s `_resource`, `_context`, `_parent`, ... (`finished_span_fields`) | the store reads finished spans through their properties (slower) |
| OpenTelemetry API proxy instrument `_real_instrument` | metrics are computed even when no MeterProvider is registered |
| `anthropic._data.deprecated_models`, a `MessageStream`'s `_raw_stream`, a `Stream`'s `_iterator` | no retiring-model flags; `StreamDeadline` guards only plain iterables |
| OTLP exporters' `_endpoint`, `_preferred_temporality`, `_preferred_aggregation` | warnings name "the default endpoint"; the SDK's default temporality |
| OpenTelemetry SDK `BatchSpanProcessor._batch_processor._queue` (a deque) | spans a full queue drops are not counted (OpenTelemetry still logs them) |

Nothing here raises: a part that cannot be resolved is simply missing.

Besides reading them, claude-tracer writes on a few of the SDK's objects, here too (the last section): the patched
methods' names, a call span's `end` replaced until it runs (`before_end`), and marks of ours on call spans,
responses and clients. `tests/capture/test_compat_door.py` fails on any foreign underscore reached elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tracer.capture")

# Fields of the SDK's `StreamedMessage` that `_calls.record_streamed_usage` reads, as its `end` does.
STREAMED_MESSAGE_FIELDS = ("_span", "_snapshot", "_shared_snapshot", "_has_message_delta", "_snapshot_withheld")


@dataclass
class Parts:
    """The private parts that this process's SDK and OpenTelemetry have (None: missing), resolved once."""

    sdk_version: str = "unknown"
    attempt_owners: tuple[Any, Any] | None = None  # (SyncAPIClient, AsyncAPIClient), both with `_attempt_request`
    span_ending_stream: Any = None
    first_end: Any = None
    tracer_owner: Any = None  # BaseClient, whose `_tracer` property every call reads first
    jsonl_decoders: tuple[Any, Any] | None = None  # (JSONLDecoder, AsyncJSONLDecoder)
    dig_owner: Any = None  # anthropic._tracing, with `dig`
    accumulator_owner: Any = None  # anthropic.lib._tracing._streaming, with `accumulator`
    # anthropic._tracing with `record_response` and what it reads (RESPONSE_HEADER_ATTRIBUTES, SPAN_ATTRIBUTES,
    # response_data, set_response_attributes), where the HTTP library's Headers keep `_list` (raw, lower, value)
    record_response_owner: Any = None
    streamed_message: Any = None  # its `StreamedMessage`, with `end` and STREAMED_MESSAGE_FIELDS
    headers_type: Any = None  # the HTTP library's Headers (with `.raw`)
    response_body: bool = False  # the HTTP library's Response keeps a read body in `_content`
    fast_span_attributes: bool = False  # OpenTelemetry SDK spans keep attributes as `_attributes._dict` under `_lock`
    proxy_instruments: bool = False  # the OpenTelemetry API's proxy instruments say `_real_instrument`
    missing: list[tuple[str, str]] = field(default_factory=list)  # (part, what is lost without it)

    def lose(self, part: str, consequence: str) -> None:
        self.missing.append((part, consequence))


_parts: Parts | None = None
_fast_spans = False  # `parts().fast_span_attributes`, read on every span: a module global is the cheapest read


def parts() -> Parts:
    """The resolved parts; resolved on first use (normally by `instrument()`), then cached. Never raises."""
    global _parts, _fast_spans
    if _parts is None:
        _parts = check()
        _fast_spans = _parts.fast_span_attributes
    return _parts


def warn_missing(found: Parts) -> None:
    """One warning naming the SDK version and every part this process lacks (nothing when all are there)."""
    if found.missing:
        lines = "; ".join(f"{part} (so {consequence})" for part, consequence in found.missing)
        log.warning(
            "tracer: anthropic %s lacks parts claude-tracer relies on; tracing what still works. Missing: %s",
            found.sdk_version,
            lines,
        )


def check() -> Parts:
    """Resolve every private part, each on its own, so that one missing part costs only its feature."""
    found = Parts()
    for step in (_sdk_version, _attempts, _streams, _client_options, _batches, _speedups, _http, _otel):
        try:
            step(found)
        except Exception as exc:  # a shape nobody foresaw: that step's parts are missing
            found.lose(step.__name__.lstrip("_"), f"not checked: {type(exc).__name__}: {exc}")
    return found


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _has_function(owner: Any, name: str) -> bool:
    return owner is not None and callable(vars(owner).get(name))


def _sdk_version(found: Parts) -> None:
    version = _module("anthropic._version")
    found.sdk_version = str(getattr(version, "__version__", "unknown"))


def _attempts(found: Parts) -> None:
    base = _module("anthropic._base_client")
    sync_client = getattr(base, "SyncAPIClient", None)
    async_client = getattr(base, "AsyncAPIClient", None)
    ok = _has_function(sync_client, ATTEMPT_REQUEST) and _has_function(async_client, ATTEMPT_REQUEST)
    if ok:
        for owner in (sync_client, async_client):
            params = inspect.signature(vars(owner)[ATTEMPT_REQUEST]).parameters
            ok = ok and {"options", "stream", "retries_taken", "call"} <= params.keys()
    api_call = getattr(_module("anthropic._tracing"), "ApiCall", None)
    fields = getattr(api_call, "__dataclass_fields__", {})
    ok = ok and "span" in fields
    if ok:
        found.attempt_owners = (sync_client, async_client)
    else:
        found.lose("anthropic._base_client.SyncAPIClient/AsyncAPIClient._attempt_request(call=...)", "no attempt spans")


def _streams(found: Parts) -> None:
    tracing = _module("anthropic._tracing")
    ending, first_end = getattr(tracing, "span_ending_stream", None), getattr(tracing, "FirstEnd", None)
    if callable(ending) and callable(first_end):
        found.span_ending_stream, found.first_end = ending, first_end
    else:
        found.lose("anthropic._tracing.span_ending_stream/FirstEnd", "a streamed attempt ends with its headers")


def _client_options(found: Parts) -> None:
    base = _module("anthropic._base_client")
    client = getattr(base, "BaseClient", None)
    prop = vars(client).get(TRACER_PROPERTY) if client is not None else None
    if isinstance(prop, property) and prop.fget is not None and _has_function(client, "_set_open_telemetry"):
        found.tracer_owner = client
    else:
        found.lose("anthropic._base_client.BaseClient._tracer/_set_open_telemetry", "capture_content is not applied")


def _batches(found: Parts) -> None:
    jsonl = _module("anthropic._decoders.jsonl")
    sync_decoder, async_decoder = getattr(jsonl, "JSONLDecoder", None), getattr(jsonl, "AsyncJSONLDecoder", None)
    if _has_function(sync_decoder, "__decode__") and _has_function(async_decoder, "__decode__"):
        found.jsonl_decoders = (sync_decoder, async_decoder)
    else:
        found.lose("anthropic._decoders.jsonl.JSONLDecoder.__decode__", "batch results are not priced per line")


def _speedups(found: Parts) -> None:
    # Optional: without them the SDK's own (slower) helpers make the same spans, so nothing is worth a warning.
    tracing = _module("anthropic._tracing")
    if callable(getattr(tracing, "dig", None)):
        found.dig_owner = tracing
    streaming = _module("anthropic.lib._tracing._streaming")
    if callable(getattr(streaming, "accumulator", None)):
        found.accumulator_owner = streaming
    if (
        callable(getattr(tracing, "set_response_attributes", None))
        and callable(getattr(tracing, "record_response", None))
        and callable(getattr(tracing, "response_data", None))
        and isinstance(getattr(tracing, "RESPONSE_HEADER_ATTRIBUTES", None), Mapping)
        and _headers_keep_list()
    ):
        found.record_response_owner = tracing
    streamed = getattr(streaming, "StreamedMessage", None)
    if _has_function(streamed, "end"):
        names: set[str] = set()
        for member in vars(streamed).values():
            code = getattr(member, "__code__", None)
            if code is not None:
                names.update(code.co_names)
        if set(STREAMED_MESSAGE_FIELDS) <= names:
            found.streamed_message = streamed
    if streaming is not None and found.streamed_message is None:
        found.lose("anthropic.lib._tracing._streaming.StreamedMessage fields", "streamed calls lack web search/fetch, geography and speed")


def _http(found: Parts) -> None:
    http = _module("httpx2") or _module("httpx")
    headers = getattr(http, "Headers", None)
    if headers is not None and isinstance(getattr(headers, "raw", None), property):
        found.headers_type = headers
    else:
        found.lose("Headers.raw of the SDK's HTTP library", "attempt spans lack response headers")
    response: Any = getattr(http, "Response", None)
    try:
        probe = response(200, content=b"{}")
        found.response_body = getattr(probe, "_content", None) == b"{}"
    except Exception:
        found.response_body = False
    if not found.response_body:
        found.lose("Response._content of the SDK's HTTP library", "non-streamed calls lack web search/fetch, geography, speed")


def _otel(found: Parts) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    # A throwaway provider, not registered, that registers no exit hook either.
    span: Any = TracerProvider(shutdown_on_exit=False).get_tracer("claude-tracer.compat").start_span("probe")
    bounded = getattr(span, "_attributes", None)
    found.fast_span_attributes = (
        type(getattr(bounded, "_dict", None)) is dict
        and hasattr(bounded, "maxlen")
        and hasattr(bounded, "max_value_len")
        and hasattr(bounded, "_immutable")
        and getattr(span, "_lock", None) is not None
        and hasattr(span, "_end_time")
    )
    span.end()
    # A proxy instrument from a meter of the API's own proxy provider: does it say whether a real one stands behind?
    internal = _module("opentelemetry.metrics._internal")
    proxy = internal._ProxyMeterProvider().get_meter("claude-tracer.compat").create_counter("probe")
    found.proxy_instruments = "_real_instrument" in vars(proxy)


# -- accessors used on the hot path: plain functions over what `check()` found ---------------------------------------


def raw_attributes(span: Any) -> Mapping[str, Any]:
    """The span's attributes, as the plain dict the OpenTelemetry SDK keeps them in where it can; read only.

    An SDK span keeps them in a `BoundedAttributes` (a dict inside, limits, a lock) behind a `MappingProxyType`:
    every `.get` through the two is a Python-level call and a miss raises and catches a KeyError. claude-tracer
    reads a call span about twenty times, and the store's exporter every finished span, so the dict is read where
    the SDK's shape is the one `check()` found.
    """
    if _fast_spans:
        raw = getattr(getattr(span, "_attributes", None), "_dict", None)
        if type(raw) is dict:
            return raw
    return span.attributes or {}


def span_parts() -> bool:
    """Whether finished spans can be read through the OpenTelemetry SDK's own fields (`raw_attributes`,
    `finished_span_fields`): resolved once, by `instrument()`'s `check()` or, for a store exporter used without it,
    here, by the one probe that concerns spans. Never raises."""
    global _fast_spans
    if _parts is None and not _span_parts_probed:
        probe = Parts()
        try:
            _otel(probe)
        except Exception:
            probe.fast_span_attributes = False
        _span_parts_probed.append(True)
        _fast_spans = probe.fast_span_attributes
    return _fast_spans


_span_parts_probed: list[bool] = []


def finished_span_fields(span: Any) -> tuple[Any, ...]:
    """(attributes, resource, context, parent, scope, status, name, start, end, kind) of a finished span: the
    store's exporter reads every span it is given, so the SDK's `ReadableSpan` is read through the plain instance
    attributes its public properties return (an attribute load each instead of a property call), its attributes
    as `raw_attributes` reads them. Not through `__dict__`, which makes CPython 3.11+ build a dict for each span,
    that the garbage collector then tracks. Anything else is read through its public properties."""
    try:
        attrs = span._attributes
        if _fast_spans and type(raw := attrs._dict) is dict:
            attrs = raw
        elif attrs is None:
            attrs = {}
        elif type(attrs) is not dict:
            attrs = span.attributes or {}
        return (
            attrs, span._resource, span._context, span._parent, span._instrumentation_scope, span._status, span._name,
            span._start_time, span._end_time, span._kind,
        )  # fmt: skip
    except AttributeError:
        return (
            span.attributes or {}, span.resource, span.context, span.parent, span.instrumentation_scope, span.status,
            span.name, span.start_time, span.end_time, span.kind,
        )  # fmt: skip


def add_attributes(span: Any, attrs: Mapping[str, Any], extra: dict[str, Any]) -> None:
    """`span.set_attributes(extra)`, where `attrs` is `raw_attributes(span)`. The values must be str, bool, int or
    float (valid attribute values that need no cleaning): they are added to the dict under the span's lock, as
    `set_attributes` would, without validating each again. With a value-length limit, or too few free slots for
    all of them, the SDK's own path applies the limits."""
    bounded = getattr(span, "_attributes", None)
    lock = getattr(span, "_lock", None)
    if (
        _fast_spans
        and type(attrs) is dict
        and getattr(bounded, "_dict", None) is attrs
        and lock is not None
        and getattr(bounded, "max_value_len", 0) is None
        and getattr(bounded, "_immutable", True) is False
        and ((maxlen := getattr(bounded, "maxlen", 0)) is None or len(attrs) + len(extra) <= maxlen)
    ):
        with lock:
            if span._end_time is None:
                attrs.update(extra)
        return
    span.set_attributes(extra)


def attribute_room(span: Any, attrs: Mapping[str, Any], extra: Mapping[str, Any]) -> int | None:
    """How many more attributes `span` (whose attributes are `attrs`) can take after `extra` before its attribute
    limit drops the oldest (the model, the tokens); None when it has no limit, or none that can be read."""
    maxlen = getattr(getattr(span, "_attributes", None), "maxlen", None)
    if type(maxlen) is not int:
        return None
    return maxlen - len(attrs) - sum(1 for key in extra if key not in attrs)


def exporter_endpoint(exporter: Any) -> Any:
    """The endpoint an OpenTelemetry OTLP exporter was made with (`_endpoint`: no public accessor), or None."""
    return getattr(exporter, "_endpoint", None)


def metric_exporter_preferences(exporter: Any) -> tuple[Any, Any]:
    """(preferred temporality, preferred aggregation) of an OTLP metric exporter, to give a wrapper of it the same;
    (None, None) where it keeps them elsewhere (the MetricExporter defaults then apply)."""
    return getattr(exporter, "_preferred_temporality", None), getattr(exporter, "_preferred_aggregation", None)


def span_queue_length(processor: Any) -> Callable[[], int] | None:
    """A function giving how many spans wait in an OpenTelemetry `BatchSpanProcessor`'s queue (the deque of its
    `_batch_processor`, read anew at each call: a version that replaces the deque after a fork stays right), or
    None where the processor keeps its queue elsewhere."""
    batch: Any = getattr(processor, "_batch_processor", None)
    if not isinstance(getattr(batch, "_queue", None), deque):
        return None
    return lambda: len(batch._queue)


def deprecated_models() -> dict[str, str]:
    """Model ID -> end-of-life date, from the installed SDK's table of deprecated models (`anthropic._data`,
    since 1.13); empty where the SDK has none. A fresh dict."""
    table = getattr(_sdk_data("deprecated_models"), "DEPRECATED_MODELS", None)
    return {str(model): str(date) for model, date in table.items()} if isinstance(table, dict) else {}


def _sdk_data(name: str) -> Any:
    """The SDK's data module `anthropic._data.<name>` (plain tables, no imports of the SDK's own), or None. Where
    the SDK is not imported yet (the dashboard, `tracer report`), the file is read on its own: importing the
    `anthropic` package for a table costs a reading process a second or more of its first page."""
    if "anthropic" in sys.modules or f"anthropic._data.{name}" in sys.modules:
        return _module(f"anthropic._data.{name}")
    try:
        spec = importlib.util.find_spec("anthropic")  # finds the package without importing it
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        path = next((p for p in (Path(loc) / "_data" / f"{name}.py" for loc in locations) if p.is_file()), None)
        if path is None:
            return None
        data = importlib.util.spec_from_file_location(f"_tracer_sdk_data_{name}", path)
        if data is None or data.loader is None:
            return None
        module = importlib.util.module_from_spec(data)
        data.loader.exec_module(module)
        return module
    except Exception:
        return _module(f"anthropic._data.{name}")


def sdk_stream_of(stream: Any) -> Any:
    """The SDK `Stream` / `AsyncStream` inside a `MessageStream` helper (`_raw_stream`), else `stream` itself."""
    raw = getattr(stream, "_raw_stream", None)
    return raw if raw is not None else stream


def replace_stream_iterator(stream: Any, wrap: Callable[[Any], Any]) -> None:
    """Have every way of reading an SDK `Stream` (iteration, the helpers, `text_stream`) go through `wrap(inner)`:
    its `_iterator` is a `functools.cached_property` that all of them read, so the cached value is replaced."""
    stream.__dict__["_iterator"] = wrap(stream._iterator)


def _headers_keep_list() -> bool:
    http = _module("httpx2")
    try:
        probe = http.Headers([("A-B", "c"), ("a-b", "d")])
        return probe._list == [(b"A-B", b"a-b", b"c"), (b"a-b", b"a-b", b"d")] and probe.get("a-b") == "c, d"
    except Exception:
        return False


def header_list(headers: Any) -> list[tuple[bytes, bytes, bytes]] | None:
    """An httpx2 `Headers`' (raw name, lower-case name, value) list, or None where it keeps none."""
    raw = getattr(headers, "_list", None)
    return raw if type(raw) is list else None


def response_body(response: Any) -> bytes | None:
    """The body of an HTTP response that has been read already (None while it streams, or if we cannot tell)."""
    if not parts().response_body:
        return None
    body = getattr(response, "_content", None)
    return body if type(body) is bytes else None


def streamed_message_state(recorder: Any) -> tuple[Any, Any, bool] | None:
    """(call span, Message, final) of the SDK's `StreamedMessage` about to end a stream's call span, read as its
    `end` reads them: the stream helper's shared snapshot, else the one built from the events; final once
    `message_delta` has come and the helper did not withhold its snapshot. None without those fields."""
    if parts().streamed_message is None:
        return None
    shared = recorder._shared_snapshot
    message = recorder._snapshot if shared is None else shared()
    final = recorder._has_message_delta is True and recorder._snapshot_withheld is False
    return recorder._span, message, final


def proxy_has_no_instrument(instrument: Any) -> bool:
    """Whether an instrument is the OpenTelemetry API's proxy with no real instrument behind it yet."""
    return parts().proxy_instruments and getattr(instrument, "_real_instrument", instrument) is None


def use_own_ids(tracer: Any) -> Any:
    """`tracer` (an SDK `Tracer` of ours), taking span ids from claude-tracer's own random stream rather than its
    provider's generator: the attempt spans it starts on our worker thread then draw nothing from the
    application's global `random` (tracer/_ids.py). The SDK's `Tracer` keeps its generator in the attribute
    `id_generator` (opentelemetry-sdk 1.x); where it does not, the provider's generator stays (ids as good, drawn
    from the global stream). Never raises; returns `tracer`."""
    try:
        if isinstance(getattr(tracer, "id_generator", None), _id_generator_base()):
            from tracer._ids import OwnIdGenerator

            tracer.id_generator = OwnIdGenerator()
    except Exception:
        log.debug("tracer: could not give our tracer its own id generator", exc_info=True)
    return tracer


def _id_generator_base() -> type:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    return IdGenerator


# OpenTelemetry's OTLP exporters draw their retry jitter from the module-level `random` (`random.uniform`), on the
# thread that exports: a thread of ours. Each module that does so gets a private `random.Random` under that name.
_BACKOFF_MODULES = ("opentelemetry.exporter.otlp.proto.grpc.exporter", "opentelemetry.exporter.otlp.common.http")


def private_backoff_random() -> None:
    """Give the OTLP exporter modules (those imported) a random stream of their own for their retry jitter, so a
    collector that is down makes no draws from the application's seeded `random`. Without it (another layout of
    those modules), their jitter draws from the global stream. Never raises."""
    import random as _random

    for name in _BACKOFF_MODULES:
        module = sys.modules.get(name)
        try:
            if module is not None and getattr(module, "random", None) is _random:
                module.random = _random.Random()  # type: ignore[attr-defined]  # same methods, own state
        except Exception:
            log.debug("tracer: could not give %s its own random", name, exc_info=True)


# -- what claude-tracer does to the SDK's own objects -----------------------------------------------------------------
# Names of the SDK's methods the patch table replaces, a span's `end` replaced on the instance, and a few facts of
# ours kept on the SDK's objects (a call span, a response, a client) under names no SDK uses. Here, so that the one
# module that knows the SDK's private shapes is also the one that writes on its objects.

ATTEMPT_REQUEST = "_attempt_request"  # SyncAPIClient / AsyncAPIClient: sends one HTTP attempt of a call
TRACER_PROPERTY = "_tracer"  # BaseClient: the client's tracer, read first thing by every call

_LAST_OUTCOME = "_tracer_last_outcome"  # on a call span: how its latest attempt failed
_BODY_READ = "_tracer_body_read"  # on a call span: its streamed body ended cleanly (the app saw no error)
_UNTRACED = "_claude_tracer_untraced"  # on an HTTP response of a call the SDK did not trace
_CONTENT_OWNER = "_claude_tracer_content"  # on a client: who set its content mode
_SAVED_OPTIONS = "_claude_tracer_saved_open_telemetry"  # on a client: its telemetry options before that


def before_end(span: Any, hook: Callable[[int | None], None]) -> None:
    """Have `hook(end_time)` run just before `span` ends (on the thread that ends it; the hook must not raise).

    The span's `end` is replaced on the instance. Once it has run, the replacement is deleted again: span -> end ->
    span is a reference cycle, and breaking it at once frees spans by reference counting instead of leaving them
    to the cyclic garbage collector. `del`, not `span.__dict__.pop`: reading `__dict__` would turn the span's
    inline attributes into a dict. Two processors may both wrap a span; the outer `del` takes the attribute away
    and the inner one finds none.
    """
    original_end = span.end

    def end(end_time: int | None = None) -> None:
        hook(end_time)
        original_end(end_time)
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager on every call
            del span.end
        except AttributeError:
            pass

    span.end = end


def note_failed_attempt(call_span: Any, outcome: str) -> None:
    """Note on a call span how its latest attempt failed: the cause of the retry that follows, if one does."""
    setattr(call_span, _LAST_OUTCOME, outcome)


def last_failed_attempt(call_span: Any) -> str | None:
    """What `note_failed_attempt` noted on `call_span`, or None."""
    return getattr(call_span, _LAST_OUTCOME, None)


def mark_body_read(call_span: Any) -> None:
    """Note on a call span that its streamed body ended cleanly, before the SDK ends the span."""
    setattr(call_span, _BODY_READ, True)


def body_was_read(call_span: Any) -> bool:
    """Whether `mark_body_read` marked `call_span`."""
    return getattr(call_span, _BODY_READ, False) is True


def mark_untraced(response: Any) -> None:
    """Mark an HTTP response as one of a call the SDK did not trace (its batch results are then not priced)."""
    setattr(response, _UNTRACED, True)


def is_untraced(response: Any) -> bool:
    """Whether `mark_untraced` marked `response`."""
    return getattr(response, _UNTRACED, False) is True


def content_mode_owner(client: Any) -> Any:
    """Who set the client's content mode with `record_content` (None: nobody yet). `getattr`, not the instance
    dict: reading the `__dict__` of an object whose attributes CPython keeps inline makes it a real dict for good,
    and every later attribute read a bit slower."""
    return getattr(client, _CONTENT_OWNER, None)


def record_content(client: Any, owner: Any, settings: Mapping[str, Any]) -> bool:
    """Have the client's call spans record message content (its `_open_telemetry` options, `traces.content_mode`
    and `settings` such as `max_content_bytes`), keeping its options for `restore_content`, and note `owner` as
    the one who did. True when the client's options were changed (False: it recorded content already)."""
    public = isinstance(getattr(type(client), "open_telemetry", None), property)  # a copy, where the SDK has one
    options = client.open_telemetry if public else client._open_telemetry
    traces = options["traces"]
    changed = traces.get("content_mode") != "content"
    if changed:
        setattr(client, _SAVED_OPTIONS, options)
        client._set_open_telemetry({**options, "traces": {**traces, "content_mode": "content", **settings}})
    setattr(client, _CONTENT_OWNER, owner)
    return changed


def restore_content(client: Any) -> None:
    """Undo `record_content`: the client's own options back, and no owner."""
    if hasattr(client, _CONTENT_OWNER):
        delattr(client, _CONTENT_OWNER)
    saved = getattr(client, _SAVED_OPTIONS, None)
    if saved is not None:
        delattr(client, _SAVED_OPTIONS)
        client._set_open_telemetry(saved)
