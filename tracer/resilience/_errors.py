"""The exceptions `tracer.resilience` raises, all subclasses of `ResilienceError`:

    ResilienceError
     ├── CircuitOpenError       the breaker is open: fail fast, `.retry_in_s` says when it will try again
     ├── StreamTimeoutError     a stream passed its total deadline or went idle; `.partial_text` kept
     └── BudgetExceededError    the call would cross a `BudgetGuard` cap (block mode), raised before the call

Errors from the API itself (`anthropic.RateLimitError`, `anthropic.OverloadedError`, ...) are never wrapped: after
the last retry the caller gets the SDK's own exception, unchanged.
"""

from __future__ import annotations


class ResilienceError(Exception):
    """Base class of every exception raised by `tracer.resilience` (never of the SDK's errors)."""


class CircuitOpenError(ResilienceError):
    """Raised instead of calling the API while a `CircuitBreaker` is open (or half-open and busy).

    >>> try:
    ...     breaker.call(client.messages.create, **params)
    ... except CircuitOpenError as exc:
    ...     print(f"{exc.name} is down, trying again in {exc.retry_in_s:.1f}s")
    """

    def __init__(self, name: str, retry_in_s: float, state: str = "open") -> None:
        self.name = name
        self.retry_in_s = max(0.0, retry_in_s)
        self.state = state
        super().__init__(f"circuit {name!r} is {state}; next trial in {self.retry_in_s:.2f}s")


class StreamTimeoutError(ResilienceError):
    """A stream passed its total deadline (`kind="total"`) or got no event for too long (`kind="idle"`).

    The text received before the timeout is kept, so a caller can show or salvage it:

    >>> try:
    ...     for text in stream.text_stream: ...
    ... except StreamTimeoutError as exc:
    ...     print(exc.kind, exc.partial_text)
    """

    def __init__(self, kind: str, *, limit_s: float, elapsed_s: float, partial_text: str = "", events: int = 0) -> None:
        self.kind = kind
        self.limit_s = limit_s
        self.elapsed_s = elapsed_s
        self.partial_text = partial_text
        self.events = events
        what = "idle timeout" if kind == "idle" else "deadline"
        super().__init__(
            f"stream {what} of {limit_s:g}s hit after {elapsed_s:.2f}s and {events} events "
            f"({len(partial_text)} characters of text received)"
        )


class BudgetExceededError(ResilienceError):
    """Raised BEFORE a call whose estimated cost would take a `BudgetGuard` over its cap (block mode).

    >>> try:
    ...     guarded.messages.create(**params)
    ... except BudgetExceededError as exc:
    ...     print(f"{exc.name}: ${exc.spent_usd} spent of ${exc.limit_usd}, call would add ${exc.estimate_usd}")
    """

    def __init__(self, name: str, *, limit_usd: object, spent_usd: object, estimate_usd: object, key: str = "") -> None:
        self.name = name
        self.key = key
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd
        where = f"{name}[{key}]" if key else name
        super().__init__(
            f"budget {where}: ${spent_usd} spent of ${limit_usd} in the window; this call (~${estimate_usd}) would cross it"
        )
