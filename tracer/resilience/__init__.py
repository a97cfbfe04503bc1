"""Resilience for Claude calls that reports itself: every retry, trip, deadline and wait is telemetry.

>>> from tracer.resilience import GuardedClient, BreakerRegistry, StreamDeadline, retry
>>> client = GuardedClient(anthropic.Anthropic(), retry=retry(max_attempts=5),
...                        breaker=BreakerRegistry(failure_threshold=5, recovery_timeout=30),
...                        deadline=StreamDeadline(total_s=120, idle_s=20))
>>> client.messages.create(model="claude-haiku-4-5", max_tokens=256, messages=[...])   # same as the SDK

Each piece also works alone: `retry`, `CircuitBreaker`, `StreamDeadline`, `ConcurrencyLimiter`, `BatchQueue`,
`BudgetGuard`, `ConversationCompactor`. Decisions are recorded with `tracer._events.record_event` (spans of type
`event`, the store's `events` view) and metrics (`tracer.breaker.state`, `tracer.queue.depth`, `tracer.queue.wait`).
Clocks and sleeps are injectable everywhere (`ManualClock` for tests).
"""

from __future__ import annotations

from tracer.resilience._breaker import BreakerRegistry, BreakerState, CircuitBreaker
from tracer.resilience._budget import BudgetGuard, Reservation, estimate_input_tokens
from tracer.resilience._classify import Failure, FailureKind, classify, parse_retry_after
from tracer.resilience._clock import ManualClock
from tracer.resilience._conversation import ClaudeSummariser, Compaction, ConversationCompactor
from tracer.resilience._deadline import StreamDeadline
from tracer.resilience._errors import BudgetExceededError, CircuitOpenError, ResilienceError, StreamTimeoutError
from tracer.resilience._guarded import AsyncGuardedClient, GuardedClient
from tracer.resilience._limiter import BatchQueue, ConcurrencyLimiter
from tracer.resilience._retry import Retry, retry

__all__ = [
    "AsyncGuardedClient",
    "BatchQueue",
    "BreakerRegistry",
    "BreakerState",
    "BudgetExceededError",
    "BudgetGuard",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClaudeSummariser",
    "Compaction",
    "ConcurrencyLimiter",
    "ConversationCompactor",
    "Failure",
    "FailureKind",
    "GuardedClient",
    "ManualClock",
    "Reservation",
    "ResilienceError",
    "Retry",
    "StreamDeadline",
    "StreamTimeoutError",
    "classify",
    "estimate_input_tokens",
    "parse_retry_after",
    "retry",
]
