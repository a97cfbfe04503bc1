"""Pure classification of a failed call: what went wrong, may it be retried, how long the server asked us to wait.

Works on the SDK's exceptions (and the raw `httpx2` timeouts a stalled stream raises) without importing their
classes by name where a duck-typed look is enough, so a user's own errors classify as "other" (not retried).
"""

from __future__ import annotations

import email.utils
import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tracer.resilience._errors import CircuitOpenError, StreamTimeoutError


class FailureKind(enum.Enum):
    """Why a call failed, as far as retrying and circuit breaking care."""

    RATE_LIMITED = "rate_limited"  # 429: wait what the server says (retry-after), then retry
    OVERLOADED = "overloaded"  # 529: the API is overloaded; back off, and count towards opening the breaker
    SERVER_ERROR = "server_error"  # 500-599 other than 529, 408, 409: transient on the server side
    CONNECTION = "connection"  # could not connect / connection dropped
    TIMEOUT = "timeout"  # request or read timeout (including a stalled stream's raw httpx2.ReadTimeout)
    CLIENT_ERROR = "client_error"  # other 4xx: the request is wrong; retrying cannot help
    STREAM_TIMEOUT = "stream_timeout"  # our own StreamTimeoutError (partial output was delivered)
    CIRCUIT_OPEN = "circuit_open"  # our own CircuitOpenError
    OTHER = "other"  # anything else (a bug in the caller's code, a budget trip, ...)


RETRYABLE: frozenset[FailureKind] = frozenset(
    {
        FailureKind.RATE_LIMITED,
        FailureKind.OVERLOADED,
        FailureKind.SERVER_ERROR,
        FailureKind.CONNECTION,
        FailureKind.TIMEOUT,
    }
)
"""What `retry()` retries by default."""

BREAKER_FAILURES: frozenset[FailureKind] = frozenset(
    {FailureKind.OVERLOADED, FailureKind.SERVER_ERROR, FailureKind.CONNECTION, FailureKind.TIMEOUT}
)
"""What a `CircuitBreaker` counts as a failure by default. A 429 is the caller's quota, not the service being
down, so it neither opens the breaker nor counts as a success; a 4xx is the caller's mistake."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One classified failure: its kind, the HTTP status if any, and the server's retry-after in seconds."""

    kind: FailureKind
    status: int | None = None
    retry_after_s: float | None = None
    should_retry: bool | None = None  # the x-should-retry header, when the server sent it

    @property
    def reason(self) -> str:
        return f"{self.status} {self.kind.value}" if self.status else self.kind.value


def parse_retry_after(headers: Mapping[str, str] | Any, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms` wins over `retry-after` (seconds or an HTTP date).

    None when absent, unparsable, or not positive (the SDK ignores `retry-after: 0` too).

    >>> parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"})
    1.5
    """
    if headers is None:
        return None
    value: float | None = None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except (TypeError, ValueError):
            value = None
    if value is None:
        raw = headers.get("retry-after")
        if raw is not None:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                parsed = email.utils.parsedate_tz(raw)
                if parsed is not None:
                    value = float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now)
    if value is None or value != value or value <= 0:  # value != value: NaN
        return None
    return value


def _status_kind(status: int) -> FailureKind:
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status == 529:
        return FailureKind.OVERLOADED
    if status == 408:
        return FailureKind.TIMEOUT
    if status >= 500 or status == 409:
        return FailureKind.SERVER_ERROR
    return FailureKind.CLIENT_ERROR


def classify(exc: BaseException) -> Failure:
    """Classify an exception raised by an SDK call (or around one). Pure; never raises.

    >>> classify(anthropic.RateLimitError(...)).kind
    <FailureKind.RATE_LIMITED: 'rate_limited'>
    """
    try:
        return _classify(exc)
    except Exception:
        return Failure(FailureKind.OTHER)


def _classify(exc: BaseException) -> Failure:
    if isinstance(exc, CircuitOpenError):
        return Failure(FailureKind.CIRCUIT_OPEN)
    if isinstance(exc, StreamTimeoutError):
        return Failure(FailureKind.STREAM_TIMEOUT)
    import anthropic

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # like the SDK, follow `raise ... from err`
        seen.add(id(current))
        if isinstance(current, anthropic.APIStatusError):
            headers = current.response.headers
            status = int(current.status_code)
            if status == 200:  # an `error` event mid-stream: the SDK raises with the stream's 200
                status = _stream_error_status(current.body)
            should = headers.get("x-should-retry")
            return Failure(
                _status_kind(status) if status else FailureKind.SERVER_ERROR,
                status=status or None,
                retry_after_s=parse_retry_after(headers),
                should_retry=None if should is None else should == "true",
            )
        if isinstance(current, anthropic.APITimeoutError):
            return Failure(FailureKind.TIMEOUT)
        if isinstance(current, anthropic.APIConnectionError):
            return Failure(FailureKind.CONNECTION)
        if isinstance(current, TimeoutError) or type(current).__name__.endswith("Timeout"):
            # httpx2.ReadTimeout / ConnectTimeout (a stalled stream raises these raw), asyncio/builtin TimeoutError
            return Failure(FailureKind.TIMEOUT)
        if type(current).__module__.startswith(("httpx", "httpcore")) and type(current).__name__.endswith("Error"):
            # httpx2.RemoteProtocolError, ReadError, ...: the connection broke under a stream
            return Failure(FailureKind.CONNECTION)
        current = current.__cause__
    return Failure(FailureKind.OTHER)


_ERROR_TYPE_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "timeout_error": 504}


def _stream_error_status(body: object) -> int:
    """The status an SSE `error` event stands for, from its `error.type` (529 for overloaded_error)."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            return _ERROR_TYPE_STATUS.get(str(err.get("type")), 500)
    return 500
