"""The one place claude-tracer touches the anthropic SDK: a table of patches, applied and undone as mirror images.

Every API call of every client (Anthropic, AsyncAnthropic, Bedrock, Vertex, their copies, raw and streaming
response modes, the `stream()` helper) goes through `BaseClient.request`, which reads the client's `_tracer`
property first thing, before it picks the middleware chain the call's attempts run through. Wrapping that one
property therefore lets us, on each call:

- put our attempt middleware into the client's chain (lazily: clients created before `instrument()` and copies
  made by `with_options` / `with_middleware` / `copy` are all covered, and constructing a client costs nothing);
- give a client whose native tracing is off (`ANTHROPIC_OPEN_TELEMETRY=false`, `open_telemetry=False`) our
  tracer, so the SDK's own code makes its call span: the same attributes, stream handling and trace-context
  propagation as the native span, under our scope. Exactly one call span per call, in every configuration.

The other rows: batch results (a priced call per billed line), two helpers of the SDK's tracing replaced by faster
equivalents (`_speedups`), and the end of a streamed call span, where the usage fields the SDK's span leaves out
(web search and fetch requests, geography, speed) are added, as `_attempts` reads them from a non-streamed body.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import anthropic._tracing as sdk_tracing
from anthropic._base_client import BaseClient
from anthropic._decoders.jsonl import AsyncJSONLDecoder, JSONLDecoder
from opentelemetry.trace import Tracer

from tracer.capture import _speedups
from tracer.capture._attempts import AttemptMiddleware
from tracer.capture._batches import BatchResultRecorder
from tracer.capture._calls import record_streamed_usage

try:  # only for the optional rows of the table: an SDK without the module is traced all the same
    import anthropic.lib._tracing._streaming as sdk_streaming
except ImportError:  # pragma: no cover - depends on the SDK's version
    sdk_streaming = None  # type: ignore[assignment]

log = logging.getLogger("tracer.capture")

_MARK = "_claude_tracer_middleware"
_SAVED_OPTIONS = "_claude_tracer_saved_open_telemetry"


class Patcher:
    """Applies and undoes the patches; holds what a patched client needs (our middleware, our tracer)."""

    # (owner, attribute, name of the Patcher method that makes the replacement from the original, required).
    # `apply` and `undo` both loop over this table. The last three are not required: an SDK without what they
    # wrap is traced all the same, only slower, and its streams without the usage fields that only they add.
    TABLE: tuple[tuple[Any, str, str, bool], ...] = (
        (BaseClient, "_tracer", "_tracer_property", True),  # every API call: attempt middleware, call span when native is off
        (JSONLDecoder, "__decode__", "_sync_batch_results", True),  # batch results: a priced call per billed line
        (AsyncJSONLDecoder, "__decode__", "_async_batch_results", True),
        (sdk_tracing, "dig", "_fast_dig", False),  # see _speedups: the same span, made faster
        (sdk_streaming, "accumulator", "_light_accumulator", False),
        # streams: the usage fields (web search and fetch, geography, speed) that the SDK's span leaves out
        (getattr(sdk_streaming, "StreamedMessage", None), "end", "_streamed_message_end", False),
    )

    def __init__(
        self,
        middleware: AttemptMiddleware,
        call_tracer: Tracer,
        content: dict[str, Any] | None,
        batch_results: BatchResultRecorder,
    ) -> None:
        self.middleware = middleware
        self.call_tracer = call_tracer
        self.content = content  # {"max_content_bytes": N} to record message content, None to leave it off
        self.batch_results = batch_results
        self.clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._originals: dict[tuple[Any, str], Any] = {}

    def apply(self) -> None:
        for owner, name, factory, required in self.TABLE:
            if not required and (owner is None or not callable(vars(owner).get(name))):
                log.debug("tracer: this anthropic SDK has no %s to wrap; traced without it", name)
                continue
            original = vars(owner)[name]
            self._originals[(owner, name)] = original
            setattr(owner, name, getattr(self, factory)(original))

    def undo(self) -> None:
        for owner, name, _factory, _required in self.TABLE:
            original = self._originals.pop((owner, name), None)
            if original is not None:
                setattr(owner, name, original)
        self.middleware.active = False
        self.batch_results.active = False
        for client in list(self.clients):
            try:
                self._remove_middleware(client)
            except Exception:
                log.debug("could not take our middleware out of a client", exc_info=True)
        self.clients = weakref.WeakSet()

    # -- the wrapped property ----------------------------------------------------------------------------------

    def _tracer_property(self, original: property) -> property:
        fget = original.fget
        assert fget is not None  # the SDK defines `_tracer` as a read-only property
        patcher = self

        def _tracer(client: Any) -> Any:
            try:
                # getattr, not `client.__dict__`: reading the instance dict of an object whose attributes CPython
                # keeps inline makes it a real dict for good, and every SDK attribute read on the client a bit slower.
                if getattr(client, _MARK, None) is not patcher.middleware:
                    patcher._adopt(client)
            except Exception:
                log.debug("could not add the attempt middleware to a client", exc_info=True)
            tracer = fget(client)
            if tracer is None:
                return patcher.call_tracer
            return tracer

        return property(_tracer, doc=original.__doc__)

    def _fast_dig(self, original: Any) -> Any:
        return _speedups.fast_dig

    def _light_accumulator(self, original: Any) -> Any:
        return _speedups.light_accumulator(original)

    def _streamed_message_end(self, original: Any) -> Any:
        def end(recorder: Any, *args: Any, **kwargs: Any) -> None:
            record_streamed_usage(recorder)
            original(recorder, *args, **kwargs)

        return end

    def _sync_batch_results(self, original: Any) -> Any:
        return self.batch_results.wrap_sync(original)

    def _async_batch_results(self, original: Any) -> Any:
        return self.batch_results.wrap_async(original)

    def _adopt(self, client: Any) -> None:
        mw = self.middleware
        chain = client._middleware
        if mw not in chain:
            # Innermost (last): the span then times the HTTP attempt itself, after any middleware of the app's.
            client._middleware = (*chain, mw)
            client._middleware_chain = client._build_middleware_chain()
        if self.content is not None:
            options = client._open_telemetry
            traces = options["traces"]
            if traces.get("content_mode") != "content":
                setattr(client, _SAVED_OPTIONS, options)
                client._set_open_telemetry({**options, "traces": {**traces, "content_mode": "content", **self.content}})
        setattr(client, _MARK, mw)
        self.clients.add(client)

    def _remove_middleware(self, client: Any) -> None:
        mw = self.middleware
        if mw in client._middleware:
            client._middleware = tuple(m for m in client._middleware if m is not mw)
            client._middleware_chain = client._build_middleware_chain()
        if hasattr(client, _MARK):
            delattr(client, _MARK)
        saved = getattr(client, _SAVED_OPTIONS, None)
        if saved is not None:
            delattr(client, _SAVED_OPTIONS)
            client._set_open_telemetry(saved)
