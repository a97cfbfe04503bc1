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


class tags:  # lower-case: used like a function,: `with tracer.tags(...)` / `@tracer.tags(...)`
    """Attribution tags for every API call inside, as a context manager or a decorator.

    >>> import tracer
    >>> with tracer.tags(feature="search", customer="acme"):
    ...     pass  # client.messages.create(...) here is tagged feature=search, customer=acme

    Nested blocks add to (and may override) the outer tags. Values are turned into strings.
    """

    def __init__(self, **attrs: object) -> None:
        self._attrs = {str(key): str(value) for key, value in attrs.items()}
        self._tokens: list[contextvars.Token[Mapping[str, str]]] = []

    def __enter__(self) -> Mapping[str, str]:
        merged = {**_current.get(), **self._attrs}
        self._tokens.append(_current.set(merged))
        return merged

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        attrs = self._attrs
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


@contextmanager
def no_tags() -> Iterator[None]:
    """Clear the tags for the block (for code that must not inherit its caller's attribution)."""
    token = _current.set(_EMPTY)
    try:
        yield
    finally:
        _current.reset(token)
