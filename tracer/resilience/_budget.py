"""Cost budgets: a cap in USD per time window, optionally per tag, checked BEFORE a call with an estimate."""

from __future__ import annotations

import collections
import importlib
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from tracer import semconv
from tracer._tags import current_tags
from tracer.resilience import _clock, _telemetry
from tracer.resilience._errors import BudgetExceededError

log = logging.getLogger("tracer.resilience")

CostFn = Callable[[str, Mapping[str, Any]], "Decimal | None"]


def default_cost(model: str, usage: Any) -> Decimal | None:
    """USD for `usage` on `model` via `tracer.cost.cost_of` (genai-prices directly until tracer.cost exists)."""
    try:  # looked up at call time: tracer.cost lands separately from this module
        cost_of = importlib.import_module("tracer.cost").cost_of
    except (ImportError, AttributeError):  # until then: the same price data, without our overrides
        return _genai_prices_cost(model, usage)
    result: Decimal | None = cost_of(model, usage)
    return result


def _genai_prices_cost(model: str, usage: Any) -> Decimal | None:
    try:
        from genai_prices import Usage, calc_price

        u = usage if isinstance(usage, Mapping) else usage.model_dump()
        cache_read = int(u.get("cache_read_input_tokens") or 0)
        cache_write = int(u.get("cache_creation_input_tokens") or 0)
        total_in = int(u.get("input_tokens") or 0) + cache_read + cache_write
        result = calc_price(
            Usage(
                input_tokens=total_in,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                output_tokens=int(u.get("output_tokens") or 0),
            ),
            model_ref=model,
            provider_id="anthropic",
        )
        return Decimal(result.total_price)
    except Exception:
        log.debug("no price for %s", model, exc_info=True)
        return None


def estimate_input_tokens(*parts: Any) -> int:
    """A conservative-ish token estimate: one token per 3.5 characters of the request's JSON (no API call)."""
    chars = 0
    for part in parts:
        if part is None:
            continue
        chars += len(part) if isinstance(part, str) else len(json.dumps(part, default=str))
    return math.ceil(chars / 3.5)


class Reservation:
    """A call's place in a budget: its estimate counts until `settle(usage)` replaces it with the actual cost.

    Used as a context manager it releases the estimate if the block raises (a failed call costs nothing) and
    settles at the estimate if the block forgot to settle.
    """

    def __init__(self, guard: BudgetGuard, key: str | None, model: str, estimate: Decimal, rid: int = -1) -> None:
        self.guard = guard
        self._rid = rid
        self.key = key
        self.model = model
        self.estimate_usd = estimate
        self.actual_usd: Decimal | None = None
        self._open = key is not None

    def settle(
        self, usage: Any = None, *, cost_usd: Decimal | float | None = None, model: str | None = None
    ) -> Decimal | None:
        """Record the actual cost (from the response's `usage`, or given) in place of the estimate."""
        if not self._open:
            return self.actual_usd
        self._open = False
        if cost_usd is None and usage is not None:
            cost_usd = self.guard.cost_fn(model or self.model, usage)
        self.actual_usd = Decimal(str(cost_usd)) if cost_usd is not None else None
        self.guard._settle(self, self.actual_usd)
        return self.actual_usd

    def release(self) -> None:
        """Drop the estimate without recording a cost (the call failed or never happened)."""
        if self._open:
            self._open = False
            self.guard._settle(self, None)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.release()
        else:
            self.settle(cost_usd=self.estimate_usd)


class BudgetGuard:
    """A spending cap: at most `limit_usd` per sliding `window_s`, checked BEFORE each call with an estimate.

    >>> search_budget = BudgetGuard(5.00, window_s=3600, match={"feature": "search"}, mode="block")
    >>> guarded = GuardedClient(client, budget=search_budget)
    >>> with tracer.tags(feature="search"):
    ...     guarded.messages.create(...)        # BudgetExceededError instead of the call that would cross $5/h

    `match` limits the guard to calls whose `tracer.tags` include those tags (others pass untouched);
    `per_tag="customer"` keeps a separate cap per value of that tag. The estimate is the request's input tokens
    (`estimate_input_tokens`, ~3.5 characters a token) plus `max_tokens` of output at the model's price (an
    upper bound, so a cap is never crossed by a call's own output); after the call its actual cost (usage priced
    by `tracer.cost`) replaces the estimate. In `mode="warn"` the call goes ahead and a `budget_warning` event
    is recorded; in `mode="block"` it raises `BudgetExceededError` and records a `budget_trip` event. Calls on a
    model without a price are never blocked (their cost is unknown, not zero).
    Standalone: `with budget.reserve(model, messages=..., max_tokens=...) as r: r.settle(client.messages.create(...).usage)`.
    """

    def __init__(
        self,
        limit_usd: Decimal | float | str,
        window_s: float = 3600.0,
        *,
        mode: str = "block",
        match: Mapping[str, str] | None = None,
        per_tag: str | None = None,
        name: str = "budget",
        cost_fn: CostFn | None = None,
        clock: _clock.Clock | None = None,
    ) -> None:
        if mode not in ("block", "warn"):
            raise ValueError("mode is 'block' or 'warn'")
        self.limit_usd = Decimal(str(limit_usd))
        self.window_s = float(window_s)
        self.mode = mode
        self.match = {str(k): str(v) for k, v in (match or {}).items()}
        self.per_tag = per_tag
        self.name = name
        self.cost_fn: CostFn = cost_fn or default_cost
        self.clock = clock or _clock.monotonic
        self._lock = threading.Lock()
        self._spent: dict[str, collections.deque[tuple[float, Decimal]]] = collections.defaultdict(collections.deque)
        self._pending: dict[str, dict[int, Decimal]] = collections.defaultdict(dict)
        self._ids = itertools.count()
        self.trips = 0

    def key_for(self, tags: Mapping[str, str] | None = None) -> str | None:
        """The budget key the tags fall under ("" for a single cap), or None when the guard does not apply."""
        tags = current_tags() if tags is None else tags
        if any(tags.get(k) != v for k, v in self.match.items()):
            return None
        if self.per_tag is None:
            return ""
        value = tags.get(self.per_tag)
        return None if value is None else f"{self.per_tag}={value}"

    def spent(self, key: str = "") -> Decimal:
        """Actual cost recorded in the current window, plus the estimates of calls in flight."""
        with self._lock:
            return self._spent_locked(key)

    def _spent_locked(self, key: str) -> Decimal:
        entries = self._spent[key]
        horizon = self.clock() - self.window_s
        while entries and entries[0][0] <= horizon:
            entries.popleft()
        return sum((cost for _, cost in entries), Decimal(0)) + sum(self._pending[key].values(), Decimal(0))

    def estimate(
        self, model: str, *, messages: Any = (), max_tokens: int = 0, system: Any = None, tools: Any = None
    ) -> Decimal | None:
        """The most this request should cost: its estimated input plus `max_tokens` of output, priced."""
        usage = {"input_tokens": estimate_input_tokens(messages, system, tools), "output_tokens": int(max_tokens or 0)}
        return self.cost_fn(model, usage)

    def reserve(
        self,
        model: str,
        *,
        messages: Any = (),
        max_tokens: int = 0,
        system: Any = None,
        tools: Any = None,
        estimate_usd: Decimal | float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Reservation:
        """Check the cap for this request and hold its estimate; raises `BudgetExceededError` in block mode."""
        key = self.key_for(tags)
        if key is None:
            return Reservation(self, None, model, Decimal(0))
        if estimate_usd is None:
            est = self.estimate(model, messages=messages, max_tokens=max_tokens, system=system, tools=tools)
        else:
            est = Decimal(str(estimate_usd))
        if est is None:  # unpriced model: cannot tell, so never block on a guess
            return Reservation(self, None, model, Decimal(0))
        with self._lock:
            spent = self._spent_locked(key)
            crosses = spent + est > self.limit_usd
            rid = -1
            if not crosses or self.mode == "warn":
                rid = next(self._ids)
                self._pending[key][rid] = est
        if crosses:
            attrs = {
                "limit_usd": str(self.limit_usd),
                "spent_usd": str(spent),
                "estimate_usd": str(est),
                "model": model,
                "key": key,
            }
            if self.mode == "block":
                self.trips += 1
                _telemetry.event(
                    semconv.EVENT_KIND_BUDGET_TRIP,
                    self.name,
                    reason=f"would cross ${self.limit_usd} per {self.window_s:g}s",
                    attributes=attrs,
                )
                raise BudgetExceededError(
                    self.name, limit_usd=self.limit_usd, spent_usd=spent, estimate_usd=est, key=key
                )
            _telemetry.event(
                semconv.EVENT_KIND_BUDGET_WARNING,
                self.name,
                reason=f"crossing ${self.limit_usd} per {self.window_s:g}s",
                attributes=attrs,
            )
        return Reservation(self, key, model, est, rid)

    def _settle(self, reservation: Reservation, actual: Decimal | None) -> None:
        key = reservation.key
        if key is None:
            return
        with self._lock:
            self._pending[key].pop(reservation._rid, None)
            if actual is not None:
                self._spent[key].append((self.clock(), actual))

    def record(self, model: str, usage: Any, *, tags: Mapping[str, str] | None = None) -> Decimal | None:
        """Record a call made without `reserve` (its actual cost from `usage`); returns that cost."""
        key = self.key_for(tags)
        if key is None:
            return None
        cost = self.cost_fn(model, usage)
        if cost is not None:
            with self._lock:
                self._spent[key].append((self.clock(), Decimal(str(cost))))
        return cost

    def keys(self) -> Iterable[str]:
        return list(self._spent)
