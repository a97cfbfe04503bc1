"""`PriceTable`: model resolution and exact Decimal cost of one call. Pure: all data is loaded up front,
`cost_of` does no I/O and caches what it resolves (it runs for every span in the export thread)."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from tracer._derived import cache_read_saving, cache_write_premium
from tracer.cost._billed import RefusalRules
from tracer.cost._names import normalize, without_date
from tracer.cost._overrides import ModelSpec, PriceFile, PriceFileError, read_price_file
from tracer.cost._rates import (
    CTX,
    KINDS,
    ONE,
    ModelEntry,
    Period,
    Price,
    Rates,
    entry_from_genai,
    rates_from_mapping,
    select,
    select_variant,
)
from tracer.cost._usage import TokenCounts, token_counts

MTOK = Decimal(1_000_000)
KREQ = Decimal(1_000)
_EPOCH = dt.date(1970, 1, 1)
_CACHE_LIMIT = 4096  # distinct model names / pricing keys kept resolved; cleared past that


@dataclass(frozen=True, slots=True)
class CostLine:
    """One billed quantity: `quantity` x `price` per `unit` = `usd` (price after every multiplier)."""

    kind: str  # input, cache_write_5m, cache_write_1h, cache_read, output, web_search
    quantity: int
    price: Decimal  # USD per `unit`
    unit: str  # "MTok" or "1k requests"
    usd: Decimal


@dataclass(frozen=True)
class CostBreakdown:
    """How `cost_of` arrived at `total`: each line, the multipliers applied, the tier, where prices came from.

    >>> from tracer.cost import breakdown
    >>> b = breakdown("claude-haiku-4-5", {"input_tokens": 1000, "output_tokens": 0})
    >>> (b.model, b.total)
    ('claude-haiku-4-5', Decimal('0.001'))
    """

    requested: str
    model: str  # canonical ID
    lines: tuple[CostLine, ...]
    total: Decimal | None  # None: this mode has no price (see notes); cost_of gives None too
    thinking_tokens: int  # part of the output line, never billed twice
    adjustments: tuple[tuple[str, Decimal], ...]  # ("batch", 0.5), ("US-only inference", 1.1), ...
    tier: str | None  # e.g. "prompt 250,000 tokens > 200,000"
    source: str
    effective_date: dt.date | None
    notes: tuple[str, ...] = ()

    def line(self, kind: str) -> CostLine:
        return next(line for line in self.lines if line.kind == kind)


@dataclass(frozen=True, slots=True)
class _Effective:
    """Final per-MTok rates for one (model, date, mode); cached."""

    rates: Rates | None  # None: not priceable in this mode (e.g. fast mode on a model without a fast price)
    web_per_1k: Decimal | None
    adjustments: tuple[tuple[str, Decimal], ...]
    source: str
    effective_date: dt.date | None
    why_unpriced: str | None = None
    # The same prices as whole numbers x 10**exponent per MTok, one per token kind then web search
    # (as a per-million-requests price): the hot path sums Python ints and builds ONE exact Decimal.
    ints: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = ()
    exponent: int = 0
    # The six base prices when no kind has a long-context tier: the sum is then six products, no loop.
    flat: tuple[int, int, int, int, int, int] | None = None


def _as_ints(
    rates: Rates | None, web_per_1k: Decimal | None
) -> tuple[tuple[tuple[int, tuple[tuple[int, int], ...]], ...], int]:
    if rates is None:
        return (), 0
    prices: list[Price] = [rates.price(kind) for kind in KINDS]
    prices.append(Price(CTX.multiply(web_per_1k, KREQ)) if web_per_1k is not None else Price(Decimal(0)))
    values = [p.base for p in prices] + [v for p in prices for _, v in p.tiers]
    exponent = min(0, *(int(v.as_tuple().exponent) for v in values))

    def whole(value: Decimal) -> int:
        return int(value.scaleb(-exponent, CTX))

    return tuple((whole(p.base), tuple((start, whole(v)) for start, v in p.tiers)) for p in prices), exponent


def _trimmed(total: int, exponent: int) -> tuple[int, int]:
    """total x 10**exponent without trailing zeros after the point (6, -3 for 6000000, -9)."""
    while exponent < 0 and total % 10 == 0:
        total //= 10
        exponent += 1
    return total, exponent


def _exact(total: int, exponent: int) -> Decimal:
    """total x 10**exponent as a Decimal without trailing zeros (0.006, not 0.006000000)."""
    if total == 0:
        return Decimal(0)
    total, exponent = _trimmed(total, exponent)
    return Decimal(f"{total}E{exponent}")  # exact, whatever the length (no context, no rounding)


def _usd(total: int, exponent: int) -> tuple[str, float]:
    """total x 10**exponent as `str()` and `float()` of `_exact(total, exponent)` give it, without the Decimal.

    The text follows the Decimal to-scientific-string rule (plain unless the exponent is positive or the adjusted
    exponent is below -6); the float is the correctly rounded quotient, as `float(Decimal)` is.
    """
    if total == 0:
        return "0", 0.0
    total, exponent = _trimmed(total, exponent)
    digits = str(total)
    size = len(digits)
    left = exponent + size
    if exponent <= 0 and left > -6:
        if left <= 0:
            text = "0." + "0" * -left + digits
        elif left >= size:
            text = digits
        else:
            text = digits[:left] + "." + digits[left:]
    else:
        text = digits[0] + ("." + digits[1:] if size > 1 else "") + f"E{left - 1:+d}"
    value = total / 10**-exponent if exponent < 0 else float(total * 10**exponent)
    return text, value


Quote = tuple[str, float, str, "tuple[float, float] | None"]
"""`PriceTable.quote`: the cost as text and float, the prices' source, and `cache_usd` (None without cache tokens)."""


def _price_at(base: int, tiers: tuple[tuple[int, int], ...], prompt: int) -> int:
    """The whole-number price of a prompt of `prompt` tokens: its long-context tier's above that tier's start."""
    for start, tier_price in reversed(tiers):
        if prompt > start:
            return tier_price
    return base


def _cache_usd(counts: TokenCounts, rated: _Effective) -> tuple[float, float] | None:
    """(cache reads' saving, cache writes' premium) in USD at `rated`'s prices for the prompt's tier, by their one
    definition (`tracer._derived`) over the whole-number prices; None for a call without cache tokens."""
    if not (counts.cache_read or counts.cache_write_5m or counts.cache_write_1h):
        return None
    flat = rated.flat
    if flat is not None:
        i, w5, w1, r = flat[0], flat[1], flat[2], flat[3]
    else:  # KINDS' order: input, 5-minute write, 1-hour write, read
        prompt = counts.prompt_tokens
        i, w5, w1, r = (_price_at(base, tiers, prompt) for base, tiers in rated.ints[:4])
    per_usd = 10 ** (6 - rated.exponent)  # the prices are whole numbers x 10**exponent per MTok
    return (
        cache_read_saving(counts.cache_read, i, r) / per_usd,
        cache_write_premium(counts.cache_write_5m, counts.cache_write_1h, i, w5, w1) / per_usd,
    )


def _line_usd(quantity: int, price: Decimal, per_exponent: int) -> Decimal:
    exponent = min(0, int(price.as_tuple().exponent))
    return _exact(quantity * int(price.scaleb(-exponent, CTX)), exponent - per_exponent)


@dataclass(frozen=True)
class PriceRow:
    """One model in the effective table (what `tracer prices` prints)."""

    model: str
    name: str | None
    rates: Rates
    web_search_per_1k: Decimal | None
    source: str
    effective_date: dt.date | None
    tier_starts: tuple[int, ...]
    fast: str | None  # "2x", "variant", ...
    discount: Decimal | None
    deprecated: bool


@dataclass(frozen=True)
class Policy:
    batch_multiplier: Decimal
    us_geo: str
    us_multiplier: Decimal
    us_exempt: frozenset[str]
    fast_multipliers: dict[str, Decimal]
    web_per_1k: Decimal
    cache_multipliers: dict[str, Decimal]
    regional_multiplier: Decimal = ONE
    regional_exempt: frozenset[str] = frozenset()


def _day(at: dt.datetime | dt.date | None) -> int:
    if at is None:
        return int(time.time() // 86400)
    if isinstance(at, dt.datetime):
        if at.tzinfo is not None:
            at = at.astimezone(dt.UTC)
        at = at.date()
    return (at - _EPOCH).days


class PriceTable:
    """Prices for every known model; resolves any spelling of a model name and prices one call exactly.

    >>> from decimal import Decimal
    >>> table = load_prices()
    >>> table.cost_of("claude-sonnet-4-5-20250929", {"input_tokens": 1000, "output_tokens": 1000})
    Decimal('0.018')
    """

    def __init__(
        self,
        entries: dict[str, ModelEntry],
        names: dict[str, str],
        genai_models: list[Any],
        policy: Policy,
        sources: tuple[str, ...],
        refusal_rules: RefusalRules | None = None,
    ) -> None:
        self._entries = entries
        self._names = names  # exact normalized name/alias -> canonical ID (ours and overrides')
        self._genai_models = genai_models  # genai-prices ModelInfo list, for its match rules
        self.policy = policy
        self.sources = sources
        self._resolved: dict[str, str | None] = {}
        self._effective: dict[tuple[str, int, bool, bool, bool, bool, bool], _Effective] = {}
        self.refusal_rules = refusal_rules if refusal_rules is not None else RefusalRules(())
        self._quotes: dict[tuple[Any, ...], tuple[int, _Effective | None, str | None]] = {}

    # -- names -------------------------------------------------------------------------------------------

    def resolve_model(self, model: str) -> str | None:
        """Canonical ID for any spelling (dated, alias, Bedrock, Vertex), or None for an unknown model."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        canonical = self._resolve(model) if isinstance(model, str) else None
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.clear()
        self._resolved[model] = canonical
        return canonical

    def _resolve(self, model: str) -> str | None:
        name = normalize(model)
        if not name:
            return None
        if name in self._names:
            return self._names[name]
        for info in self._genai_models:
            if info.is_match(name):
                return info.id if info.id in self._entries else None
        undated = without_date(name)
        if undated != name:
            return self._names.get(undated) or (undated if undated in self._entries else None)
        return None

    def known_names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._names))

    def close_matches(self, model: str, n: int = 5) -> list[str]:
        name = normalize(model) if isinstance(model, str) else ""
        return difflib.get_close_matches(name, self.known_names(), n=n, cutoff=0.5)

    # -- pricing -----------------------------------------------------------------------------------------

    def cost_of(
        self,
        model: str,
        usage: Any,
        *,
        batch: bool = False,
        service_tier: str | None = None,
        inference_geo: str | None = None,
        at: dt.datetime | dt.date | None = None,
    ) -> Decimal | None:
        """USD cost of one call (exact Decimal), or None when it cannot be priced (unknown model, a mode with
        no price). Never 0 for something unknown. `usage` is the SDK's Usage or its dict; `service_tier` and
        `inference_geo` default to what the usage reports; `at` picks dated prices (default: now)."""
        canonical = self.resolve_model(model)
        if canonical is None:
            return None
        counts = token_counts(usage)
        effective = self._mode(canonical, counts, batch, service_tier, inference_geo, None, _day(at))
        if effective.rates is None:
            return None
        return self._total(counts, effective)

    def quote(self, model: str, counts: TokenCounts, regional: bool = False) -> Quote | None:
        """`cost_of(model, counts)` today as `str()` and `float()` of that Decimal, with the source of the model's
        prices and, when the call has cache tokens, its `cache_usd` at the same rates (else None); None when it
        has no price.

        For a call span as it ends, on the application's thread: what a spelling of a model in one mode resolves
        to (canonical model, rates, source) is kept for the day, so a repeat is one lookup, six products and the
        digits of the sum (no Decimal is built), and three more products for a call with cache tokens.
        """
        day = int(time.time() // 86400)
        key = (model, counts.service_tier, counts.inference_geo, counts.speed, regional)
        hit = self._quotes.get(key)
        if hit is None or hit[0] != day:
            canonical = self.resolve_model(model)
            if canonical is None:
                hit = (day, None, None)
            else:
                mode = self._mode(canonical, counts, False, None, None, None, day, regional)
                hit = (day, mode if mode.rates is not None else None, self._entries[canonical].source)
            if len(self._quotes) >= _CACHE_LIMIT:
                self._quotes.clear()
            self._quotes[key] = hit
        _, rated, source = hit
        if rated is None or source is None:
            return None
        text, value = _usd(self._total_int(counts, rated), rated.exponent - 6)
        if counts.cache_read or counts.cache_write_5m or counts.cache_write_1h:
            return text, value, source, _cache_usd(counts, rated)
        return text, value, source, None

    def cache_usd(
        self,
        model: str,
        usage: Any,
        *,
        batch: bool = False,
        service_tier: str | None = None,
        inference_geo: str | None = None,
        at: dt.datetime | dt.date | None = None,
    ) -> tuple[float, float] | None:
        """What one call's cache reads saved against the input price and what its cache writes cost beyond it, USD
        at the rates `cost_of` prices it with (its mode and long-context tier); None when it has no cache tokens or
        no price. `quote` gives the same with the cost.

        >>> load_prices().cache_usd("claude-sonnet-4-5", {"input_tokens": 0, "output_tokens": 0,
        ...     "cache_read_input_tokens": 10_000, "cache_creation_input_tokens": 1_000})  # $3 input, $0.30, $3.75
        (0.027, 0.00075)
        """
        canonical = self.resolve_model(model)
        if canonical is None:
            return None
        counts = token_counts(usage)
        effective = self._mode(canonical, counts, batch, service_tier, inference_geo, None, _day(at))
        return None if effective.rates is None else _cache_usd(counts, effective)

    def breakdown(
        self,
        model: str,
        usage: Any,
        *,
        batch: bool = False,
        service_tier: str | None = None,
        inference_geo: str | None = None,
        speed: str | None = None,
        at: dt.datetime | dt.date | None = None,
    ) -> CostBreakdown | None:
        """The cost with its workings (for `tracer prices MODEL ...` and tests); None for an unknown model.
        In a mode that has no price (priority tier without contract prices, fast mode where there is no fast
        price), `total` is None and `notes` says why, exactly when `cost_of` returns None."""
        canonical = self.resolve_model(model)
        if canonical is None:
            return None
        counts = token_counts(usage)
        effective = self._mode(canonical, counts, batch, service_tier, inference_geo, speed, _day(at))
        if effective.rates is None:
            return CostBreakdown(
                requested=model,
                model=canonical,
                lines=(),
                total=None,
                thinking_tokens=counts.thinking,
                adjustments=effective.adjustments,
                tier=None,
                source=effective.source,
                effective_date=effective.effective_date,
                notes=(effective.why_unpriced or "no price in this mode",),
            )
        prompt = counts.prompt_tokens
        lines = []
        tier = None
        for kind in KINDS:
            quantity = getattr(counts, kind)
            price_obj = effective.rates.price(kind)
            price = price_obj.at(prompt)
            if price != price_obj.base:
                start = max(s for s, p in price_obj.tiers if prompt > s)
                tier = f"prompt {prompt:,} tokens > {start:,}"
            lines.append(CostLine(kind, quantity, price, "MTok", _line_usd(quantity, price, 6)))
        web_price = effective.web_per_1k if effective.web_per_1k is not None else Decimal(0)
        if counts.web_search or effective.web_per_1k is not None:
            lines.append(
                CostLine(
                    "web_search",
                    counts.web_search,
                    web_price,
                    "1k requests",
                    _line_usd(counts.web_search, web_price, 3),
                )
            )
        total = self._total(counts, effective)
        notes = []
        if counts.thinking:
            notes.append(f"{counts.thinking:,} of the {counts.output:,} output tokens are thinking, billed as output")
        return CostBreakdown(
            requested=model,
            model=canonical,
            lines=tuple(lines),
            total=total,
            thinking_tokens=counts.thinking,
            adjustments=effective.adjustments,
            tier=tier,
            source=effective.source,
            effective_date=effective.effective_date,
            notes=tuple(notes),
        )

    def _total(self, counts: TokenCounts, effective: _Effective) -> Decimal:
        return _exact(self._total_int(counts, effective), effective.exponent - 6)

    def _total_int(self, counts: TokenCounts, effective: _Effective) -> int:
        """The cost in units of 10**(effective.exponent - 6) USD."""
        flat = effective.flat
        if flat is not None:
            i, w5, w1, r, o, web = flat
            return (
                counts.input * i
                + counts.cache_write_5m * w5
                + counts.cache_write_1h * w1
                + counts.cache_read * r
                + counts.output * o
                + counts.web_search * web
            )
        prompt = counts.prompt_tokens
        total = 0
        for quantity, (base, tiers) in zip(
            (
                counts.input,
                counts.cache_write_5m,
                counts.cache_write_1h,
                counts.cache_read,
                counts.output,
                counts.web_search,
            ),
            effective.ints,
            strict=True,
        ):
            if quantity:
                total += quantity * _price_at(base, tiers, prompt)
        return total

    def _mode(
        self,
        canonical: str,
        counts: TokenCounts,
        batch: bool,
        service_tier: str | None,
        inference_geo: str | None,
        speed: str | None,
        day: int,
        regional: bool = False,
    ) -> _Effective:
        tier = service_tier or counts.service_tier
        is_batch = bool(batch) or tier == "batch"
        is_priority = tier == "priority"
        geo = inference_geo or counts.inference_geo
        is_us = geo is not None and geo.lower() == self.policy.us_geo
        is_fast = (speed or counts.speed) == "fast"
        key = (canonical, day, is_batch, is_priority, is_us, is_fast, regional)
        effective = self._effective.get(key)
        if effective is None:
            effective = self._compute_mode(canonical, day, is_batch, is_priority, is_us, is_fast, regional)
            if len(self._effective) >= _CACHE_LIMIT:
                self._effective.clear()
            self._effective[key] = effective
        return effective

    def _compute_mode(
        self, canonical: str, day_number: int, is_batch: bool, is_priority: bool, is_us: bool, is_fast: bool,
        regional: bool = False,
    ) -> _Effective:  # fmt: skip
        entry = self._entries[canonical]
        day = _EPOCH + dt.timedelta(days=day_number)
        period = select(entry.periods, day)
        if period is None:
            return _Effective(None, None, (), entry.source, None, f"{canonical}: no price on {day}")  # no ints
        rates: Rates | None = period.rates
        source = entry.source
        effective_date = entry.effective_date or period.start
        adjustments: list[tuple[str, Decimal]] = []
        why = None
        if is_priority:
            if entry.priority is not None:
                rates = entry.priority
                source = entry.priority_source or source
                adjustments.append(("priority tier (contract prices)", ONE))
            elif entry.priority_multiplier is not None:
                rates = period.rates.scaled(entry.priority_multiplier)
                adjustments.append(("priority tier", entry.priority_multiplier))
            else:
                rates = None
                why = (
                    f"{canonical}: priority tier is priced by contract; set its prices in an override file "
                    '([models."...".priority] or [defaults] priority_multiplier)'
                )
        if rates is not None and is_fast:
            variant = select_variant(entry.fast_variants, day)
            if variant is not None:
                rates = variant.rates
                ratio = (
                    CTX.divide(variant.rates.output.base, period.rates.output.base) if period.rates.output.base else ONE
                )
                adjustments.append(("fast mode (genai-prices variant)", ratio))
            elif entry.fast_multiplier is not None:
                rates = rates.scaled(entry.fast_multiplier)
                adjustments.append(("fast mode", entry.fast_multiplier))
            else:
                rates = None
                why = f"{canonical}: no fast-mode price (usage.speed = 'fast')"
        if rates is not None and is_batch:
            variant = select_variant(entry.batch_variants, day) if not (is_fast or is_priority) else None
            if variant is not None:
                rates = variant.rates
                adjustments.append(("batch (genai-prices variant)", self.policy.batch_multiplier))
            else:
                rates = rates.scaled(self.policy.batch_multiplier)
                adjustments.append(("batch", self.policy.batch_multiplier))
        if rates is not None and is_us and not entry.us_exempt:
            rates = rates.scaled(self.policy.us_multiplier)
            adjustments.append(("US-only inference", self.policy.us_multiplier))
        if rates is not None and regional and canonical not in self.policy.regional_exempt:
            rates = rates.scaled(self.policy.regional_multiplier)
            adjustments.append(("regional endpoint (Bedrock/Vertex)", self.policy.regional_multiplier))
        web = period.web_search_per_1k
        # Explicit priority prices are the contract's own numbers: a general discount does not apply to them.
        contract = is_priority and entry.priority is not None
        if rates is not None and entry.discount is not None and not contract:
            rates = rates.scaled(entry.discount)
            if web is not None:
                web = CTX.multiply(web, entry.discount)
            adjustments.append((f"discount ({entry.discount_source})", entry.discount))
        ints, exponent = _as_ints(rates, web)
        flat = None
        if len(ints) == 6 and not any(tiers for _, tiers in ints):
            i, w5, w1, r, o, w = (base for base, _ in ints)
            flat = (i, w5, w1, r, o, w)
        return _Effective(rates, web, tuple(adjustments), source, effective_date, why, ints, exponent, flat)

    def list_prices(self, model: str, at: dt.datetime | dt.date | None = None) -> dict[str, Decimal] | None:
        """USD per MTok of each token kind (input, cache_write_5m, cache_write_1h, cache_read, output) at `model`'s
        standard prices on the day `at` (default today; below any long-context tier, an override file's discount
        applied), or None for a model without a price. For what-ifs: a call's own cost comes from `cost_of`.

        >>> load_prices().list_prices("claude-sonnet-4-5")["cache_read"]
        Decimal('0.3')
        """
        canonical = self.resolve_model(model)
        if canonical is None:
            return None
        rates = self._mode(canonical, TokenCounts(), False, "standard", None, None, _day(at)).rates
        return None if rates is None else {kind: rates.price(kind).base for kind in KINDS}

    # -- the table ---------------------------------------------------------------------------------------

    def rows(self, at: dt.datetime | dt.date | None = None) -> list[PriceRow]:
        """Standard prices of every model on the day `at` (default today), discounts applied."""
        day = _EPOCH + dt.timedelta(days=_day(at))
        rows = []
        for entry in sorted(self._entries.values(), key=lambda e: e.id):
            period = select(entry.periods, day)
            if period is None:
                continue
            rates = period.rates
            web = period.web_search_per_1k
            if entry.discount is not None:
                rates = rates.scaled(entry.discount)
                web = CTX.multiply(web, entry.discount) if web is not None else None
            fast = None
            variant = select_variant(entry.fast_variants, day)
            if variant is not None and period.rates.input.base:
                fast = f"{CTX.divide(variant.rates.input.base, period.rates.input.base).normalize():f}x"
            elif entry.fast_multiplier is not None:
                fast = f"{entry.fast_multiplier.normalize():f}x"
            rows.append(
                PriceRow(
                    model=entry.id,
                    name=entry.name,
                    rates=rates,
                    web_search_per_1k=web,
                    source=entry.source,
                    effective_date=entry.effective_date or period.start,
                    tier_starts=rates.tier_starts,
                    fast=fast,
                    discount=entry.discount,
                    deprecated=entry.deprecated,
                )
            )
        return rows

    def entry(self, canonical: str) -> ModelEntry:
        return self._entries[canonical]


# -- building tables -----------------------------------------------------------------------------------------


def _genai_source() -> str:
    try:
        from genai_prices import __version__
    except Exception:  # pragma: no cover - metadata missing in an odd install
        __version__ = "?"
    return f"genai-prices {__version__}"


def _policy(extra: PriceFile) -> Policy:
    def section(name: str) -> dict[str, Any]:
        return extra.policy.get(name, {})

    def number(section_name: str, key: str) -> Decimal:
        value = section(section_name).get(key)
        if value is None:
            raise PriceFileError(extra.path, f"[{section_name}] {key}", "missing")
        return Decimal(str(value))

    fast = section("fast").get("multipliers", {})
    regional = section("regional")
    return Policy(
        batch_multiplier=number("batch", "token_multiplier"),
        us_geo=str(section("us_only").get("geo", "us")).lower(),
        us_multiplier=number("us_only", "token_multiplier"),
        us_exempt=frozenset(section("us_only").get("exempt", [])),
        fast_multipliers={str(k): Decimal(str(v)) for k, v in fast.items()},
        web_per_1k=number("web_search", "per_1k_requests"),
        cache_multipliers={
            "cache_write_5m": number("cache_multipliers", "write_5m"),
            "cache_write_1h": number("cache_multipliers", "write_1h"),
            "cache_read": number("cache_multipliers", "read"),
        },
        regional_multiplier=Decimal(str(regional.get("token_multiplier", "1"))),
        regional_exempt=frozenset(regional.get("exempt", [])),
    )


_DATA_MODULE = "genai_prices.data"
# genai_prices/data.py is generated and formatted: one `Provider(...)` per provider in a list, each opening and
# closing at four spaces of indent, its `id=` the first argument.
_ANTHROPIC_OPEN = b"\n    Provider(\n        id='anthropic',\n"
_PROVIDER_CLOSE = b"\n    ),\n"
_DATA_LIST = b"\nproviders: list[Provider] = ["


def _bundled_anthropic() -> Any:
    """genai-prices' Anthropic `Provider`, exactly as `genai_prices.data.providers` holds it.

    The bundled snapshot module itself: never `genai_prices.data_snapshot.get_snapshot()`, which returns whatever
    an UpdatePrices instance (ours never starts one) may have downloaded into the process. Importing that module
    builds every provider's models (time and memory at start-up: docs/footprint.md), of which we price only
    Anthropic's: so the module's own source is read, and only its header (the imports) and the Anthropic entry are
    run. Where the file does not have the expected layout (a future genai-prices), the module is imported.
    tests/cost/test_offline.py checks that both ways give equal objects.
    """
    module = sys.modules.get(_DATA_MODULE)
    if module is None:
        provider = _anthropic_from_source()
        if provider is not None:
            return provider
        module = importlib.import_module(_DATA_MODULE)
    return next(p for p in module.providers if p.id == "anthropic")


def _anthropic_from_source() -> Any | None:
    """The Anthropic entry of genai_prices/data.py, evaluated on its own; None when the layout is not the expected
    one or anything about it fails (the caller then imports the module)."""
    try:
        spec = importlib.util.find_spec(_DATA_MODULE)
        if spec is None or spec.origin is None or spec.loader is None:
            return None
        source: bytes = spec.loader.get_data(spec.origin)  # type: ignore[attr-defined]
        list_at = source.find(_DATA_LIST)
        start = source.find(_ANTHROPIC_OPEN, list_at)
        end = source.find(_PROVIDER_CLOSE, start)
        if list_at < 0 or start < 0 or end < 0:
            return None
        namespace: dict[str, Any] = {"__name__": _DATA_MODULE, "__package__": "genai_prices"}
        exec(compile(source[:list_at], spec.origin, "exec"), namespace)
        line = source.count(b"\n", 0, start + 1)  # so that a traceback points into the real file
        entry = b"\n" * line + source[start + 1 : end + len(b"\n    )")].strip()
        provider = eval(compile(entry, spec.origin, "eval"), namespace)
        return provider if type(provider).__name__ == "Provider" and provider.id == "anthropic" else None
    except Exception:
        return None


@functools.cache
def _base_parts() -> tuple[dict[str, ModelEntry], dict[str, str], list[Any], Policy, tuple[str, ...], RefusalRules]:
    extra_path = resources.files("tracer.cost").joinpath("extra.toml")
    with resources.as_file(extra_path) as path:
        extra = read_price_file(path, label="extra.toml", allow_policy=True)
    policy = _policy(extra)
    anthropic = _bundled_anthropic()
    source = _genai_source()
    entries: dict[str, ModelEntry] = {}
    for info in anthropic.models:
        entry = entry_from_genai(info, source, policy.cache_multipliers, policy.web_per_1k)
        if entry is None:
            continue
        entries[entry.id] = replace(
            entry,
            fast_multiplier=policy.fast_multipliers.get(entry.id),
            us_exempt=entry.id in policy.us_exempt,
        )
    names: dict[str, str] = {}
    builder = _Builder(entries, names, list(anthropic.models), policy)
    builder.apply(extra)
    rules = RefusalRules.from_policy(extra.policy.get("refusals", {}))
    return entries, names, list(anthropic.models), policy, (source, extra.label), rules


class _Builder:
    """Applies price files (ours, then a user's) onto a copy of the entries."""

    def __init__(
        self, entries: dict[str, ModelEntry], names: dict[str, str], genai_models: list[Any], policy: Policy,
        rules: RefusalRules | None = None,
    ):  # fmt: skip
        self.rules = rules
        self.entries = entries
        self.names = names
        self.policy = policy
        self.genai_models = genai_models

    def table(self, sources: tuple[str, ...]) -> PriceTable:
        return PriceTable(self.entries, self.names, self.genai_models, self.policy, sources, self.rules)

    def resolve(self, name: str) -> str | None:
        return PriceTable(self.entries, self.names, self.genai_models, self.policy, ()).resolve_model(name)

    def apply(self, file: PriceFile) -> None:
        for spec in file.models:
            self._apply_model(file, spec)
        if file.discount_percent is not None:
            factor = _discount_factor(file.discount_percent)
            for model_id, entry in self.entries.items():
                if entry.discount is None:  # a per-model discount wins over the global one
                    self.entries[model_id] = replace(
                        entry, discount=factor, discount_source=f"{_pct(file.discount_percent)} off, {file.label}"
                    )
        if file.priority_multiplier is not None:
            for model_id, entry in self.entries.items():
                if entry.priority is None and entry.priority_multiplier is None:
                    self.entries[model_id] = replace(
                        entry, priority_multiplier=file.priority_multiplier, priority_source=file.label
                    )

    def _apply_model(self, file: PriceFile, spec: ModelSpec) -> None:
        entry_name = f'[models."{spec.key}"]'
        existing = self.resolve(spec.key)
        if spec.same_as is not None:
            target = self.resolve(spec.same_as)
            if target is None:
                raise PriceFileError(file.path, f"{entry_name} same_as", f"unknown model {spec.same_as!r}")
            base = self.entries[target]
            canonical = existing or normalize(spec.key)
            entry = replace(base, id=canonical, name=spec.name or base.name, source=f"{file.label} (= {target})")
            self.names[normalize(spec.key)] = canonical
        elif existing is not None:
            entry = self.entries[existing]
            canonical = existing
        else:
            if not {"input", "output"} <= set(spec.prices.prices):
                raise PriceFileError(
                    file.path,
                    entry_name,
                    "not a known model: give at least `input` and `output` per-MTok prices to add it (or `same_as`)",
                )
            canonical = normalize(spec.key)
            entry = ModelEntry(id=canonical, name=spec.name, source=file.label, periods=())
            self.names[canonical] = canonical
        entry = self._with_prices(file, spec, entry)
        if spec.name:
            entry = replace(entry, name=spec.name)
        if spec.discount_percent is not None:
            entry = replace(
                entry,
                discount=_discount_factor(spec.discount_percent),
                discount_source=f"{_pct(spec.discount_percent)} off, {file.label}",
            )
        if spec.fast_multiplier is not None:
            entry = replace(entry, fast_multiplier=spec.fast_multiplier, fast_variants=())
        if spec.priority is not None:
            if spec.priority.multiplier is not None:
                entry = replace(
                    entry, priority=None, priority_multiplier=spec.priority.multiplier, priority_source=file.label
                )
            else:
                standard = entry.periods[-1].rates
                priority = rates_from_mapping(
                    {k: Price(v) for k, v in spec.priority.prices.items()}, self.policy.cache_multipliers, None
                )
                entry = replace(entry, priority=priority or standard, priority_source=file.label)
        if spec.effective_date is not None:
            entry = replace(entry, effective_date=spec.effective_date)
        for alias in spec.aliases:
            self.names[normalize(alias)] = canonical
        self.entries[canonical] = entry

    def _with_prices(self, file: PriceFile, spec: ModelSpec, entry: ModelEntry) -> ModelEntry:
        given = spec.prices.prices
        if not given and spec.long_context is None and spec.web_search_per_1k is None:
            return entry
        tiered: dict[str, Price] = {}
        kinds = set(given) | (set(spec.long_context.prices) if spec.long_context else set())
        for kind in kinds:
            if kind in given:
                base = given[kind]
            elif entry.periods:
                base = entry.periods[-1].rates.price(kind).base
            else:
                base = None
            if base is None:
                continue
            tiers: tuple[tuple[int, Decimal], ...] = ()
            if spec.long_context is not None and kind in spec.long_context.prices:
                assert spec.long_context.above is not None
                tiers = ((spec.long_context.above, spec.long_context.prices[kind]),)
            tiered[kind] = Price(base, tiers)
        if entry.periods:
            periods = tuple(
                Period(
                    p.start,
                    p.rates.with_prices(tiered),
                    spec.web_search_per_1k if spec.web_search_per_1k is not None else p.web_search_per_1k,
                )
                for p in entry.periods
            )
        else:
            rates = rates_from_mapping(dict(tiered), self.policy.cache_multipliers, None)
            if rates is None:  # checked by the caller; kept as a guard
                raise PriceFileError(file.path, f'[models."{spec.key}"]', "needs `input` and `output`")
            web = spec.web_search_per_1k if spec.web_search_per_1k is not None else self.policy.web_per_1k
            periods = (Period(None, rates, web),)
        # genai-prices' batch/fast variants describe the bundled prices; after a price change batch is
        # the multiplier, and fast mode needs `fast_multiplier`.
        changed_tokens = bool(kinds)
        return replace(
            entry,
            periods=periods,
            batch_variants=() if changed_tokens else entry.batch_variants,
            fast_variants=() if changed_tokens else entry.fast_variants,
            source=file.label if changed_tokens else entry.source,
        )


def _discount_factor(percent: Decimal) -> Decimal:
    return CTX.divide(Decimal(100) - percent, Decimal(100))


def _pct(percent: Decimal) -> str:
    return f"{percent.normalize():f}%"


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The bundled prices (genai-prices' snapshot + claude-tracer's extra.toml), plus an override file.

    Raises PriceFileError (naming the file, the entry and the problem) for a malformed override file.

    >>> table = load_prices()                       # doctest: +SKIP
    >>> table = load_prices("negotiated.toml")      # doctest: +SKIP
    """
    entries, names, genai_models, policy, sources, rules = _base_parts()
    if path is None:
        return PriceTable(entries, names, genai_models, policy, sources, rules)
    overrides = read_price_file(path)
    builder = _Builder(dict(entries), dict(names), genai_models, policy, rules)
    builder.apply(overrides)
    return builder.table((*sources, overrides.label))
