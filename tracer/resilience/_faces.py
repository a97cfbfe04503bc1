"""The two faces of a policy: a sync function goes through its `call`, an async one awaits its `acall`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def decorate(fn: F, call: Callable[..., Any], acall: Callable[..., Awaitable[Any]]) -> F:
    """`fn` wrapped so that each call runs as `call(fn, *args, **kwargs)`, or `await acall(...)` when `fn` is async.

    >>> double = decorate(lambda x: 2 * x, lambda fn, *a: fn(*a) + 1, None)
    >>> double(3)
    7
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await acall(fn, *args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
