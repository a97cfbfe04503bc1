"""What one call was billed for: its iterations, each priced at its own model's rates, refusal rules applied.

A Messages response's top-level `usage` describes the iteration that produced the returned message. Server-side
fallback (declined hops), the advisor tool (`advisor_message`) and compaction add iterations that are billed but are
not in those counts; `usage.iterations` lists them all, each with its own model. The SDK's client-side fallback
middleware sends one HTTP request per hop, so a declined hop's usage is only in its own response. Here both become
`Iteration`s and `price_iterations` sums them. Pure: plain data in, plain data out.

>>> from tracer.cost import load_prices
>>> from tracer.cost._usage import TokenCounts
>>> hops = [Iteration("message", "claude-fable-5", TokenCounts(input=1000), refusal="cyber"),
...         Iteration("fallback_message", "claude-opus-4-8", TokenCounts(input=1000, output=100))]
>>> bill = price_iterations(load_prices(), hops, refusal_rules=RefusalRules.default())
>>> [(line.model, line.billed, line.why) for line in bill.lines]
[('claude-fable-5', False, 'refused before output (cyber): not billed'), ('claude-opus-4-8', True, '')]
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tracer.cost._usage import TokenCounts

if TYPE_CHECKING:
    from tracer.cost._table import PriceTable

# How many iterations the span's breakdown lists one by one; the rest are summed into one line (spans have a
# limit on attribute size and count, and a tool loop can run for hundreds of iterations).
MAX_LINES = 16


@dataclass(frozen=True, slots=True)
class Iteration:
    """One billed (or declined) piece of a call. `refusal` is the category ("null" when none was named) when this
    iteration was a refusal, else None. `model` None: the call's model."""

    kind: str  # message, fallback_message, advisor_message, compaction, hop (a client-side fallback's request)
    model: str | None
    counts: TokenCounts
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    model: str
    counts: TokenCounts
    usd: Decimal | None  # None: unpriced (the model or its mode has no price)
    billed: bool
    why: str  # empty, or why it is not billed / not priced
    refusal: str | None = None  # the category when this iteration was a refusal


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[Line, ...]
    total: Decimal | None  # None when a billed line has no price: the call is unpriced, never under-counted
    source: str | None
    # The billed lines' cache reads' saving and cache writes' premium (`PriceTable.cache_usd`), summed; None when
    # no billed line had cache tokens, or the call is unpriced.
    cache_usd: tuple[float, float] | None = None

    def breakdown_json(self) -> str:
        """The span's breakdown: one compact JSON list, the first `MAX_LINES` lines then one line for the rest."""
        rows = [_row(line) for line in self.lines[:MAX_LINES]]
        rest = self.lines[MAX_LINES:]
        if rest:
            usd = [line.usd for line in rest if line.billed]
            known = [u for u in usd if u is not None]
            rows.append(
                {
                    "kind": "more",
                    "model": "",
                    "n": len(rest),
                    "usd": None if len(known) < len(usd) else str(sum(known, Decimal(0))),
                }
            )
        return json.dumps(rows, separators=(",", ":"))


def _row(line: Line) -> dict[str, Any]:
    c = line.counts
    row: dict[str, Any] = {
        "kind": line.kind,
        "model": line.model,
        "in": c.input,
        "cw5m": c.cache_write_5m,
        "cw1h": c.cache_write_1h,
        "cr": c.cache_read,
        "out": c.output,
        "usd": None if line.usd is None else str(line.usd),
        "billed": line.billed,
    }
    if line.why:
        row["why"] = line.why
    if line.refusal is not None:
        row["refusal"] = line.refusal
    return row


@dataclass(frozen=True)
class RefusalRules:
    """Which refusals before any output are billed, by date: a list of (first day, billed categories or None for
    "all"), oldest first. Read from extra.toml's `[refusals]` (see docs/cost.md for the sources)."""

    periods: tuple[tuple[dt.date, frozenset[str] | None], ...]

    @classmethod
    def default(cls) -> RefusalRules:
        from tracer.cost import default_table

        return default_table().refusal_rules

    @classmethod
    def from_policy(cls, section: Mapping[str, Any]) -> RefusalRules:
        periods = []
        for entry in section.get("periods", []):
            since = entry["since"]
            day = since if isinstance(since, dt.date) else dt.date.fromisoformat(str(since))
            cats = entry.get("billed_categories")
            periods.append((day, None if cats == "all" else frozenset(str(c) for c in cats)))
        return cls(tuple(sorted(periods)))

    def billed(self, category: str | None, day: dt.date) -> bool:
        """Whether a refusal before any output, of `category` ("null" or None: no named category), is billed."""
        rule: frozenset[str] | None = None  # before the first period every refusal was billed
        for since, categories in self.periods:
            if day >= since:
                rule = categories
        return rule is None or (category or "null") in rule


def price_iterations(
    prices: PriceTable,
    iterations: Sequence[Iteration],
    *,
    default_model: str | None = None,
    refusal_rules: RefusalRules,
    regional: bool = False,
    day: dt.date | None = None,
) -> Bill:
    """Each iteration at its own model's rates; a refusal before any output (0 output tokens) of a category that is
    not billed costs nothing. The total is None when a billed iteration cannot be priced."""
    day = day or dt.datetime.now(dt.UTC).date()
    lines: list[Line] = []
    total = Decimal(0)
    priced = True
    source: str | None = None
    read_saved = write_premium = 0.0
    cached = False
    for it in iterations:
        model = it.model or default_model or ""
        if it.refusal is not None and it.counts.output == 0 and not refusal_rules.billed(it.refusal, day):
            lines.append(
                Line(
                    it.kind, model, it.counts, Decimal(0), False, f"refused before output ({it.refusal}): not billed",
                    it.refusal,
                )
            )
            continue
        quote = prices.quote(model, it.counts, regional=regional) if model else None
        if quote is None:
            priced = False
            lines.append(Line(it.kind, model, it.counts, None, True, "no price for this model or mode", it.refusal))
            continue
        usd = Decimal(quote[0])
        source = source or quote[2]
        if quote[3] is not None:
            cached = True
            read_saved += quote[3][0]
            write_premium += quote[3][1]
        total += usd
        why = f"refused ({it.refusal}): billed" if it.refusal is not None else ""
        lines.append(Line(it.kind, model, it.counts, usd, True, why, it.refusal))
    cache = (read_saved, write_premium) if cached and priced else None
    return Bill(tuple(lines), total if priced else None, source, cache)


def _count(entry: Mapping[str, Any], name: str) -> int:
    value = entry.get(name)
    return value if type(value) is int and value >= 0 else 0


def counts_of(
    entry: Mapping[str, Any], service_tier: str | None = None, geo: str | None = None, speed: str | None = None
) -> TokenCounts:
    """TokenCounts of one `usage.iterations` entry (or a usage mapping), the call's mode carried over."""
    creation = entry.get("cache_creation")
    total_write = _count(entry, "cache_creation_input_tokens")
    w1h = _count(creation, "ephemeral_1h_input_tokens") if isinstance(creation, Mapping) else 0
    w5m = max(total_write - w1h, 0)
    return TokenCounts(
        _count(entry, "input_tokens"),
        w5m,
        w1h,
        _count(entry, "cache_read_input_tokens"),
        _count(entry, "output_tokens"),
        0,
        0,
        service_tier,
        geo,
        speed,
    )


def iterations_from(
    usage_iterations: Iterable[Mapping[str, Any]], fallback_blocks: Iterable[tuple[str, str | None]] = ()
) -> list[dict[str, Any]]:
    """The compact form the span keeps (`tracer.usage.iterations`): one dict per entry with its kind, model,
    tokens, and the refusal category of a declined hop, matched from the `fallback` content blocks ((from model,
    category) in order) to the `message` entries of those models.

    >>> iterations_from([{"type": "message", "model": "claude-fable-5", "input_tokens": 5, "output_tokens": 0},
    ...                  {"type": "fallback_message", "model": "claude-opus-4-8", "input_tokens": 5,
    ...                   "output_tokens": 9}], [("claude-fable-5", "bio")])[0]["refusal"]
    'bio'
    """
    out: list[dict[str, Any]] = []
    for entry in usage_iterations:
        row = {
            k: entry.get(k)
            for k in (
                "type",
                "model",
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
            )
        }
        creation = entry.get("cache_creation")
        if isinstance(creation, Mapping):
            row["cache_creation"] = {"ephemeral_1h_input_tokens": creation.get("ephemeral_1h_input_tokens")}
        out.append(row)
    for from_model, category in fallback_blocks:
        for row in out:
            if row["type"] == "message" and "refusal" not in row and row.get("model") in (from_model, None):
                row["refusal"] = category or "null"
                break
    return out


def iterations_of(rows: Sequence[Mapping[str, Any]], counts: TokenCounts) -> list[Iteration]:
    """`Iteration`s from the span's compact rows; the call's mode (tier, geography, speed) applies to each."""
    return [
        Iteration(
            str(row.get("type") or "message"),
            row.get("model") if isinstance(row.get("model"), str) else None,
            counts_of(row, counts.service_tier, counts.inference_geo, counts.speed),
            row.get("refusal") if isinstance(row.get("refusal"), str) else None,
        )
        for row in rows
        if isinstance(row, Mapping)
    ]
