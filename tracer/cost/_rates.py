"""Price data as plain immutable values: a per-MTok `Price` (maybe tiered by prompt size), a `Rates` set per
token kind, dated `Period`s, and one `ModelEntry` per canonical model. Built from genai-prices' bundled
snapshot (never its update-from-web path) plus our own data; no I/O here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal
from typing import Any

# Every token kind the Messages API bills, in display order.
KINDS: tuple[str, ...] = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")
# genai-prices' price keys for them (its cache_write_mtok is the 5-minute write).
GENAI_KEYS: dict[str, str] = {
    "input": "input_mtok",
    "cache_write_5m": "cache_write_mtok",
    "cache_write_1h": "cache_write_1h_mtok",
    "cache_read": "cache_read_mtok",
    "output": "output_mtok",
}
# Wide enough that no realistic product rounds; independent of the caller's decimal context.
CTX = Context(prec=60)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Price:
    """A per-MTok price. With tiers, a request whose prompt exceeds a tier's start pays that tier's price
    on EVERY token (Anthropic's long-context rule: the whole request moves, not just the excess)."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()  # ascending (start, price)

    def at(self, prompt_tokens: int) -> Decimal:
        for start, price in reversed(self.tiers):
            if prompt_tokens > start:
                return price
        return self.base

    def scaled(self, factor: Decimal) -> Price:
        if factor == ONE:
            return self
        return Price(
            CTX.multiply(self.base, factor), tuple((start, CTX.multiply(p, factor)) for start, p in self.tiers)
        )


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-MTok prices of every token kind for one model in one pricing mode."""

    input: Price
    cache_write_5m: Price
    cache_write_1h: Price
    cache_read: Price
    output: Price

    def price(self, kind: str) -> Price:
        price: Price = getattr(self, kind)
        return price

    def scaled(self, factor: Decimal) -> Rates:
        if factor == ONE:
            return self
        return Rates(*(self.price(kind).scaled(factor) for kind in KINDS))

    def with_prices(self, prices: dict[str, Price]) -> Rates:
        return replace(self, **prices)

    @property
    def tier_starts(self) -> tuple[int, ...]:
        return tuple(sorted({start for kind in KINDS for start, _ in self.price(kind).tiers}))


@dataclass(frozen=True, slots=True)
class Period:
    """Rates in force from `start` (UTC date, inclusive); `start=None` means since the beginning."""

    start: dt.date | None
    rates: Rates
    web_search_per_1k: Decimal | None = None


def select(periods: tuple[Period, ...], day: dt.date) -> Period | None:
    """genai-prices' rule: the LAST period whose start has passed wins."""
    for period in reversed(periods):
        if period.start is None or period.start <= day:
            return period
    return None


def select_variant(periods: tuple[Period, ...], day: dt.date) -> Period | None:
    """genai-prices' rule for price variants: the FIRST active one wins."""
    for period in periods:
        if period.start is None or period.start <= day:
            return period
    return None


@dataclass(frozen=True)
class ModelEntry:
    """Everything needed to price one canonical model."""

    id: str
    name: str | None
    source: str
    periods: tuple[Period, ...]
    batch_variants: tuple[Period, ...] = ()  # genai-prices `processing = "batch"` variants
    fast_variants: tuple[Period, ...] = ()  # genai-prices `speed = "fast"` variants
    fast_multiplier: Decimal | None = None  # ours, where no variant exists
    us_exempt: bool = False
    discount: Decimal | None = None  # a multiplier, e.g. 0.85 for 15% off
    discount_source: str | None = None
    priority: Rates | None = None  # contract prices from an override file
    priority_multiplier: Decimal | None = None
    priority_source: str | None = None
    effective_date: dt.date | None = None  # from an override file; else the period's start
    deprecated: bool = False
    notes: tuple[str, ...] = field(default=())


# -- genai-prices -> our values ----------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def price_from_genai(value: Any) -> Price | None:
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return Price(_decimal(value.base), tuple(sorted((int(t.start), _decimal(t.price)) for t in tiers)))
    return Price(_decimal(value))


def rates_from_mapping(
    prices: dict[str, Price | None], cache_multipliers: dict[str, Decimal], fallback: Rates | None = None
) -> Rates | None:
    """Complete a partial price set: a missing kind comes from `fallback`, else (cache kinds) from the
    published caching multipliers of the input price. None when input or output is missing."""
    filled: dict[str, Price] = {}
    for kind in KINDS:
        price = prices.get(kind)
        if price is None and fallback is not None:
            price = fallback.price(kind)
        filled_price = price
        if filled_price is None:
            multiplier = cache_multipliers.get(kind)
            base_input = prices.get("input")
            if multiplier is None or base_input is None:
                return None
            filled_price = base_input.scaled(multiplier)
        filled[kind] = filled_price
    return Rates(**filled)


def _genai_rates(model_price: Any, cache_multipliers: dict[str, Decimal], fallback: Rates | None) -> Rates | None:
    return rates_from_mapping(
        {kind: price_from_genai(getattr(model_price, key, None)) for kind, key in GENAI_KEYS.items()},
        cache_multipliers,
        fallback,
    )


def _start(constraint: Any) -> dt.date | None:
    # Anthropic's data uses start-date constraints only; anything else is treated as always in force.
    start = getattr(constraint, "start_date", None)
    return start if isinstance(start, dt.date) else None


def entry_from_genai(
    model: Any, source: str, cache_multipliers: dict[str, Decimal], default_web: Decimal | None
) -> ModelEntry | None:
    """One genai-prices `ModelInfo` as a `ModelEntry`; None when it has no usable token prices."""
    raw = model.prices
    conditional = raw if isinstance(raw, list) else [None]
    periods: list[Period] = []
    for item in conditional:
        model_price = raw if item is None else item.prices
        rates = _genai_rates(model_price, cache_multipliers, None)
        if rates is None:
            continue
        web = getattr(model_price, "web_searches_kcount", None)
        periods.append(
            Period(None if item is None else _start(item.constraint), rates, _decimal(web) if web else default_web)
        )
    if not periods:
        return None
    batch: list[Period] = []
    fast: list[Period] = []
    for variant in model.price_variants or ():
        target = (
            batch if variant.when == {"processing": "batch"} else fast if variant.when == {"speed": "fast"} else None
        )
        if target is None:
            continue
        # A variant is partial: what it leaves out is the standard price (genai-prices' own rule).
        rates = _genai_rates(variant.prices, cache_multipliers, periods[-1].rates)
        if rates is not None:
            target.append(Period(_start(variant.constraint), rates))
    return ModelEntry(
        id=model.id,
        name=model.name,
        source=source,
        periods=tuple(periods),
        batch_variants=tuple(batch),
        fast_variants=tuple(fast),
        deprecated=bool(model.deprecated),
    )


def scale_periods(periods: Iterable[Period], factor: Decimal) -> tuple[Period, ...]:
    return tuple(Period(p.start, p.rates.scaled(factor), p.web_search_per_1k) for p in periods)
