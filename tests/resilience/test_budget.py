"""BudgetGuard: a cap per window and per tag, checked BEFORE the call with an estimate, settled with the actual."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import tracer
from tracer import semconv
from tracer.resilience import BudgetExceededError, BudgetGuard, ManualClock, estimate_input_tokens
from tracer.resilience._budget import default_cost


def per_token(model: str, usage: Any) -> Decimal:
    """A price list for the spec: $0.001 per input token, $0.002 per output token, any model."""
    return Decimal("0.001") * usage["input_tokens"] + Decimal("0.002") * usage["output_tokens"]


def guard(clock: ManualClock, **options: Any) -> BudgetGuard:
    return BudgetGuard(options.pop("limit_usd", "1.00"), clock=clock, cost_fn=per_token, **options)


class TestBlockMode:
    def test_the_call_that_would_cross_the_cap_is_stopped_before_it_runs(
        self, clock: ManualClock, recorded: Any
    ) -> None:
        budget = guard(clock, window_s=3600, name="search")
        budget.reserve("m", estimate_usd="0.60").settle(cost_usd="0.60")
        with pytest.raises(BudgetExceededError) as caught:
            budget.reserve("m", estimate_usd="0.50")
        assert caught.value.spent_usd == Decimal("0.60") and caught.value.estimate_usd == Decimal("0.50")
        trip = recorded.events(semconv.EVENT_KIND_BUDGET_TRIP, "search")
        assert len(trip) == 1 and trip[0][semconv.EVENT_ATTRIBUTE_PREFIX + "estimate_usd"] == "0.50"
        budget.reserve("m", estimate_usd="0.40")  # still fits exactly: 0.60 + 0.40 = 1.00

    def test_the_estimate_is_input_estimate_plus_max_tokens_of_output(self, clock: ManualClock) -> None:
        budget = guard(clock)
        messages = [{"role": "user", "content": "x" * 700}]
        expected = per_token("m", {"input_tokens": estimate_input_tokens(messages), "output_tokens": 100})
        assert budget.estimate("m", messages=messages, max_tokens=100) == expected

    def test_the_actual_cost_replaces_the_estimate(self, clock: ManualClock) -> None:
        budget = guard(clock)
        reservation = budget.reserve("m", estimate_usd="0.90")
        assert budget.spent() == Decimal("0.90")  # in flight: held at the estimate
        reservation.settle({"input_tokens": 10, "output_tokens": 20})
        assert budget.spent() == Decimal("0.050")

    def test_a_failed_call_releases_its_estimate(self, clock: ManualClock) -> None:
        budget = guard(clock)
        with pytest.raises(RuntimeError), budget.reserve("m", estimate_usd="0.9"):
            raise RuntimeError("the API call failed")
        assert budget.spent() == 0

    def test_spending_leaves_the_window(self, clock: ManualClock) -> None:
        budget = guard(clock, window_s=60)
        budget.reserve("m", estimate_usd="1.00").settle(cost_usd="1.00")
        with pytest.raises(BudgetExceededError):
            budget.reserve("m", estimate_usd="0.01")
        clock.advance(60.0)
        budget.reserve("m", estimate_usd="0.01")

    def test_calls_in_flight_count_so_concurrent_calls_cannot_jointly_cross(self, clock: ManualClock) -> None:
        budget = guard(clock)
        budget.reserve("m", estimate_usd="0.6")
        with pytest.raises(BudgetExceededError):
            budget.reserve("m", estimate_usd="0.6")

    def test_an_unpriced_model_is_never_blocked_on_a_guess(self, clock: ManualClock) -> None:
        budget = BudgetGuard("0.000001", clock=clock, cost_fn=lambda model, usage: None)
        budget.reserve("claude-unknown", max_tokens=10_000)


class TestWarnMode:
    def test_the_call_goes_ahead_and_a_warning_is_recorded(self, clock: ManualClock, recorded: Any) -> None:
        budget = guard(clock, mode="warn", name="soft")
        budget.reserve("m", estimate_usd="0.8").settle(cost_usd="0.8")
        budget.reserve("m", estimate_usd="0.8").settle(cost_usd="0.8")
        assert budget.spent() == Decimal("1.6")
        assert len(recorded.events(semconv.EVENT_KIND_BUDGET_WARNING, "soft")) == 1
        assert recorded.events(semconv.EVENT_KIND_BUDGET_TRIP, "soft") == []


class TestTags:
    def test_match_limits_the_guard_to_tagged_calls(self, clock: ManualClock) -> None:
        budget = guard(clock, match={"feature": "search"})
        with tracer.tags(feature="chat"):
            budget.reserve("m", estimate_usd="5").settle(cost_usd="5")  # not search: untouched
        assert budget.spent() == 0
        with tracer.tags(feature="search"), pytest.raises(BudgetExceededError):
            budget.reserve("m", estimate_usd="5")

    def test_per_tag_keeps_a_cap_per_value(self, clock: ManualClock) -> None:
        budget = guard(clock, per_tag="customer")
        with tracer.tags(customer="acme"):
            budget.reserve("m", estimate_usd="1").settle(cost_usd="1")
            with pytest.raises(BudgetExceededError) as caught:
                budget.reserve("m", estimate_usd="0.1")
            assert caught.value.key == "customer=acme"
        with tracer.tags(customer="globex"):
            budget.reserve("m", estimate_usd="0.9")
        assert budget.spent("customer=acme") == 1 and budget.spent("customer=globex") == Decimal("0.9")


class TestRealPrices:
    def test_the_default_cost_prices_a_current_model(self) -> None:
        """Through tracer.cost (or genai-prices until it lands): output costs more than input, never zero."""
        one_in = default_cost("claude-haiku-4-5", {"input_tokens": 1_000_000, "output_tokens": 0})
        one_out = default_cost("claude-haiku-4-5", {"input_tokens": 0, "output_tokens": 1_000_000})
        assert one_in is not None and one_out is not None
        assert Decimal(0) < one_in < one_out
