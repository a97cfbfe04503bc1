"""Where claude-tracer touches the anthropic SDK: a table of patches, applied and undone as mirror images.

The SDK's own tracing makes the call span of every API call of every client (Anthropic, AsyncAnthropic, Bedrock,
Vertex, their copies, raw and streaming response modes, the `stream()` helper); `_calls.CallSpanProcessor`
completes it. The patches add what that span cannot see, each on a part `_compat` resolved:

- each HTTP attempt (`_attempt_request`, sync and async): a child span per attempt, see `_attempts`;
- batch results (the JSON Lines decoders): a priced call per billed line, see `_batches`;
- the end of a streamed call span: the usage fields the SDK's span leaves out (web search and fetch requests,
  geography, speed), as `_attempts` reads them from a non-streamed body;
- four helpers of the SDK's tracing, replaced by faster equivalents (`_speedups`);
- only with `capture_content=True`: each client's `_tracer` property, read first thing by every call, to set the
  client's content mode before its call span starts.

The SDK's switches decide what is traced: a client that opted out of traces (`open_telemetry=False`,
`{"traces": {"enabled": False}}`, or `ANTHROPIC_OPEN_TELEMETRY=false` when it was made) has no call span, so
claude-tracer records nothing of its calls either, wraps none of its streams and prices none of its batch results;
a client whose propagation is off sends no trace headers. No client gets middleware, and no request is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from tracer import _compat
from tracer.capture import _speedups
from tracer.capture._attempts import AttemptRecorder
from tracer.capture._batches import BatchResultRecorder
from tracer.capture._calls import record_streamed_usage

log = logging.getLogger("tracer.capture")


class Patcher:
    """Applies and undoes the patches; holds what they need (the attempt recorder, the content settings)."""

    # (field of `_compat.Parts` holding the owner, index in it or None, attribute, name of the Patcher method that
    # makes the replacement from the original). `apply` and `undo` both loop over this table; a row whose part this
    # SDK lacks is skipped (`_compat` has warned), and so is the `_tracer` row unless content is recorded.
    TABLE: tuple[tuple[str, int | None, str, str], ...] = (
        ("attempt_owners", 0, _compat.ATTEMPT_REQUEST, "_sync_attempt"),
        ("attempt_owners", 1, _compat.ATTEMPT_REQUEST, "_async_attempt"),
        ("jsonl_decoders", 0, "__decode__", "_sync_batch_results"),
        ("jsonl_decoders", 1, "__decode__", "_async_batch_results"),
        ("streamed_message", None, "end", "_streamed_message_end"),
        ("dig_owner", None, "dig", "_fast_dig"),
        ("accumulator_owner", None, "accumulator", "_light_accumulator"),
        ("record_response_owner", None, "record_response", "_light_record_response"),
        ("tracer_owner", None, _compat.TRACER_PROPERTY, "_tracer_property"),
    )

    def __init__(
        self,
        attempts: AttemptRecorder,
        content: dict[str, Any] | None,
        batch_results: BatchResultRecorder,
    ) -> None:
        self.attempts = attempts
        self.content = content  # {"max_content_bytes": N} to record message content, None to leave it off
        self.batch_results = batch_results
        self._originals: dict[tuple[Any, str], Any] = {}
        self._clients: list[Any] = []  # clients whose content mode we changed (weakly: see `_adopt`)

    def rows(self) -> list[tuple[Any, str, Callable[[Any], Any]]]:
        """(owner, attribute, factory) for every row this process's SDK has parts for."""
        found = _compat.parts()
        out = []
        for part, index, name, factory in self.TABLE:
            if name == _compat.TRACER_PROPERTY and self.content is None:
                continue
            owner = getattr(found, part)
            if owner is not None and index is not None:
                owner = owner[index] if index < len(owner) else None
            if owner is not None:
                out.append((owner, name, getattr(self, factory)))
        return out

    def apply(self) -> None:
        """Apply every row, or none: a row that fails takes back those already applied. Never raises."""
        try:
            for owner, name, factory in self.rows():
                original = vars(owner)[name]
                replacement = factory(original)
                self._originals[(owner, name)] = original
                setattr(owner, name, replacement)
        except Exception:
            log.warning("tracer: could not patch the anthropic SDK; its calls are not traced by claude-tracer", exc_info=True)
            self.undo()

    def undo(self) -> None:
        for (owner, name), original in list(self._originals.items()):
            try:
                setattr(owner, name, original)
            except Exception:
                log.debug("could not restore %s.%s", owner, name, exc_info=True)
        self._originals.clear()
        self.attempts.active = False
        self.batch_results.active = False
        for ref in self._clients:
            client = ref()
            if client is not None:
                try:
                    _compat.restore_content(client)
                except Exception:
                    log.debug("could not restore a client's content mode", exc_info=True)
        self._clients.clear()

    # -- the factories -----------------------------------------------------------------------------------------

    def _sync_attempt(self, original: Any) -> Any:
        return self.attempts.wrap_sync(original)

    def _async_attempt(self, original: Any) -> Any:
        return self.attempts.wrap_async(original)

    def _fast_dig(self, original: Any) -> Any:
        return _speedups.fast_dig

    def _light_accumulator(self, original: Any) -> Any:
        return _speedups.light_accumulator(original)

    def _light_record_response(self, original: Any) -> Any:
        return _speedups.light_record_response(original, _compat.parts().record_response_owner)

    def _streamed_message_end(self, original: Any) -> Any:
        def end(recorder: Any, *args: Any, **kwargs: Any) -> None:
            record_streamed_usage(recorder)
            original(recorder, *args, **kwargs)

        return end

    def _sync_batch_results(self, original: Any) -> Any:
        return _unless_untraced(original, self.batch_results.wrap_sync(original))

    def _async_batch_results(self, original: Any) -> Any:
        return _unless_untraced(original, self.batch_results.wrap_async(original))

    def _tracer_property(self, original: property) -> property:
        fget = original.fget
        if fget is None:  # `_compat` checked it is a readable property
            raise TypeError("BaseClient._tracer has no getter")
        patcher = self

        def _tracer(client: Any) -> Any:
            tracer = fget(client)
            if tracer is not None:  # a client that opted out of traces records no content either
                try:
                    if _compat.content_mode_owner(client) is not patcher:
                        patcher._adopt(client)
                except Exception:
                    log.debug("could not set a client's content mode", exc_info=True)
            return tracer

        return property(_tracer, doc=original.__doc__)

    def _adopt(self, client: Any) -> None:
        """Have the client's call spans record message content (`capture_content=True`), up to our size limit."""
        import weakref

        if _compat.record_content(client, self, self.content or {}):
            self._clients.append(weakref.ref(client))


def _unless_untraced(original: Any, traced: Any) -> Any:
    """A JSON Lines decoder's `__decode__` that records through `traced`, unless its client did not trace the call
    or the application suppressed instrumentation where the results are read.
    Both faces return the iterator their decoder makes, so one replacement serves the sync and the async one."""

    def __decode__(decoder: Any) -> Any:
        if _untraced(decoder) or not is_instrumentation_enabled():
            return original(decoder)
        return traced(decoder)

    return __decode__


def _untraced(decoder: Any) -> bool:
    """Whether a JSON Lines decoder reads the body of a call its client did not trace (see `_attempts`)."""
    return _compat.is_untraced(getattr(decoder, "http_response", None))
