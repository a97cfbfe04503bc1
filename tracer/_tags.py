"""Attribution tags: `with tracer.tags(feature="search"):` puts `tracer.tag.feature=search` on every call inside.

Tags live in a `ContextVar`, so they follow the code that runs inside the block, including asyncio tasks created
there (a task copies the context when it is created) and threads started with `contextvars.copy_context().run`.

Tags come from the application, so they are bounded before they reach a span, a row or an exporter: at most
`MAX_TAGS` in force, keys of at most `MAX_KEY_CHARS` and values of at most `MAX_VALUE_CHARS` characters. What is
over a bound is cut (keys, values) or dropped (tags past the count, and values whose `str()` raises), counted on
every span that carries the tags (`tracer.tags.truncated`, `tracer.tags.dropped`), and said once per process in a
warning per kind. A call span's own attributes (model, tokens, cost, status) come first: `fit_tags` gives the tags
only the room the span's attribute limit leaves them.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from tracer import semconv

log = logging.getLogger("tracer")

MAX_TAGS = 64
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 1024

F = TypeVar("F", bound=Callable[..., Any])


class _TagSet(dict[str, str]):
    """The tags in force (a plain mapping to the application), with what was cut or dropped on the way and their
    span attributes, built once when the block is entered rather than on every call."""

    __slots__ = ("attributes", "dropped", "truncated")

    def __init__(self, tags: Mapping[str, str], dropped: int = 0, truncated: int = 0) -> None:
        super().__init__(tags)
        self.dropped = dropped
        self.truncated = truncated
        attributes: dict[str, Any] = {semconv.TAG_PREFIX + key: value for key, value in tags.items()}
        if dropped:
            attributes[semconv.TAGS_DROPPED] = dropped
        if truncated:
            attributes[semconv.TAGS_TRUNCATED] = truncated
        self.attributes = attributes


_EMPTY = _TagSet({})
_current: contextvars.ContextVar[_TagSet] = contextvars.ContextVar("tracer_tags", default=_EMPTY)

_WARNINGS = {
    "count": f"more than {MAX_TAGS} tags were in force; the tags past that are left out",
    "key": f"a tag key longer than {MAX_KEY_CHARS} characters was cut to that length",
    "value": f"a tag value longer than {MAX_VALUE_CHARS} characters was cut to that length",
    "str": "a tag value could not be turned into a string (its str() raised); that tag is left out",
    "room": "a call's own attributes left no room for all of its tags (the span attribute limit); some are left out",
}
_warned: set[str] = set()


def _warn_once(kind: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        log.warning(
            "tracer: %s. The spans concerned say how many (%s, %s); this warning is not repeated.",
            _WARNINGS[kind], semconv.TAGS_DROPPED, semconv.TAGS_TRUNCATED,
        )


def current_tags() -> Mapping[str, str]:
    """The tags in force here, innermost last. Never raises."""
    return _current.get()


def tag_attributes() -> dict[str, Any]:
    """The tags in force as span attributes (`tracer.tag.<key>`, and the counts of what was cut or dropped).
    Shared, not copied: read it, never modify it. Never raises."""
    return _current.get().attributes


def fit_tags(attributes: dict[str, Any], room: int | None) -> dict[str, Any]:
    """`attributes` (from `tag_attributes`) within `room` attribute slots, the ones left out counted in
    `tracer.tags.dropped`. None is no limit. Pure.

    >>> fit_tags({"tracer.tag.a": "1", "tracer.tag.b": "2", "tracer.tag.c": "3"}, 2)
    {'tracer.tag.a': '1', 'tracer.tags.dropped': 2}
    """
    if room is None or len(attributes) <= room:
        return attributes
    _warn_once("room")
    dropped = attributes.get(semconv.TAGS_DROPPED, 0)
    truncated = attributes.get(semconv.TAGS_TRUNCATED)
    plain = [item for item in attributes.items() if item[0] not in (semconv.TAGS_DROPPED, semconv.TAGS_TRUNCATED)]
    slots = max(room - 1 - (truncated is not None), 0)
    if room < 1:
        return {}
    fitted = dict(plain[:slots])
    fitted[semconv.TAGS_DROPPED] = dropped + len(plain) - slots
    if truncated is not None and room >= 2:
        fitted[semconv.TAGS_TRUNCATED] = truncated
    return fitted


def _clean(attrs: Mapping[str, object]) -> _TagSet:
    """The application's tags within the bounds. Never raises."""
    clean: dict[str, str] = {}
    dropped = truncated = 0
    for key, value in attrs.items():
        if len(clean) >= MAX_TAGS:
            dropped += 1
            _warn_once("count")
            continue
        try:
            text = value if type(value) is str else str(value)
        except Exception:
            dropped += 1
            _warn_once("str")
            continue
        if len(key) > MAX_KEY_CHARS:
            key = key[:MAX_KEY_CHARS]
            truncated += 1
            _warn_once("key")
        if len(text) > MAX_VALUE_CHARS:
            text = text[:MAX_VALUE_CHARS]
            truncated += 1
            _warn_once("value")
        clean[key] = text
    return _TagSet(clean, dropped, truncated)


def _merge(outer: _TagSet, inner: _TagSet) -> _TagSet:
    """`inner` over `outer`, within `MAX_TAGS` (the outer tags stay; new inner ones past the count are dropped)."""
    if not outer:
        return inner
    merged = dict(outer)
    dropped = outer.dropped + inner.dropped
    for key, value in inner.items():
        if key in merged or len(merged) < MAX_TAGS:
            merged[key] = value
        else:
            dropped += 1
            _warn_once("count")
    return _TagSet(merged, dropped, outer.truncated + inner.truncated)


class tags:  # lower-case: used like a function: `with tracer.tags(...)` / `@tracer.tags(...)`
    """Attribution tags for every API call inside, as a context manager or a decorator.

    >>> import tracer
    >>> with tracer.tags(feature="search", customer="acme"):
    ...     pass  # client.messages.create(...) here is tagged feature=search, customer=acme

    Nested blocks add to (and may override) the outer tags. Values are turned into strings, within the bounds of the
    module docstring; this never raises, whatever the values. One instance may be
    entered by many threads and tasks at once (a module-level `SEARCH = tracer.tags(...)`): what to restore on
    exit is kept per context, not on the instance. Decorated generator and async generator functions have the
    tags while they run, and not while they are suspended.
    """

    def __init__(self, **attrs: object) -> None:
        self._attrs = _clean(attrs)

    def __enter__(self) -> Mapping[str, str]:
        previous = _current.get()
        _saved.set((*_saved.get(), previous))
        merged = _merge(previous, self._attrs)
        _current.set(merged)
        return merged

    def __exit__(self, *exc: object) -> None:
        saved = _saved.get()
        if saved:  # always, unless the application entered and exited in different contexts
            _saved.set(saved[:-1])
            _current.set(saved[-1])

    def __call__(self, func: F) -> F:
        block = self  # entered anew on every call: what it restores is kept per context, not on the instance
        if inspect.isasyncgenfunction(func):
            return _wrap_async_generator(func, block)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(func, block)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with block:
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with block:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class conversation(tags):  # lower-case, like `tags`; a `tags` for its decorator machinery, with its own variable
    """The conversation every API call inside belongs to: `gen_ai.conversation.id` on its call span (and on the SDK's
    tool-runner and tool spans started inside), for an application that shares one client between conversations.

    >>> import tracer
    >>> with tracer.conversation("support-4711"):
    ...     pass  # client.messages.create(...) here is turn n of conversation support-4711

    A client's own `open_telemetry={"conversation_id": ...}` option wins over it. A context manager or a decorator,
    like `tags`; the innermost block wins. The id is turned into a string and cut to `MAX_VALUE_CHARS`.
    """

    def __init__(self, conversation_id: object) -> None:
        try:
            text = conversation_id if type(conversation_id) is str else str(conversation_id)
        except Exception:
            text = ""
            _warn_once("str")
        self._id = text[:MAX_VALUE_CHARS] or None

    def __enter__(self) -> Mapping[str, str]:
        _conversation_saved.set((*_conversation_saved.get(), _conversation.get()))
        _conversation.set(self._id)
        return _current.get()

    def __exit__(self, *exc: object) -> None:
        saved = _conversation_saved.get()
        if saved:
            _conversation_saved.set(saved[:-1])
            _conversation.set(saved[-1])


_conversation: contextvars.ContextVar[str | None] = contextvars.ContextVar("tracer_conversation", default=None)
_conversation_saved: contextvars.ContextVar[tuple[str | None, ...]] = contextvars.ContextVar("tracer_conversation_saved", default=())


def current_conversation() -> str | None:
    """The conversation id `tracer.conversation` set for the code running here, if any. Never raises."""
    return _conversation.get()


# What each `tags` block entered in this context replaced, innermost last.
_saved: contextvars.ContextVar[tuple[_TagSet, ...]] = contextvars.ContextVar("tracer_tags_saved", default=())


def _wrap_generator(func: Callable[..., Any], block: tags) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The tags are in force around each resumption of the generator, never while it is suspended (the
        # consumer runs then, in the same context).
        with block:
            gen = func(*args, **kwargs)
            try:
                value = next(gen)
            except StopIteration as stop:
                return stop.value
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                with block:
                    gen.close()
                raise
            except BaseException as exc:
                with block:
                    try:
                        value = gen.throw(exc)
                    except StopIteration as stop:
                        return stop.value
                continue
            with block:
                try:
                    value = gen.send(sent)
                except StopIteration as stop:
                    return stop.value

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], block: tags) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with block:
            agen = func(*args, **kwargs)
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                return
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                with block:
                    await agen.aclose()
                raise
            except BaseException as exc:
                with block:
                    try:
                        value = await agen.athrow(exc)
                    except StopAsyncIteration:
                        return
                continue
            with block:
                try:
                    value = await agen.asend(sent)
                except StopAsyncIteration:
                    return

    return wrapper


@contextmanager
def no_tags() -> Iterator[None]:
    """Clear the tags for the block (for code that must not inherit its caller's attribution)."""
    previous = _current.get()
    _current.set(_EMPTY)
    try:
        yield
    finally:
        _current.set(previous)
