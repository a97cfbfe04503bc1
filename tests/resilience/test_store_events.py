"""Resilience decisions reach the store's `events` view: a breaker's whole lifecycle, a retry, a budget trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.resilience._errors import status_error
from tracer import semconv
from tracer.resilience import BudgetExceededError, BudgetGuard, CircuitBreaker, ManualClock, retry


def test_breaker_transitions_and_other_decisions_are_rows_of_the_events_view(
    clock: ManualClock, store_path: Path, recorded: Any
) -> None:
    from tracer.read import Store

    breaker = CircuitBreaker(
        failure_threshold=2, recovery_timeout=10, success_threshold=1, name="store-opus", clock=clock
    )
    for _ in range(2):
        with pytest.raises(type(status_error(529))), breaker:
            raise status_error(529)
    clock.advance(10)
    breaker.call(lambda: None)

    outcomes = [status_error(429, {"retry-after": "3"}), "ok"]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    retry(name="store-retry", clock=clock, sleep=clock.sleep).call(flaky)
    budget = BudgetGuard("0.01", name="store-budget", clock=clock, cost_fn=lambda m, u: None)
    with pytest.raises(BudgetExceededError):
        budget.reserve("claude-haiku-4-5", estimate_usd="1")

    from opentelemetry import trace

    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    store = Store(store_path)
    rows = store.rows(
        "SELECT kind, name, from_state, to_state, reason FROM events WHERE name LIKE 'store-%' ORDER BY time, kind"
    )
    transitions = [(r[2], r[3]) for r in rows if r[0] == semconv.EVENT_KIND_BREAKER_TRANSITION]
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    kinds = {r[0] for r in rows}
    assert {semconv.EVENT_KIND_RETRY, semconv.EVENT_KIND_BUDGET_TRIP} <= kinds
    (retry_row,) = [r for r in rows if r[0] == semconv.EVENT_KIND_RETRY]
    assert retry_row[4] == "429 rate_limited"
    (attributes,) = store.rows("SELECT attributes FROM events WHERE kind = 'retry' AND name = 'store-retry'")[0]
    assert attributes["delay_s"] == attributes["retry_after_s"] == "3.0"  # waited exactly what the server said
    assert attributes["http_status"] == "429"
