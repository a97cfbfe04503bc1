"""Stream deadlines: a total deadline and an idle (between-events) timeout for SDK streams, sync and async."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tracer import _compat, semconv
from tracer.resilience import _clock, _telemetry
from tracer.resilience._classify import FailureKind, classify
from tracer.resilience._errors import StreamTimeoutError

log = logging.getLogger("tracer.resilience")

S = TypeVar("S")
_END = object()  # what the next item is once the source is done


@dataclass
class StreamProgress:
    """What a guarded stream has delivered so far: text, event count, usage and model from the raw events."""

    started_at: float
    last_event_at: float
    events: int = 0
    text: list[str] = field(default_factory=list)
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    completed: bool = False

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def observe(self, item: Any) -> None:
        """Fold one stream item in. Never raises (zone 2)."""
        try:
            self.events += 1
            if isinstance(item, str):
                self.text.append(item)
                return
            kind = getattr(item, "type", None)
            if kind == "content_block_delta":
                delta = item.delta
                if getattr(delta, "type", None) == "text_delta":
                    self.text.append(delta.text)
            elif kind == "text" and isinstance(getattr(item, "text", None), str):  # MessageStream's TextEvent
                self.text.append(item.text)
            elif kind == "message_start":
                self.model = item.message.model
                self.usage.update(_usage_dict(item.message.usage))
            elif kind == "message_delta" and item.usage is not None:
                # cumulative in message_delta: overwrite what message_start said, never add
                self.usage.update({k: v for k, v in _usage_dict(item.usage).items() if v is not None})
        except Exception:
            log.debug("could not read a stream item", exc_info=True)


def _usage_dict(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    if hasattr(usage, "model_dump"):
        return dict(usage.model_dump(exclude_none=True))
    return dict(usage)


OnEnd = Callable[[StreamProgress, BaseException | None], None]


class StreamDeadline:
    """A total deadline and an idle timeout for a stream; `guard()` installs them on an SDK stream in place.

    >>> deadline = StreamDeadline(total_s=60, idle_s=10)
    >>> with client.messages.stream(model=..., max_tokens=..., messages=...) as stream:
    ...     for text in deadline.guard(stream).text_stream:   # MessageStream, Stream, async ones, any iterator
    ...         print(text, end="")

    Past either limit the stream is closed and `StreamTimeoutError` raised, with `.kind` ("total" | "idle") and
    the `.partial_text` received so far; a `deadline` event records it. Async streams are cut exactly (the wait
    for the next event is bounded by `asyncio.timeout`). A blocking sync read cannot be interrupted, so sync
    streams are cut when the next event or the socket's read timeout arrives: pass
    `timeout=deadline.request_timeout(client.timeout)` to the SDK call (GuardedClient does), and a stall raises
    after `min(idle_s, total_s)` instead of the SDK's 600 s.
    """

    def __init__(
        self,
        total_s: float | None = None,
        idle_s: float | None = None,
        *,
        name: str = "stream",
        clock: _clock.Clock | None = None,
    ) -> None:
        if total_s is None and idle_s is None:
            raise ValueError("give total_s, idle_s or both")
        self.total_s = total_s
        self.idle_s = idle_s
        self.name = name
        self.clock = clock or _clock.monotonic

    def request_timeout(self, timeout: Any = None) -> Any:
        """An `httpx2.Timeout` like `timeout` (the client's, or a number) whose read timeout is at most the limits."""
        import httpx2

        read_limit = min(x for x in (self.idle_s, self.total_s) if x is not None)
        if isinstance(timeout, httpx2.Timeout):
            read = read_limit if timeout.read is None else min(timeout.read, read_limit)
            return httpx2.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)
        if isinstance(timeout, (int, float)):
            return httpx2.Timeout(float(timeout), read=min(float(timeout), read_limit))
        return httpx2.Timeout(600.0, connect=5.0, read=read_limit)

    # -- installing ----------------------------------------------------------------------------------------------

    def guard(self, stream: S, *, started_at: float | None = None, on_end: OnEnd | None = None) -> S:
        """Install the limits on `stream` before it is iterated; returns the same object where it can.

        SDK `Stream` / `AsyncStream` and `MessageStream` / `AsyncMessageStream` are guarded in place (same object,
        same type, `text_stream` and `get_final_message()` included); any other (async) iterable comes back as a
        guarded generator. `started_at` (a `clock()` reading) counts the total deadline from the request's start.
        `on_end(progress, exc)` runs once when the stream ends however it ends (zone 2: its errors are logged).
        """
        now = self.clock()
        progress = StreamProgress(started_at=now if started_at is None else started_at, last_event_at=now)
        target: Any = _compat.sdk_stream_of(stream)  # MessageStream / AsyncMessageStream wrap an SDK Stream
        if _is_sdk_stream(target):
            # Every way of reading the SDK's stream (iteration, the MessageStream helpers, text_stream) goes through
            # its iterator, so guarding that guards them all.
            def guard(inner: Any) -> Any:
                if hasattr(inner, "__anext__"):
                    return self._aguard(inner, progress, on_end)
                return self._guard(inner, progress, on_end)

            _compat.replace_stream_iterator(target, guard)
            return stream
        if hasattr(stream, "__aiter__"):
            return self._aguard(stream.__aiter__(), progress, on_end)  # type: ignore[return-value]
        return self._guard(iter(stream), progress, on_end)  # type: ignore[return-value,call-overload]

    # -- the guards ----------------------------------------------------------------------------------------------

    def _timeout(self, kind: str, progress: StreamProgress, now: float) -> StreamTimeoutError:
        limit = self.idle_s if kind == "idle" else self.total_s
        err = StreamTimeoutError(
            kind,
            limit_s=float(limit or 0.0),
            elapsed_s=now - progress.started_at,
            partial_text=progress.partial_text,
            events=progress.events,
        )
        _telemetry.event(
            semconv.EVENT_KIND_DEADLINE,
            self.name,
            reason=f"{'idle timeout' if kind == 'idle' else 'total deadline'} of {limit:g}s",
            attributes={
                "kind": kind,
                "limit_s": limit,
                "elapsed_s": round(err.elapsed_s, 6),
                "events": progress.events,
                "partial_chars": len(err.partial_text),
                "model": progress.model,
            },
        )
        return err

    def _check(self, progress: StreamProgress, now: float) -> str | None:
        if self.idle_s is not None and now - progress.last_event_at > self.idle_s:
            return "idle"
        if self.total_s is not None and now - progress.started_at > self.total_s:
            return "total"
        return None

    def _which(self, progress: StreamProgress, now: float) -> str:
        """Which limit a timed-out wait ran into: the total deadline if it was the nearer one, else idle."""
        if self.total_s is not None and (
            self.idle_s is None or progress.started_at + self.total_s <= progress.last_event_at + self.idle_s
        ):
            return "total"
        return "idle"

    # Both faces make the same decisions, through the steps below; they differ only in how they wait for the next
    # item (a blocking read, or an await bounded by the nearer limit) and in how they close the source.

    def _arrived(self, progress: StreamProgress, item: Any) -> Any:
        """Fold an item in and return it, or raise `StreamTimeoutError` when it came past a limit."""
        now = self.clock()
        progress.observe(item)
        hit = self._check(progress, now)
        progress.last_event_at = now
        if hit is not None:
            raise self._timeout(hit, progress, now)
        return item

    def _raise_if_stall(self, progress: StreamProgress, exc: Exception) -> None:
        """A timeout while waiting for an item (the socket's read timeout, or our own bound) is a stall: raise it as
        `StreamTimeoutError`. Any other error is the caller's to re-raise."""
        if classify(exc).kind is FailureKind.TIMEOUT:
            now = self.clock()
            raise self._timeout(self._which(progress, now), progress, now) from exc

    @contextlib.contextmanager
    def _reporting(self, progress: StreamProgress, on_end: OnEnd | None) -> Iterator[None]:
        """`on_end(progress, error)` once the stream has ended, however it ended (zone 2: its errors are logged)."""
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            if on_end is not None:
                try:
                    # A generator closed early (the application stopped reading) ended without an error.
                    on_end(progress, None if isinstance(error, GeneratorExit) else error)
                except Exception:
                    log.debug("a stream's on_end hook failed", exc_info=True)

    def _next(self, inner: Iterator[Any], progress: StreamProgress) -> Any:
        try:
            item = next(inner, _END)
        except Exception as exc:
            self._raise_if_stall(progress, exc)
            raise
        progress.completed = item is _END
        return item

    async def _anext(self, inner: AsyncIterator[Any], progress: StreamProgress) -> Any:
        try:
            async with asyncio.timeout(self._wait_s(progress)):  # a blocking sync read cannot be bounded like this
                item = await anext(inner, _END)
        except Exception as exc:
            self._raise_if_stall(progress, exc)
            raise
        progress.completed = item is _END
        return item

    def _guard(self, inner: Iterator[Any], progress: StreamProgress, on_end: OnEnd | None) -> Iterator[Any]:
        with self._reporting(progress, on_end):
            try:
                while (item := self._next(inner, progress)) is not _END:
                    yield self._arrived(progress, item)
            finally:
                if not progress.completed:
                    _close(inner)

    async def _aguard(
        self, inner: AsyncIterator[Any], progress: StreamProgress, on_end: OnEnd | None
    ) -> AsyncIterator[Any]:
        with self._reporting(progress, on_end):
            try:
                while (item := await self._anext(inner, progress)) is not _END:
                    yield self._arrived(progress, item)
            finally:
                if not progress.completed:
                    await _aclose(inner)

    def _wait_s(self, progress: StreamProgress) -> float:
        """How long the next item may take before one of the limits is past (an async wait can be bounded)."""
        now = self.clock()
        limits = []
        if self.idle_s is not None:
            limits.append(progress.last_event_at + self.idle_s - now)
        if self.total_s is not None:
            limits.append(progress.started_at + self.total_s - now)
        return max(0.0, min(limits))


def _is_sdk_stream(obj: Any) -> bool:
    try:
        from anthropic import AsyncStream, Stream

        return isinstance(obj, (Stream, AsyncStream))
    except Exception:
        return False


def _close(inner: Any) -> None:
    try:
        close = getattr(inner, "close", None)
        if close is not None:
            close()
    except Exception:
        log.debug("could not close a guarded stream", exc_info=True)


async def _aclose(inner: Any) -> None:
    try:
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
    except Exception:
        log.debug("could not close a guarded stream", exc_info=True)
