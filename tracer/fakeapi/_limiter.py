"""Token-bucket rate limits, as the real API applies them: requests, tokens, input tokens and output tokens per minute.

Each limit is a bucket holding up to `limit` units that refills continuously at `limit / 60` per second. A request
takes one request, its input tokens and its `max_tokens` (the API estimates output from max_tokens up front) from
every bucket at once, or from none; what it will not use of max_tokens goes back once the answer is drawn. A request that does
not fit is answered 429 with `retry-after` in whole seconds until it would. Load beyond the limits therefore gets
429s on its own, and fewer as it drops.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
# Generous enough that tests and the demo are never limited unless they ask to be (the store test makes 12,500
# calls a minute per server); a real tier-4 organisation has 4,000 requests per minute.
DEFAULT_RATE_LIMITS: Mapping[str, int] = {
    "requests": 1_000_000,
    "tokens": 400_000_000,
    "input_tokens": 200_000_000,
    "output_tokens": 200_000_000,
}
_HEADER_NAMES = {kind: f"anthropic-ratelimit-{kind.replace('_', '-')}" for kind in KINDS}
_UNITS = {"requests": "requests", "tokens": "tokens", "input_tokens": "input tokens", "output_tokens": "output tokens"}


@dataclass(slots=True)
class Verdict:
    """The limiter's answer for one request: granted or not, the headers to send, and for a refusal why."""

    granted: bool
    headers: list[tuple[str, str]]
    retry_after_s: int = 0
    exceeded: str | None = None  # the kind that refused
    limit: int = 0


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / 60.0
        self.level = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now


class RateLimiter:
    """Per-minute limits over token buckets; thread-safe.

    >>> limiter = RateLimiter({"requests": 2}, clock=lambda: 0.0)
    >>> [limiter.acquire({"requests": 1}).granted for _ in range(3)]
    [True, True, False]
    """

    def __init__(self, limits: Mapping[str, int] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        chosen = dict(DEFAULT_RATE_LIMITS if limits is None else limits)
        unknown = set(chosen) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown rate limit kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        for kind, value in chosen.items():
            if value <= 0:
                raise ValueError(f"rate limit {kind}={value}: must be positive")
        self.limits = chosen
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.reset()

    def reset(self) -> None:
        """Every bucket full again."""
        now = self._clock()
        with self._lock:
            self._buckets = {kind: _Bucket(value, now) for kind, value in self.limits.items()}

    def acquire(self, need: Mapping[str, float]) -> Verdict:
        """Take `need` (kind -> units) from every bucket, or nothing if any bucket lacks it."""
        now = self._clock()
        with self._lock:
            buckets = self._buckets
            worst_wait = 0.0
            worst: str | None = None
            for kind, bucket in buckets.items():
                bucket.refill(now)
                amount = need.get(kind, 0.0)
                if amount > bucket.level:
                    wait = math.inf if amount > bucket.capacity else (amount - bucket.level) / bucket.rate
                    if worst is None or wait > worst_wait:
                        worst_wait, worst = wait, kind
            if worst is None:
                for kind, bucket in buckets.items():
                    bucket.level -= need.get(kind, 0.0)
                return Verdict(True, self._headers(now))
            headers = self._headers(now)
        retry_after = 60 if math.isinf(worst_wait) else max(1, math.ceil(worst_wait))
        return Verdict(False, headers, retry_after, worst, self.limits[worst])

    def refund(self, kind: str, amount: float) -> None:
        """Give back units taken but not used (max_tokens beyond the actual output)."""
        if amount <= 0:
            return
        with self._lock:
            bucket = self._buckets.get(kind)
            if bucket is not None:
                bucket.level = min(bucket.capacity, bucket.level + amount)

    def headers(self) -> list[tuple[str, str]]:
        """The current rate-limit headers, taking nothing."""
        now = self._clock()
        with self._lock:
            for bucket in self._buckets.values():
                bucket.refill(now)
            return self._headers(now)

    def _headers(self, now: float) -> list[tuple[str, str]]:
        wall = time.time()
        out: list[tuple[str, str]] = []
        for kind, bucket in self._buckets.items():
            name = _HEADER_NAMES[kind]
            full_in = (bucket.capacity - bucket.level) / bucket.rate
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + full_in))
            out.append((name + "-limit", str(int(bucket.capacity))))
            out.append((name + "-remaining", str(max(0, int(bucket.level)))))
            out.append((name + "-reset", reset))
        return out

    @staticmethod
    def message(verdict: Verdict) -> str:
        """The 429 error message for a refusal, worded like the real API's."""
        unit = _UNITS.get(verdict.exceeded or "requests", "requests")
        return (
            f"This request would exceed the rate limit for your organization of {verdict.limit:,} {unit} per minute. "
            "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
            "current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
        )
