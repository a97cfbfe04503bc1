"""Attribution tags: `with tracer.tags(feature="search"):` puts `tracer.tag.feature=search` on every call inside.

Tags live in a `ContextVar`, so they follow the code that runs inside the block, including asyncio tasks created
there (a task copies the context when it is created) and threads started with `contextvars.copy_context().run`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from tracer import semconv

_EMPTY: Mapping[str, str] = {}
_current: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("tracer_tags", default=_EMPTY)

F = TypeVar("F", bound=Callable[..., Any])


def current_tags() -> Mapping[str, str]:
    """The tags in force here, innermost last. Never raises."""
    return _current.get()


def tag_attributes() -> dict[str, str]:
    """The tags in force as span attributes (`tracer.tag.<key>`). Cheap when no tags are set."""
    tags = _current.get()
    if not tags:
        return {}
    return {semconv.TAG_PREFIX + key: value for key, value in tags.items()}


class tags:  # lower-case: used like a function: `with tracer.tags(...)` / `@tracer.tags(...)`
    """Attribution tags for every API call inside, as a context manager or a decorator.

    >>> import tracer
    >>> with tracer.tags(feature="search", customer="acme"):
    ...     pass  # client.messages.create(...) here is tagged feature=search, customer=acme

    Nested blocks add to (and may override) the outer tags. Values are turned into strings. One instance may be
    entered by many threads and tasks at once (a module-level `SEARCH = tracer.tags(...)`): what to restore on
    exit is kept per context, not on the instance. Decorated generator and async generator functions have the
    tags while they run, and not while they are suspended.
    """

    def __init__(self, **attrs: object) -> None:
        self._attrs = {str(key): str(value) for key, value in attrs.items()}

    def __enter__(self) -> Mapping[str, str]:
        previous = _current.get()
        _saved.set((*_saved.get(), previous))
        merged = {**previous, **self._attrs}
        _current.set(merged)
        return merged

    def __exit__(self, *exc: object) -> None:
        saved = _saved.get()
        if saved:  # always, unless the application entered and exited in different contexts
            _saved.set(saved[:-1])
            _current.set(saved[-1])

    def __call__(self, func: F) -> F:
        attrs = self._attrs
        if inspect.isasyncgenfunction(func):
            return _wrap_async_generator(func, attrs)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(func, attrs)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tags(**attrs):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tags(**attrs):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


# What each `tags` block entered in this context replaced, innermost last.
_saved: contextvars.ContextVar[tuple[Mapping[str, str], ...]] = contextvars.ContextVar("tracer_tags_saved", default=())


def _wrap_generator(func: Callable[..., Any], attrs: dict[str, str]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The tags are in force around each resumption of the generator, never while it is suspended (the
        # consumer runs then, in the same context).
        with tags(**attrs):
            gen = func(*args, **kwargs)
            try:
                value = next(gen)
            except StopIteration as stop:
                return stop.value
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                with tags(**attrs):
                    gen.close()
                raise
            except BaseException as exc:
                with tags(**attrs):
                    try:
                        value = gen.throw(exc)
                    except StopIteration as stop:
                        return stop.value
                continue
            with tags(**attrs):
                try:
                    value = gen.send(sent)
                except StopIteration as stop:
                    return stop.value

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], attrs: dict[str, str]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with tags(**attrs):
            agen = func(*args, **kwargs)
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                return
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                with tags(**attrs):
                    await agen.aclose()
                raise
            except BaseException as exc:
                with tags(**attrs):
                    try:
                        value = await agen.athrow(exc)
                    except StopAsyncIteration:
                        return
                continue
            with tags(**attrs):
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
